"""``salbench datasets [NAME ...]``: the benchmark datasets as found under
the data root (:func:`salbench.data.datasets.survey`): count, layout, path,
partial folders and problems, or how to get a missing one."""

from __future__ import annotations

import argparse
import json
import os

from salbench.data.datasets import all_names, canonical_name, root_folder, survey
from salbench.errors import SalbenchError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``salbench datasets``."""
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="only these datasets (any usual spelling: pascal, duts-te, hkuis ...)")
    p.add_argument("--data-root", help="folder holding the datasets (default: $SALBENCH_DATA or datasets/)")
    p.add_argument("--json", action="store_true", help="print JSON")


def main(args: argparse.Namespace) -> int:
    """Print the survey (``--json``: as JSON)."""
    root = root_folder(args.data_root)
    if (args.data_root or os.environ.get("SALBENCH_DATA")) and not root.is_dir():
        given = "--data-root" if args.data_root else "$SALBENCH_DATA"
        what = "is not a folder" if root.exists() else "does not exist"
        raise SalbenchError(f"data root {root} ({given}) {what}")
    names = [n for arg in (getattr(args, "names", None) or []) for n in arg.split(",") if n.strip()]
    known = {n.lower() for n in all_names()}
    unknown = [n for n in names if canonical_name(n).lower() not in known]
    if unknown:
        raise SalbenchError(f"unknown dataset {unknown[0]!r}: not a registered name "
                            f"({', '.join(all_names())})")
    rows = survey(root, names or None)
    if args.json:
        print(json.dumps({"data_root": str(root), "datasets": rows}, indent=1))
        return 0
    print(f"data root: {root}")
    for r in rows:
        if r["status"] in ("missing", "not generated"):
            state = "MISSING" if r["status"] == "missing" else "NOT GENERATED"
            print(f"  {r['name']:<10} {r['role']:<6} {state} (expected {r['expected']}): {r['how_to_get']}")
        else:
            counted = f"{r['count']}/{r['expected']}"
            state = "partial" if r.get("partial") else r["status"]
            print(f"  {r['name']:<10} {r['role']:<6} {counted:>12} {state:<10} "
                  f"{r['layout'] if 'layout' in r else ''}  {r['path']}")
            if r.get("partial"):
                print(f"      partial: {r['count']} of the {r['expected']} images; scored, "
                      f"and marked {counted} in reports")
            for prob in r.get("problems", []):
                print(f"      problem: {prob}")
    return 0
