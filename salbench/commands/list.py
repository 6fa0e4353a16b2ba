"""``salbench list methods|protocols|datasets|metrics [--json]``.

``metrics`` prints the metric table (:mod:`salbench.metrics.table`): each
result key with its family, one-line definition, reference, direction and the
protocols that define it (``--family`` narrows it to one family).

``methods`` imports every registered plugin (:func:`salbench.plugins.registry.load_all`;
a plugin that fails to import is a warning on stderr, not a crash) and shows
each method's kind, paper, its option schema (name, type, default, help;
``--json``), and - for learned methods, computed from the architecture
without weights - its parameter count (classifier layers excluded) and GMACs
for one image of the method's declared input size (300×300 for networks that
run at full resolution), and the numeric precision it runs / trains in
(:mod:`salbench.plugins.catalog`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from salbench.plugins.catalog import method_rows



def protocol_rows() -> list[dict[str, Any]]:
    """One row per protocol (name, default, description, reference, details)."""
    from salbench.metrics.protocols import DEFAULT_PROTOCOL, PROTOCOLS
    rows = []
    for name, p in PROTOCOLS.items():
        d = p.to_dict() if hasattr(p, "to_dict") else {}
        rows.append({"name": name, "default": name == DEFAULT_PROTOCOL,
                     "description": getattr(p, "description", ""),
                     "reference": getattr(p, "reference", ""), "details": d})
    return rows


def metric_rows(family: str | None = None) -> list[dict[str, Any]]:
    """One row per metric key of the metric table (classic set and every
    metric family), or of one ``family`` (``classic`` or a family name)."""
    from salbench.metrics import table
    families = table.available_families()
    rows = []
    for s in table.specs(families):
        if family and s.family != family:
            continue
        rows.append({"key": s.key, "family": s.family, "definition": s.definition,
                     "reference": s.reference,
                     "better": "higher" if s.higher_is_better else "lower",
                     "per_image": s.per_image, "curve": s.curve, "protocols": list(s.protocols),
                     "header": s.header_md, "latex": s.header_tex})
    return rows


def dataset_rows() -> list[dict[str, Any]]:
    """One row per registered dataset and demo split."""
    from salbench.data.datasets import DATASETS, DEMO_SETS
    from salbench.data.demo import COUNTS
    rows = [{"name": d.name, "count": d.count, "role": d.role, "source": d.source,
             "layout": d.layout, "aliases": list(d.aliases)} for d in DATASETS.values()]
    rows += [{"name": k, "count": COUNTS[split], "role": split,
              "source": "embedded, generated on first use (salbench demo)",
              "layout": "images/*.jpg + gt/*.png", "aliases": []} for k, split in DEMO_SETS.items()]
    return rows


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``salbench list``."""
    p.add_argument("what", nargs="?", default="methods", choices=("methods", "protocols", "datasets", "metrics"))
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")
    p.add_argument("--plugin", action="append", metavar="FILE_OR_MODULE",
                   help="also load this plugin (repeatable)")
    p.add_argument("--family", help="list metrics: only this family (classic, fmv2, si, msiou, hce, "
                   "context, boundary)")
    p.add_argument("--no-cost", action="store_true",
                   help="skip parameter / GMAC counting (faster)")


def main(args: argparse.Namespace) -> int:
    """Print the rows as a table, or as JSON with ``--json``."""
    from salbench.plugins import registry
    for p in args.plugin or []:
        registry.load_plugin(p)
    if args.what == "methods":
        rows = method_rows(with_cost=not args.no_cost)
    elif args.what == "protocols":
        rows = protocol_rows()
    elif args.what == "metrics":
        rows = metric_rows(args.family)
    else:
        rows = dataset_rows()
    if args.json:
        print(json.dumps(rows, indent=1, default=str))
        return 0
    from tabulate import tabulate
    if args.what == "methods":
        table = [[r["name"], r["kind"], f"{r['params'] / 1e6:.2f}M" if r["params"] else "-",
                  f"{r['gmacs']:.2f}" if r["gmacs"] else "-",
                  "{}x{}".format(*r["gmacs_size"]) if r["gmacs"] else "",
                  r["paper"] + (" [CRF]" if r["default_crf"] else ""),
                  ", ".join(o["name"] for o in r["options"]) or "-"] for r in rows]
        print(tabulate(table, headers=["method", "kind", "params", "GMACs", "at", "paper",
                                       "options (list methods --json for types)"],
                       tablefmt="plain", disable_numparse=True))
    elif args.what == "metrics":
        print(tabulate([[r["key"], r["family"], r["better"], ",".join(r["protocols"]),
                         r["definition"], r["reference"]] for r in rows],
                       headers=["key", "family", "better", "protocols", "definition", "reference"],
                       tablefmt="plain"))
    elif args.what == "protocols":
        print(tabulate([[r["name"] + (" (default)" if r["default"] else ""), r["description"]]
                        for r in rows], tablefmt="plain"))
    else:
        print(tabulate([[r["name"], r["count"], r["role"], r["source"]] for r in rows],
                       tablefmt="plain", colalign=("left", "right", "left", "left")))
    return 0
