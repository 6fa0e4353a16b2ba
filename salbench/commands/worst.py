"""``salbench worst --method M --dataset D``: the images where a method does
worst on a per-image metric, as a contact sheet (image | GT | map, with the
score) in PNG and the list as CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from salbench.errors import SalbenchError
from salbench.report.escape import file_safe
from salbench.report.worst import worst


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``salbench worst``."""
    p.add_argument("--method", required=True, help="method label")
    p.add_argument("--dataset", required=True, help="dataset")
    p.add_argument("-n", type=int, default=20, help="how many images (default 20)")
    p.add_argument("--metric", default="mae",
                   help="per-image metric: mae, maxF, meanF, adpF, S, maxE, meanE, adpE, wF (default mae)")
    p.add_argument("--protocol", default=None, help="protocol (default pysodmetrics)")
    p.add_argument("--results", default="results", help="results root (default ./results)")
    p.add_argument("--data-root", help="dataset root when no run recorded the dataset's folder")
    p.add_argument("--out-dir", default=".", help="where the PNG and CSV go (default .)")


def main(args: argparse.Namespace) -> int:
    """Write the contact sheet and the CSV of the worst images."""
    from salbench.data.datasets import canonical_name
    from salbench.metrics.protocols import DEFAULT_PROTOCOL, get_protocol
    from salbench.report import analysis
    from salbench.report.layout import METRICS, metric_list
    from salbench.store.frames import results_frame, store_path
    from salbench.store.results import ResultsStore
    protocol = get_protocol(args.protocol or DEFAULT_PROTOCOL).name
    metric = METRICS[metric_list(args.metric)[0]][0]
    pi = results_frame(args.results, methods=[args.method], datasets=[args.dataset], protocol=protocol,
                 per_image=True)
    if pi.empty:
        raise SalbenchError(f"no per-image scores of {args.method} on {args.dataset} under {protocol}")
    rows = worst(pi, metric, args.n)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ds = canonical_name(args.dataset)
    stem = out / f"worst-{file_safe(args.method)}-{file_safe(ds)}-{metric}"
    rows[["method", "dataset", "protocol", "image", metric]].to_csv(stem.with_suffix(".csv"), index=False)
    with ResultsStore(store_path(args.results), read_only=True) as store:
        stored_ds = rows["dataset"].iloc[0]
        pairs = analysis.dataset_image_pairs(store, stored_ds, args.data_root)
        sheet = []
        for r in rows.to_dict("records"):
            img, gt = pairs.get(r["image"], (None, None))
            sheet.append({"cells": [img, gt, analysis.map_path(store, Path(args.results), args.method,
                                                                stored_ds, r["image"])],
                          "labels": [r["image"], "GT", f"{metric} {r[metric]:.3f}"]})
    png = analysis.contact_sheet(sheet, stem.with_suffix(".png"), columns=["image", "GT", args.method],
                                 title=f"{args.method} on {ds}: worst {len(rows)} by {metric} ({protocol})")
    print(f"wrote {png} and {stem.with_suffix('.csv')}", file=sys.stderr)
    return 0
