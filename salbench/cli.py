"""``salbench`` command line: a thin dispatcher over :mod:`salbench.commands`.

Start-up is kept cheap: only the module of the chosen sub-command is imported
(``salbench eval`` never imports torch). Each sub-command module exposes
``add_arguments(parser)`` and ``main(args) -> int``; this module adds the
top-level help and version, and turns interrupts, broken pipes and
:class:`~salbench.errors.SalbenchError` into exit statuses 130, 141 and 2.
"""

from __future__ import annotations

import os as _os
import sys


def _strip_cwd_from_path() -> None:
    """``python -m salbench.cli`` / ``python -m salbench`` put the working
    directory first on ``sys.path``: a ``tqdm.py`` or ``salbench_methods/``
    there would be imported instead of the installed one. Drop ``''`` and the
    working directory (salbench itself is found through its installation)
    before anything else is imported. The ``salbench`` console script has its
    own ``bin/`` folder there instead, which is left alone."""
    try:
        cwd = _os.path.realpath(_os.getcwd())
    except OSError:  # the working directory was deleted
        cwd = None
    keep = []
    for entry in sys.path:
        if entry in ("", "."):
            continue
        try:
            if cwd is not None and _os.path.realpath(entry) == cwd:
                continue
        except (OSError, ValueError):
            pass
        keep.append(entry)
    sys.path[:] = keep


if __name__ == "__main__":  # python -m salbench.cli (not when imported)
    _strip_cwd_from_path()

import argparse  # noqa: E402
import importlib  # noqa: E402

from salbench.errors import SalbenchError

#: sub-command -> (module in salbench.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "eval": ("salbench.commands.eval", "evaluate a folder of saliency maps against a folder of ground truth"),
    "run": ("salbench.commands.run", "predict maps with a method on datasets, evaluate them and store the scores"),
    "train": ("salbench.commands.train", "train a learned method (R3Net, the '+' baselines)"),
    "report": ("salbench.commands.report", "tables (Markdown / LaTeX) and PR / F-measure curves from the results store"),
    "compare": ("salbench.commands.compare", "paired comparison of two methods: differences with intervals, "
                                             "significance, the images where they differ most"),
    "worst": ("salbench.commands.worst", "the images where a method does worst, as a contact sheet and CSV"),
    "list": ("salbench.commands.list", "list registered methods (or protocols)"),
    "datasets": ("salbench.commands.datasets", "list benchmark datasets as found under the data root"),
    "demo": ("salbench.commands.demo", "generate the embedded demo dataset"),
}

#: what an interrupt leaves behind, per command
INTERRUPTED = {
    "run": "interrupted; the maps and scores finished so far are kept and the run is marked "
           "interrupted (run the same command again to resume)",
    "train": "interrupted; run the same command again to resume from the last checkpoint",
    "eval": "interrupted; eval has no resume: run it again (the --per-image rows computed before "
            "the stop are kept in that file, which is then partial; no --json is written)",
}


def _sigterm_interrupts() -> None:
    """SIGTERM stops a command like Ctrl-C (finally blocks run, runs are
    marked interrupted)."""
    import signal

    def handler(signum, frame):
        raise KeyboardInterrupt
    try:
        signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):  # not the main thread
        pass


def _ignore_further_interrupts() -> None:
    """The command has stopped and cleaned up: a second Ctrl-C / SIGTERM
    during the exit (thread joins, interpreter shutdown) changes nothing, so it
    is ignored and the exit status stays 130."""
    import signal
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (ValueError, OSError):  # pragma: no cover - not the main thread
            pass


def _top_parser() -> argparse.ArgumentParser:
    """``salbench [--version] COMMAND``."""
    p = argparse.ArgumentParser(
        prog="salbench",
        description="Benchmark and evaluation suite for salient object detection.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    p.add_argument("command", nargs="?", choices=sorted(COMMANDS), metavar="COMMAND",
                   help="; ".join(f"{k}: {v[1]}" for k, v in COMMANDS.items()))
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``salbench`` with ``argv`` (default: the process arguments); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] == "--version":
        if argv and argv[0] == "--version":
            from salbench import __version__
            print(f"salbench {__version__}")
            return 0
        _top_parser().print_help()
        return 0 if argv else 2
    for stream in (sys.stdout, sys.stderr):  # file names with non-UTF-8 bytes never crash a print
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):  # pragma: no cover - replaced streams
            pass
    cmd, rest = argv[0], argv[1:]
    if cmd not in COMMANDS:
        _top_parser().error(f"unknown command {cmd!r}; choose from {', '.join(sorted(COMMANDS))}")
    module_name, help_line = COMMANDS[cmd]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"salbench {cmd}", description=help_line)
    module.add_arguments(parser)
    args = parser.parse_args(rest)
    _sigterm_interrupts()
    try:
        return int(module.main(args) or 0)
    except KeyboardInterrupt:
        _ignore_further_interrupts()
        print(INTERRUPTED.get(cmd, "interrupted"), file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` & co.: stop quietly
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except SalbenchError as exc:
        print(f"salbench {cmd}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
