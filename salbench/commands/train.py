"""``salbench train``: train a learned method (R3Net, the "+" baselines). The
command line becomes a :class:`~salbench.nn.train.Trainer` run; the schedule,
defaults and checkpoints are described in :mod:`salbench.nn.train`."""

from __future__ import annotations

import argparse
from typing import Any

from salbench.nn.train.schedule import DEFAULTS

#: command-line options that are trainer hyper-parameters (keys of ``DEFAULTS``)
HYPER_OPTIONS = ("iterations", "batch_size", "lr", "lr_power", "momentum", "weight_decay", "crop",
                 "resize", "rotate", "flip", "seed", "bn")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``salbench train``."""
    p.add_argument("--method", required=True, help="learned method to train, e.g. r3net, dss+")
    p.add_argument("--dataset", required=True,
                   help="training set: a registered name (MSRA10K, PASCAL-S, demo-train) or a folder")
    p.add_argument("--data-root", help="folder holding the datasets (default: salbench's data root)")
    p.add_argument("--out", help="checkpoint root (default $SALBENCH_CHECKPOINTS or ./checkpoints); "
                                 "files go to <out>/<method>/<dataset>/")
    p.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                   help="import a method plugin first (repeatable)")
    _schedule_arguments(p)
    m = p.add_argument_group("model")
    m.add_argument("--backbone", help="backbone of the method (e.g. resnext101, resnet18)")
    m.add_argument("--backbone-weights", metavar="FILE", help="ImageNet weights for the backbone")
    m.add_argument("--option", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="method option(s), typed and checked as in 'salbench run': --option a=1 b=x "
                        "(repeatable), "
                        "e.g. aspp=false, bn_init=ones (PyTorch >= 1.0 BatchNorm init instead of "
                        "the authors' U(0,1) decoder scales)")
    _execution_arguments(p)


def _schedule_arguments(p: argparse.ArgumentParser) -> None:
    """The hyper-parameter options (left at None: the method's or the trainer's default)."""
    d = DEFAULTS
    g = p.add_argument_group("schedule (defaults: R3Net's train.py, or the method's own)")
    g.add_argument("--iterations", type=int, help=f"SGD iterations (default {d['iterations']})")
    g.add_argument("--batch-size", type=int, help=f"global batch size (default {d['batch_size']})")
    g.add_argument("--lr", type=float, help=f"base learning rate, poly-decayed (default {d['lr']})")
    g.add_argument("--lr-power", type=float, help=f"poly power (default {d['lr_power']})")
    g.add_argument("--momentum", type=float, help=f"SGD momentum (default {d['momentum']})")
    g.add_argument("--weight-decay", type=float, help=f"weight decay of non-bias parameters (default {d['weight_decay']})")
    g.add_argument("--crop", type=int, help=f"random crop size (default {d['crop']})")
    g.add_argument("--resize", type=int, metavar="N",
                   help="resize every training pair to N×N before cropping (not in R3Net; default: off)")
    g.add_argument("--rotate", type=float, help=f"max rotation in degrees (default {d['rotate']})")
    g.add_argument("--no-flip", dest="flip", action="store_const", const=False, default=None,
                   help="disable horizontal flips")
    g.add_argument("--seed", type=int, help=f"seed of init, sample order and augmentation (default {d['seed']})")
    g.add_argument("--bn", choices=["train", "frozen", "sync"],
                   help="batch norm: train (batch statistics, as R3Net), frozen (running statistics; "
                        "results independent of the process count), sync (SyncBatchNorm, CUDA + torchrun)")


def _execution_arguments(p: argparse.ArgumentParser) -> None:
    """Device, precision, workers, saving, logging and resume options."""
    e = p.add_argument_group("execution")
    e.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    e.add_argument("--amp", choices=["bf16", "none"],
                   help="autocast (default bf16 + channels-last on CUDA for speed, none on CPU); "
                        "the authors trained in fp32: --amp none is the faithful path")
    e.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="channels-last memory format (default on CUDA)")
    e.add_argument("--workers", type=int,
                   help="DataLoader workers per process (default 0 on CPU; on CUDA min(8, cores / local processes))")
    e.add_argument("--threads", type=int, help="torch CPU threads")
    e.add_argument("--save-every", type=int, default=500, help="save last.pt every N iterations (default 500)")
    e.add_argument("--log-every", type=int, default=10, help="log line every N iterations (default 10)")
    e.add_argument("--stop-after", type=int, metavar="N",
                   help="save and stop after N iterations of the schedule (resume later); 0 saves the initial model")
    r = e.add_mutually_exclusive_group()
    r.add_argument("--resume", nargs="?", const="auto", default="auto", metavar="CHECKPOINT",
                   help="continue from last.pt when its configuration matches (the default), "
                        "or from the given checkpoint")
    r.add_argument("--restart", action="store_true", help="ignore an existing last.pt and start over")
    e.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    """Load the plugins, parse the method options as ``salbench run`` does,
    train, and print one summary line (rank 0)."""
    import torch

    from salbench.nn.train.loop import Trainer
    from salbench.plugins.options import parse_cli
    from salbench.plugins.registry import get_spec, load_plugin

    for plug in args.plugin:
        load_plugin(plug)
    if args.threads:
        torch.set_num_threads(int(args.threads))
    spec = get_spec(args.method)
    schema = spec.cls.options_schema()
    # the parser of 'salbench run': typed values, unknown keys / bad values
    # raise OptionError naming the valid options
    options = parse_cli(spec.name, schema, args.option)
    if args.backbone:
        options.update(parse_cli(spec.name, schema, [f"backbone={args.backbone}"]))
    hyper = {k: getattr(args, k) for k in HYPER_OPTIONS}
    trainer = Trainer(args.method, args.dataset, data_root=args.data_root, out=args.out,
                      device=args.device, amp=args.amp, channels_last=args.channels_last,
                      workers=args.workers, save_every=args.save_every, log_every=args.log_every,
                      backbone_weights=args.backbone_weights, options=options,
                      resume="restart" if args.restart else args.resume,
                      stop_after=args.stop_after, progress=args.progress, **hyper)
    summary = trainer.run()
    if trainer.dist.main:
        print(summary_line(summary))
    return 0


def summary_line(summary: dict[str, Any]) -> str:
    """The one line ``salbench train`` prints at the end of a run."""
    loss = summary["loss"]
    state = "done" if summary["done"] else "stopped"
    return (f"{summary['method']} on {summary['dataset']}: {state} at iteration "
            f"{summary['iteration']}/{summary['iterations']}"
            + (f", loss {loss:.4f}" if loss is not None else "")
            + f", {summary['wall_s']:.1f} s; checkpoint {summary['final'] or summary['last']}"
            + (f" ({summary['note']})" if summary["note"] else "")
            + f"; precision {summary['precision']}"
            + (f"; bn_init {summary['bn_init']}" if summary.get("bn_init") else ""))
