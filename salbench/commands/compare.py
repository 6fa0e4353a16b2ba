"""``salbench compare A B``: paired comparison of two methods on the images
both have (:mod:`salbench.report.compare`, :func:`salbench.report.analysis.compare`);
``--show N`` adds a contact sheet of the N images where A beats B by most."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from salbench.errors import SalbenchError
from salbench.report.compare import DEFAULT_METRICS, show, table_text


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``salbench compare``."""
    p.add_argument("a", help="method label A")
    p.add_argument("b", help="method label B")
    p.add_argument("--results", default="results", help="results root (default ./results)")
    p.add_argument("--datasets", help="datasets, comma-separated (default: all both have)")
    p.add_argument("--metrics", default=DEFAULT_METRICS, help=f"metrics (default {DEFAULT_METRICS})")
    p.add_argument("--protocol", default=None, help="protocol (default pysodmetrics)")
    p.add_argument("--test", choices=("wilcoxon", "permutation"), default="wilcoxon",
                   help="paired test (default wilcoxon)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--format", choices=("markdown", "github", "plain"), default="markdown")
    p.add_argument("--show", type=int, default=0, metavar="N",
                   help="contact sheet of the N images where A beats B by most (first metric)")
    p.add_argument("--out-dir", default=None, help="where --show writes its PNG and CSV (default .)")
    p.add_argument("--data-root", help="dataset root when no run recorded the dataset's folder")
    p.add_argument("-o", "--output", help="write the table to this file (default: stdout)")


def main(args: argparse.Namespace) -> int:
    """Compare, print or write the table, and the contact sheet with ``--show``."""
    from salbench.data.datasets import canonical_name
    from salbench.metrics.protocols import DEFAULT_PROTOCOL, get_protocol
    from salbench.report import analysis
    from salbench.report.layout import METRICS, metric_list
    from salbench.store.frames import results_frame, store_path
    from salbench.store.results import ResultsStore
    protocol = get_protocol(args.protocol or DEFAULT_PROTOCOL).name
    keys = [METRICS[m][0] for m in metric_list(args.metrics)]
    path = store_path(args.results)
    per_image = results_frame(args.results, methods=[args.a, args.b], protocol=protocol, per_image=True)
    for m in (args.a, args.b):
        if per_image.empty or m not in set(per_image["method"]):
            raise SalbenchError(f"no per-image scores of method {m!r} under protocol {protocol} in {path}")
    per_image = per_image.assign(dataset=[canonical_name(d) for d in per_image["dataset"]])
    have = [set(per_image.loc[per_image["method"] == m, "dataset"]) for m in (args.a, args.b)]
    both = [d for d in dict.fromkeys(per_image["dataset"]) if d in have[0] and d in have[1]]
    if args.datasets:
        want = [canonical_name(d.strip()) for d in args.datasets.split(",") if d.strip()]
        both = [d for d in want if d in both] or []
    if not both:
        raise SalbenchError(f"{args.a} and {args.b} share no dataset" + (f" among {args.datasets}" if args.datasets else ""))
    from salbench.report.curves import store_loader
    with ResultsStore(path, read_only=True) as store:
        loader = store_loader(store, protocol)
        df = analysis.compare(per_image, args.a, args.b, keys, protocol, n_boot=args.resamples,
                              seed=args.seed, test=args.test, datasets=both, curves=loader)
    text = table_text(df, args.a, args.b, protocol, args.test, args.resamples, args.format)
    if args.show:
        metric = next((k for k in keys if analysis.is_mean_metric(k, protocol)), "mae")
        with ResultsStore(path, read_only=True) as store:
            png, csv = show(store, Path(args.results), per_image, args.a, args.b, metric, args.show,
                            Path(args.out_dir or "."), both, args.data_root)
        print(f"wrote {png} and {csv}", file=sys.stderr)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
