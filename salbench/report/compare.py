"""Paired comparison of two methods on the images both have (the library of
``salbench compare``, :mod:`salbench.commands.compare`) - per (dataset, metric) the mean difference A - B with its paired
bootstrap interval and a paired test (Wilcoxon signed-rank or sign-flip
permutation), Holm-corrected over every comparison made. Metrics that are not
a mean of per-image values (max F, max E; mean F under ``r3net``) are compared
by a paired bootstrap of the dataset-level difference from the per-image
curves ``run --keep-curves`` stores, and get "n/a (needs per-image curves)"
without them. :func:`show`: a contact sheet of the N images
where A beats B by most (and the list as CSV)."""

from __future__ import annotations

import math
from pathlib import Path

from salbench.errors import SalbenchError
from salbench.report.escape import file_safe, md_escape
from salbench.report.layout import KEY_NAME, METRICS

DEFAULT_METRICS = "mae,S,meanF,wF,meanE,maxF"


def table_text(df, a: str, b: str, protocol: str, test: str, n_boot: int, fmt: str = "markdown") -> str:
    """The comparison frame of :func:`salbench.report.analysis.compare` as a titled table with its note."""
    from tabulate import tabulate

    from salbench.report import analysis
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
    boot = "test" in df.columns and bool((df["test"] == "paired bootstrap").any())
    note = (f"Paired on the images both methods have. Difference {a} − {b} of the per-image means; "
            f"95% CI: paired percentile bootstrap over images ({n_boot} resamples). Test: "
            f"{analysis.TESTS[test]}"
            + ("; curve-aggregated metrics (max F, max E, ...): paired bootstrap of the dataset-level "
               "difference from the stored per-image curves" if boot else "")
            + f"; p-values Holm-corrected over the {ntests} comparisons; 'better' "
            f"where the corrected p < 0.05."
            + (f" {analysis.NEEDS_CURVES}: max F, max E (and mean F under r3net) are aggregated from "
               f"mean curves; store each image's curves with salbench run --keep-curves."
               if (df["note"] == analysis.NEEDS_CURVES).any() else ""))
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
    stem = out_dir / f"compare-{file_safe(a)}-{file_safe(b)}-{metric}"
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
