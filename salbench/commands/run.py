"""``salbench run``: predict maps with methods on datasets, evaluate them and
store the scores. The command line becomes a :class:`~salbench.run.spec.RunSpec`
that :class:`~salbench.run.runner.Runner` carries out."""

from __future__ import annotations

import argparse

from salbench.run.engine import default_workers
from salbench.run.spec import RUN_WORKERS_CAP, RunSpec


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``salbench run``."""
    p.add_argument("--method", required=True, help="method name(s), comma-separated (salbench list methods)")
    p.add_argument("--datasets", default="all",
                   help="'all' (the five test sets present), or names / folders, comma-separated")
    p.add_argument("--weights", help="checkpoint file for a learned method")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (learned methods)")
    p.add_argument("--crf", action=argparse.BooleanOptionalAction, default=None,
                   help="dense-CRF post-processing (default: the method's own default)")
    p.add_argument("--protocol", help="evaluate under this protocol only (default: all protocols)")
    p.add_argument("--data-root", help="folder holding the datasets (default $SALBENCH_DATA or datasets/)")
    p.add_argument("--results", default="results", help="results root (default ./results)")
    p.add_argument("--store", help="results database (default <results>/salbench.sqlite)")
    p.add_argument("--plugin", action="append", metavar="FILE_OR_MODULE",
                   help="load a third-party method plugin (repeatable)")
    p.add_argument("--batch-size", type=int, help="images per predict call (default: the method's)")
    p.add_argument("--workers", type=int, help=f"processes for prediction / CRF / evaluation "
                   f"(default {default_workers(RUN_WORKERS_CAP)})")
    p.add_argument("--option", action="extend", nargs="+", metavar="KEY=VALUE",
                   help="method option(s): --option a=1 b=x (repeatable)")
    p.add_argument("--maps", help="maps method: folder of precomputed maps: DIR/<dataset>/ or flat for one "
                                  "set; DIR/<method>/<dataset>/ or DIR/<dataset>/<method>/ for several "
                                  "(one label each)")
    p.add_argument("--name", help="label to store the results under (default: the method name)")
    p.add_argument("--recompute", action="store_true",
                   help="replace maps made with other settings (default: refuse, naming the differences)")
    p.add_argument("--copy-maps", action="store_true",
                   help="maps method: copy the maps into the results folder (default: evaluate them "
                        "where they are; the store records their folder and fingerprint)")
    p.add_argument("--strict", action="store_true",
                   help="a dataset with fewer pairs than registered is an error (default: a warning; "
                        "it is scored and marked partial n/N)")
    p.add_argument("--metrics", metavar="FAMILIES",
                   help="metric families beyond the classic set, comma-separated, or 'all' "
                        "(salbench list metrics); computed under the protocols that define them")
    p.add_argument("--keep-curves", action="store_true",
                   help="also store every image's 256-point curves (~7 KB per image and protocol), so "
                        "report --ci / --significance / --by and compare cover max F, max E, max IoU "
                        "and (r3net) mean F")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """The :class:`RunSpec` of a ``salbench run`` command line."""
    return RunSpec(methods=args.method, datasets=args.datasets, options=list(args.option or []),
                   weights=args.weights, device=args.device, crf=args.crf,
                   protocols=[args.protocol] if args.protocol else None, data_root=args.data_root,
                   results=args.results, store=args.store, plugins=list(args.plugin or []),
                   batch_size=args.batch_size, workers=args.workers, maps=args.maps, name=args.name,
                   recompute=args.recompute, strict=args.strict, copy_maps=args.copy_maps,
                   progress=not args.quiet, metrics=args.metrics or (), keep_curves=args.keep_curves)


def main(args: argparse.Namespace) -> int:
    """Run the spec; the exit status is 0, or 1 when a problem was recorded."""
    from salbench.run.runner import Runner
    return Runner(spec_from_args(args)).run().exit_code
