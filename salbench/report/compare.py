"""``salbench compare A B``: paired comparison of two methods on the images
both have - per (dataset, metric) the mean difference A - B with its paired
bootstrap interval and a paired test (Wilcoxon signed-rank or sign-flip
permutation), Holm-corrected over every comparison made. Metrics that are not
a mean of per-image values (max F, max E; mean F under ``r3net``) get
"n/a (needs per-image curves)". ``--show N``: a contact sheet of the N images
where A beats B by most (and the list as CSV)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from salbench.errors import SalbenchError

DEFAULT_METRICS = "mae,S,meanF,wF,meanE,maxF"


def add_arguments(p: argparse.ArgumentParser) -> None:
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


def table_text(df, a: str, b: str, protocol: str, test: str, n_boot: int, fmt: str = "markdown") -> str:
    from tabulate import tabulate

    from salbench.report import analysis
    from salbench.report.tables import KEY_NAME, METRICS, md_escape
    esc = md_escape if fmt != "plain" else (lambda s: s)
    rows = []
    for r in df.to_dict("records"):
        name = METRICS[KEY_NAME[r["metric"]]][1] if r["metric"] in KEY_NAME else r["metric"]
        lower = " (lower is better)" if r["metric"] in analysis.LOWER_BETTER else ""
        if r.get("note"):
            rows.append([esc(r["dataset"]), name + lower, r["n"], "", "", "", r["note"], "", "", ""])
            continue
        rows.append([esc(r["dataset"]), name + lower, r["n"], f"{r['a']:.3f}", f"{r['b']:.3f}",
                     f"{r['diff']:+.4f}", f"[{r['lo']:+.4f}, {r['hi']:+.4f}]", f"{r['p']:.2g}",
                     f"{r['p_holm']:.2g}", esc(r["better"]) if r["better"] else "not significant"])
    head = ["dataset", "metric", "n (paired)", esc(a), esc(b), f"{esc(a)} − {esc(b)}", "95% CI",
            "p", "p (Holm)", "better"]
    table = tabulate(rows, headers=head, tablefmt={"markdown": "pipe", "github": "github",
                                                   "plain": "simple"}[fmt], disable_numparse=True)
    ntests = int(df["p"].notna().sum()) if len(df) else 0
    note = (f"Paired on the images both methods have. Difference {a} − {b} of the per-image means; "
            f"95% CI: paired percentile bootstrap over images ({n_boot} resamples). Test: "
            f"{analysis.TESTS[test]}, p-values Holm-corrected over the {ntests} comparisons; 'better' "
            f"where the corrected p < 0.05. {analysis.NEEDS_CURVES}: max F, max E (and mean F under "
            f"r3net) are aggregated from mean curves, and the store keeps no per-image curves.")
    title = f"Paired comparison: {a} vs {b}, protocol {protocol}"
    return (f"**{esc(title)}**" if fmt != "plain" else title) + "\n\n" + table + "\n\n" + note + "\n"


def show(store, results_root: Path, per_image, a: str, b: str, metric: str, n: int, out_dir: Path,
         datasets, data_root=None) -> tuple[Path, Path]:
    """Contact sheet + CSV of the n images where A beats B by most on ``metric``."""
    import pandas as pd

    from salbench.report import analysis
    lower = metric in analysis.LOWER_BETTER
    rows = []
    for ds in datasets:
        sub = per_image[per_image["dataset"] == ds]
        A = sub[sub["method"] == a].set_index("image")[metric]
        B = sub[sub["method"] == b].set_index("image")[metric]
        common = A.index.intersection(B.index)
        for img in common:
            gain = (B[img] - A[img]) if lower else (A[img] - B[img])
            if math.isfinite(gain):
                rows.append({"dataset": ds, "image": img, f"{metric}_{a}": A[img], f"{metric}_{b}": B[img],
                             "advantage_a": gain})
    if not rows:
        raise SalbenchError(f"--show: no image scored by both {a} and {b}")
    df = pd.DataFrame(rows).sort_values("advantage_a", ascending=False).head(n)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"compare-{_safe(a)}-{_safe(b)}-{metric}"
    df.to_csv(stem.with_suffix(".csv"), index=False)
    pairs_by_ds = {ds: analysis.dataset_image_pairs(store, ds, data_root) for ds in set(df["dataset"])}
    sheet = []
    for r in df.to_dict("records"):
        img, gt = pairs_by_ds[r["dataset"]].get(r["image"], (None, None))
        sheet.append({"cells": [img, gt, analysis.map_path(store, results_root, a, r["dataset"], r["image"]),
                                analysis.map_path(store, results_root, b, r["dataset"], r["image"])],
                      "labels": [f"{r['dataset']}/{r['image']}", "GT", f"{metric} {r[f'{metric}_{a}']:.3f}",
                                 f"{metric} {r[f'{metric}_{b}']:.3f}"]})
    png = analysis.contact_sheet(sheet, stem.with_suffix(".png"), columns=["image", "GT", a, b],
                                 title=f"where {a} beats {b} by most ({metric})")
    return png, stem.with_suffix(".csv")


def _safe(s: str) -> str:
    import re
    return re.sub(r"[^\w.+-]", "_", s)


def main(args: argparse.Namespace) -> int:
    from salbench.report import analysis
    from salbench.api import results, store_path
    from salbench.data.datasets import canonical_name
    from salbench.metrics.protocols import DEFAULT_PROTOCOL, get_protocol
    from salbench.report.tables import METRICS, _metric_list
    from salbench.store.results import ResultsStore
    protocol = get_protocol(args.protocol or DEFAULT_PROTOCOL).name
    keys = [METRICS[m][0] for m in _metric_list(args.metrics)]
    path = store_path(args.results)
    per_image = results(args.results, methods=[args.a, args.b], protocol=protocol, per_image=True)
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
    df = analysis.compare(per_image, args.a, args.b, keys, protocol, n_boot=args.resamples, seed=args.seed,
                          test=args.test, datasets=both)
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
