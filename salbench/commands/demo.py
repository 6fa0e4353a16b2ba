"""``salbench demo``: generate the embedded demo dataset
(:mod:`salbench.data.demo`) under the data root."""

from __future__ import annotations

import argparse

from salbench.data.datasets import root_folder
from salbench.data.demo import COUNTS, ensure, is_complete


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``salbench demo``."""
    p.add_argument("--data-root", help="where to put demo/ (default: $SALBENCH_DATA or datasets/)")
    p.add_argument("--force", action="store_true", help="regenerate even if present")


def main(args: argparse.Namespace) -> int:
    """Generate the demo data (``--force``: again) and say where it is."""
    root = root_folder(args.data_root)
    was = is_complete(root)
    folder = ensure(root, force=args.force)
    state = "already present" if was and not args.force else "generated"
    print(f"demo dataset {state} at {folder}: "
          + ", ".join(f"{split} {n} images" for split, n in COUNTS.items())
          + " (names: demo-train, demo)")
    return 0
