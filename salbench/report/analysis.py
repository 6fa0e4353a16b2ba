"""Statistics on stored per-image scores: bootstrap intervals, paired tests,
image subsets, failure cases and exports. Library code (no argparse); the
``report``, ``compare`` and ``worst`` commands are thin layers over it.

What can be resampled
    A dataset score is a mean of per-image scores for ``mae``, ``adp_f``,
    ``adp_e``, ``s_measure``, ``weighted_f`` and ``mean_e`` under every
    protocol, and for ``mean_f`` under protocols whose F aggregation is
    ``mean_of_curves`` (pysodmetrics). Those intervals resample the stored
    per-image values. ``max_f``, ``max_e``, max / mean IoU and Dice (max or
    mean over thresholds of a mean curve) and, under ``curve_of_means``
    (r3net), ``mean_f`` (F of averaged P / R) are not means of per-image
    values: their intervals, paired tests and subset values are recomputed
    from the per-image curves that ``run --keep-curves`` stores
    (:mod:`.curves`), and are :data:`NEEDS_CURVES` where those are not
    stored, never computed from something else.

The bootstrap itself is :mod:`.bootstrap` (one resample matrix per dataset,
all columns at once).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from salbench.report import curves as C
from salbench.report.bootstrap import (DEFAULT_RESAMPLES, DEFAULT_SEED, bootstrap_ci, bootstrap_means,  # noqa: F401
                                       bootstrap_p, holm, percentile_interval, resample_counts)
from salbench.report.curves import NEEDS_CURVES  # noqa: F401

#: per-image scalars whose dataset value is their mean under every protocol
MEAN_METRICS = ("mae", "adp_f", "adp_e", "s_measure", "weighted_f", "mean_e")
class _LowerBetter:
    """``key in LOWER_BETTER``: whether a smaller value of ``key`` is better
    (the metric table's direction; unknown keys count as higher-is-better)."""

    def __contains__(self, key) -> bool:
        from salbench.errors import SalbenchError
        from salbench.metrics import table

        try:
            return not table.higher_is_better(str(key))
        except SalbenchError:
            return False


#: lower is better (read from :mod:`salbench.metrics.table`)
LOWER_BETTER = _LowerBetter()


def is_mean_metric(key: str, protocol: str) -> bool:
    """True when the dataset value of ``key`` under ``protocol`` is the mean of
    the stored per-image values (so resampling them is correct)."""
    if key in MEAN_METRICS:
        return True
    from salbench.metrics import table
    if table.image_mean(key):  # a metric family's key (all are pysodmetrics-only)
        return True
    if key == "mean_f":
        from salbench.metrics.protocols import get_protocol
        try:
            return get_protocol(protocol).f_aggregation == "mean_of_curves"
        except Exception:  # an unknown protocol: do not guess
            return False
    return False


# -- bootstrap ---------------------------------------------------------------------

def intervals(per_image, protocol: str, metrics: Sequence[str], *, n_boot: int = DEFAULT_RESAMPLES,
              seed: int = DEFAULT_SEED, level: float = 0.95,
              images: Mapping[str, Iterable[str]] | None = None,
              curves=None) -> dict[tuple[str, str, str], tuple]:
    """Bootstrap intervals of every (method, dataset, metric) of a per-image
    DataFrame (columns method, dataset, image and the metrics): ``{(method,
    dataset, metric): (lo, hi)}``, or ``(None, None, reason)`` where the metric
    is not a mean of per-image values. One resample matrix per dataset, shared
    by all methods (images missing for a method are left out of its means).
    ``images``: dataset -> the image names to use (a subset). ``curves``: a
    :data:`salbench.report.curves.CurveLoader`; where it has a method's
    per-image curves (``run --keep-curves``), the curve-aggregated metrics
    (max F, max E, ...) get intervals too, each resample recomputing the
    metric from the resampled mean curves."""
    out: dict[tuple[str, str, str], tuple] = {}
    if per_image is None or len(per_image) == 0:
        return out
    means = [m for m in metrics if is_mean_metric(m, protocol)]
    for ds, sub in per_image.groupby("dataset", sort=False):
        if images is not None and ds in images:
            sub = sub[sub["image"].isin(set(images[ds]))]
        for m in metrics:
            if m not in means:
                for meth in sub["method"].unique():
                    out[(meth, ds, m)] = C.interval(curves, sub, meth, ds, m, protocol,
                                                         n_boot, seed, level)
        cols = [m for m in means if m in sub.columns]
        if sub.empty or not cols:
            continue
        wide = sub.pivot_table(index="image", columns="method", values=cols, aggfunc="first",
                               dropna=False)
        n = len(wide)
        counts = resample_counts(n, n_boot, seed)
        boot = bootstrap_means(wide.to_numpy(dtype=np.float64), counts)
        lo, hi = percentile_interval(boot, level)
        for j, (m, meth) in enumerate(wide.columns):
            if np.isfinite(lo[j]):
                out[(meth, ds, m)] = (float(lo[j]), float(hi[j]))
    return out


# -- paired comparison -----------------------------------------------------------------

def wilcoxon_p(d: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired differences ``d``
    (zero differences dropped, ``scipy.stats.wilcoxon``); 1.0 when all are 0."""
    from scipy import stats
    d = np.asarray(d, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0 or not np.any(d != 0):
        return 1.0
    return float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def permutation_p(d: np.ndarray, n_perm: int = 10000, seed: int = DEFAULT_SEED) -> float:
    """Two-sided paired (sign-flip) permutation p-value of the mean difference."""
    d = np.asarray(d, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0 or not np.any(d != 0):
        return 1.0
    rng = np.random.default_rng(seed)
    signs = rng.integers(0, 2, size=(n_perm, d.size), dtype=np.int8) * 2 - 1
    stat = np.abs(signs @ d) / d.size
    obs = abs(d.mean())
    return float((1 + np.count_nonzero(stat >= obs - 1e-15)) / (n_perm + 1))


TESTS = {"wilcoxon": "Wilcoxon signed-rank (two-sided, scipy.stats.wilcoxon)",
         "permutation": "paired sign-flip permutation test of the mean difference (10 000 permutations)"}


def paired_test(d: np.ndarray, test: str = "wilcoxon", seed: int = DEFAULT_SEED) -> float:
    """The p-value of the paired differences ``d`` (Wilcoxon signed-rank or sign-flip permutation)."""
    if test == "wilcoxon":
        return wilcoxon_p(d)
    if test == "permutation":
        return permutation_p(d, seed=seed)
    raise ValueError(f"unknown paired test {test!r}; known: {', '.join(TESTS)}")


def compare(per_image, a: str, b: str, metrics: Sequence[str], protocol: str, *,
            n_boot: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED, level: float = 0.95,
            test: str = "wilcoxon", datasets: Sequence[str] | None = None, curves=None):
    """Paired comparison of methods ``a`` and ``b`` on the images both have:
    a DataFrame, one row per (dataset, metric): n, a, b, diff (a - b), its
    paired bootstrap interval, the test's p and the Holm-adjusted p (over all
    rows that have a test), and ``better`` (a, b or '' when not significant at
    1 - level). Curve-aggregated metrics (max F, max E, ...) are compared with
    a paired bootstrap of the dataset-level difference where ``curves`` (a
    :data:`salbench.report.curves.CurveLoader`) has both methods' per-image
    curves; ``test`` then says ``paired bootstrap``."""
    import pandas as pd
    rows = []
    for ds in (datasets or list(dict.fromkeys(per_image["dataset"]))):
        sub = per_image[per_image["dataset"] == ds]
        A = sub[sub["method"] == a].set_index("image")
        B = sub[sub["method"] == b].set_index("image")
        common = sorted(set(A.index) & set(B.index))
        counts = resample_counts(len(common), n_boot, seed) if common else None
        for m in metrics:
            row = {"dataset": ds, "metric": m, "n": len(common)}
            if not common or m not in sub.columns:
                row.update(note="no common images" if not common else "metric not stored")
                rows.append(row)
                continue
            if not is_mean_metric(m, protocol):
                row.update(C.comparison(curves, a, b, ds, common, m, protocol, counts, level))
                rows.append(row)
                continue
            va = A.loc[common, m].to_numpy(dtype=np.float64)
            vb = B.loc[common, m].to_numpy(dtype=np.float64)
            d = va - vb
            boot = bootstrap_means(d, counts)
            lo, hi = percentile_interval(boot, level)
            row.update(a=float(np.nanmean(va)), b=float(np.nanmean(vb)), diff=float(np.nanmean(d)),
                       lo=float(lo), hi=float(hi), p=paired_test(d, test, seed), test=test)
            rows.append(row)
    df = pd.DataFrame(rows)
    for c in ("a", "b", "diff", "lo", "hi", "p", "note", "test"):
        if c not in df.columns:
            df[c] = np.nan if c not in ("note", "test") else ""
    df["note"] = df["note"].fillna("")
    df["test"] = df["test"].fillna("")
    df["p_holm"] = holm(df["p"].to_numpy(dtype=np.float64)) if len(df) else []
    alpha = 1 - level

    def better(r):
        if not (isinstance(r["p_holm"], float) and math.isfinite(r["p_holm"])) or r["p_holm"] >= alpha:
            return ""
        lower = r["metric"] in LOWER_BETTER
        return a if (r["diff"] < 0) == lower else b
    df["better"] = df.apply(better, axis=1) if len(df) else []
    return df


def not_worse_than_best(per_image, dataset: str, metric: str, protocol: str, values: Mapping[str, float],
                        *, test: str = "wilcoxon", alpha: float = 0.05,
                        curves=None) -> tuple[str | None, set[str]]:
    """(best method, the methods not significantly different from it) for one
    column, by paired tests on common images, Holm-corrected over the column's
    comparisons. A curve-aggregated metric is tested by a paired bootstrap of
    the dataset-level difference where ``curves`` holds the methods' per-image
    curves; without them (or for any other metric that is not a mean of
    per-image values) the result is empty."""
    if not values or per_image is None or len(per_image) == 0:
        return None, set()
    lower = metric in LOWER_BETTER
    best = (min if lower else max)(values, key=lambda k: values[k])
    if not is_mean_metric(metric, protocol):
        return C.not_worse(per_image, dataset, metric, protocol, values, best, curves, alpha)
    sub = per_image[(per_image["dataset"] == dataset)]
    if metric not in sub.columns:
        return best, set()
    wide = sub.pivot_table(index="image", columns="method", values=metric, aggfunc="first")
    if best not in wide.columns:
        return best, set()
    others = [m for m in values if m != best and m in wide.columns]
    ps = []
    for m in others:
        pair = wide[[best, m]].dropna()
        ps.append(paired_test((pair[best] - pair[m]).to_numpy(), test) if len(pair) else math.nan)
    adj = holm(ps)
    return best, {m for m, p in zip(others, adj) if math.isfinite(p) and p >= alpha}


# -- subsets ----------------------------------------------------------------------------

SIZE_BINS = ((0.0, 0.1, "small (<10%)"), (0.1, 0.3, "medium (10-30%)"), (0.3, 1.0 + 1e-9, "large (>=30%)"))
BUILTIN = ("size", "components", "border", "empty")


def gt_attributes(pairs: Iterable[tuple[str, Path]], gt_min_fg: int = 128):
    """Per-image attributes of the GT masks ``(name, gt_path)``: area fraction,
    number of 8-connected components, touches the border, empty. A DataFrame
    indexed by name."""
    import pandas as pd
    from PIL import Image
    from scipy import ndimage
    rows = []
    for name, path in pairs:
        g = np.asarray(Image.open(path).convert("L")) >= gt_min_fg
        _, ncomp = ndimage.label(g, structure=np.ones((3, 3), bool))
        border = bool(g[0].any() or g[-1].any() or g[:, 0].any() or g[:, -1].any())
        rows.append({"image": name, "area": float(g.mean()), "components": int(ncomp),
                     "border": border, "empty": not g.any()})
    return pd.DataFrame(rows).set_index("image") if rows else pd.DataFrame(
        columns=["area", "components", "border", "empty"])


def builtin_subsets(attrs, by: str) -> dict[str, list[str]]:
    """Subsets (label -> image names) of one built-in kind (:data:`BUILTIN`)."""
    if by == "size":
        out = {"empty GT": list(attrs.index[attrs["empty"]])}
        for lo, hi, lab in SIZE_BINS:
            sel = (~attrs["empty"]) & (attrs["area"] >= lo) & (attrs["area"] < hi)
            out[f"size {lab}"] = list(attrs.index[sel])
        return out
    if by == "components":
        c = attrs["components"]
        return {"0 components (empty GT)": list(attrs.index[c == 0]),
                "1 component": list(attrs.index[c == 1]),
                "2 components": list(attrs.index[c == 2]),
                "3+ components": list(attrs.index[c >= 3])}
    if by == "border":
        return {"object touches the border": list(attrs.index[attrs["border"]]),
                "object off the border": list(attrs.index[~attrs["border"] & ~attrs["empty"]]),
                "empty GT": list(attrs.index[attrs["empty"]])}
    if by == "empty":
        return {"empty GT": list(attrs.index[attrs["empty"]]),
                "non-empty GT": list(attrs.index[~attrs["empty"]])}
    raise ValueError(f"unknown built-in subset {by!r}; known: {', '.join(BUILTIN)}")


def load_labels(path: str | Path) -> dict[str, list[str]]:
    """Subsets from a user label file: CSV with an ``image`` (or ``name``)
    column and attribute columns (each value of each column is a subset
    ``column=value``; a truthy 0/1 column is the subset ``column``), or JSON
    ``{image: [attribute, ...]}`` / ``{image: {key: value}}`` (SOC-style
    attribute lists). Image names are file stems."""
    import pandas as pd
    path = Path(path)
    subsets: dict[str, list[str]] = {}

    def add(label, name):
        subsets.setdefault(str(label), []).append(Path(str(name)).stem)
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, list):  # [{"image": .., attrs..}]
            data = {d.get("image") or d.get("name"): {k: v for k, v in d.items() if k not in ("image", "name")}
                    for d in data}
        for name, attrs in data.items():
            if isinstance(attrs, str):
                attrs = [attrs]
            if isinstance(attrs, list):
                for a in attrs:
                    add(a, name)
            elif isinstance(attrs, dict):
                for k, v in attrs.items():
                    if isinstance(v, bool):
                        if v:
                            add(k, name)
                    elif isinstance(v, list):
                        for x in v:
                            add(f"{k}={x}", name)
                    else:
                        add(f"{k}={v}", name)
        return subsets
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    key = next((c for c in df.columns if c.lower() in ("image", "name", "file")), df.columns[0])
    for col in df.columns:
        if col == key:
            continue
        vals = set(df[col].str.strip().str.lower())
        if vals <= {"0", "1", "true", "false", "yes", "no", ""}:
            for name, v in zip(df[key], df[col]):
                if v.strip().lower() in ("1", "true", "yes"):
                    add(col, name)
        else:
            for name, v in zip(df[key], df[col]):
                for x in (s.strip() for s in v.split(";")):
                    if x:
                        add(f"{col}={x}", name)
    return subsets


def dataset_gt_pairs(store, dataset: str, data_root: str | Path | None = None) -> list[tuple[str, Path]]:
    """``(name, gt path)`` of a stored dataset: from the folder its latest run
    recorded (``runs.dataset_path``), else resolved under ``data_root``."""
    from salbench.data.datasets import load_folder, resolve, same_dataset
    from salbench.errors import SalbenchError
    paths = [r["dataset_path"] for r in store._query(
        "SELECT dataset, dataset_path FROM runs WHERE dataset_path IS NOT NULL ORDER BY started DESC", [])
        if same_dataset(r["dataset"], dataset)]
    for p in paths:
        if Path(p).is_dir():
            try:
                return [(pr.name, pr.gt) for pr in load_folder(Path(p), dataset).pairs]
            except SalbenchError:
                continue
    try:
        return [(pr.name, pr.gt) for pr in resolve(dataset, data_root).pairs]
    except SalbenchError as exc:
        raise SalbenchError(f"{dataset}: GT not found (no run recorded its folder): {exc}") from None


def dataset_image_pairs(store, dataset: str, data_root=None) -> dict[str, tuple[Path, Path]]:
    """name -> (image, gt) of a stored dataset (see :func:`dataset_gt_pairs`)."""
    from salbench.data.datasets import load_folder, resolve, same_dataset
    for r in store._query("SELECT dataset, dataset_path FROM runs WHERE dataset_path IS NOT NULL "
                          "ORDER BY started DESC", []):
        if same_dataset(r["dataset"], dataset) and Path(r["dataset_path"]).is_dir():
            return {p.name: (p.image, p.gt) for p in load_folder(Path(r["dataset_path"]), dataset).pairs}
    return {p.name: (p.image, p.gt) for p in resolve(dataset, data_root).pairs}


def map_path(store, results_root: Path, method: str, dataset: str, image: str) -> Path | None:
    """The stored map of ``image``: ``<results>/<method>/<dataset>/<image>.png``,
    else the ``--maps`` folder the run read."""
    p = Path(results_root) / method / dataset / f"{image}.png"
    if p.is_file():
        return p
    for r in store.runs(method=method):
        opts = r.get("options") or {}
        folder = opts.get("maps") if isinstance(opts, dict) else None
        if folder:
            for cand in (Path(folder) / dataset / f"{image}.png", Path(folder) / f"{image}.png"):
                if cand.is_file():
                    return cand
    return None


# -- failure cases ----------------------------------------------------------------------------

def contact_sheet(rows: Sequence[dict], out: Path, *, columns: Sequence[str], title: str = "",
                  thumb: int = 160) -> Path:
    """A PNG grid, one row per entry of ``rows`` (``{"cells": [path or None,
    ...], "labels": [text, ...]}``), ``columns`` naming the columns."""
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.load_default()
    pad, text_h = 4, 14
    ncol = len(columns)
    W = ncol * (thumb + pad) + pad
    H = text_h * 2 + len(rows) * (thumb + text_h + pad) + pad
    sheet = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(sheet)
    d.text((pad, 2), title[:W // 6], fill="black", font=font)
    for j, c in enumerate(columns):
        d.text((pad + j * (thumb + pad), text_h + 2), str(c)[:thumb // 6], fill="black", font=font)
    for i, r in enumerate(rows):
        y = text_h * 2 + i * (thumb + text_h + pad)
        for j, (cell, lab) in enumerate(zip(r["cells"], r["labels"])):
            x = pad + j * (thumb + pad)
            if cell is not None and Path(cell).is_file():
                im = Image.open(cell).convert("RGB")
                im.thumbnail((thumb, thumb))
                sheet.paste(im, (x, y))
            else:
                d.rectangle([x, y, x + thumb - 1, y + thumb - 1], outline="grey")
                d.text((x + 4, y + thumb // 2), "missing", fill="grey", font=font)
            d.text((x, y + thumb + 1), str(lab)[:thumb // 6], fill="black", font=font)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out


# -- provenance ---------------------------------------------------------------------------

def sha256_files(files: Iterable[Path]) -> str | None:
    """sha256 over the names and contents of ``files`` (None when there are none)."""
    h = hashlib.sha256()
    n = 0
    for f in sorted(Path(x) for x in files):
        h.update(f.name.encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
        n += 1
    return h.hexdigest() if n else None


def provenance(store, results_root: Path | None, protocol: str) -> dict:
    """What the numbers came from: salbench version, protocol (and its full
    record), and per (method, dataset): the dataset fingerprint, the weights
    sha256, the method source hash and a sha256 over the stored maps."""
    import salbench
    from salbench.metrics.protocols import get_protocol
    runs: dict[tuple[str, str], dict] = {}
    for r in store.runs():
        if r.get("status") in ("done", "done-with-problems") or (r["method"], r["dataset"]) not in runs:
            runs[(r["method"], r["dataset"])] = r
    per = []
    for (m, ds), r in sorted(runs.items()):
        maps = None
        if results_root is not None:
            folder = Path(results_root) / m / ds
            if folder.is_dir():
                maps = sha256_files(folder.glob("*.png"))
        ident = r.get("identity") if isinstance(r.get("identity"), dict) else {}
        mid = ident.get("method_identity") if isinstance(ident.get("method_identity"), dict) else {}
        per.append({"method": m, "dataset": ds, "run_id": r["run_id"],
                    "dataset_fingerprint": r.get("dataset_fingerprint"),
                    "weights_sha256": r.get("weights_sha256"),
                    "source_sha256": r.get("source_sha256"),
                    "maps_sha256": maps or mid.get("maps_fingerprint"),
                    "git_revision": r.get("git_revision")})
    try:
        proto = get_protocol(protocol).to_dict()
    except Exception:
        proto = {"name": protocol}
    return {"salbench_version": salbench.__version__, "protocol": protocol, "protocol_details": proto,
            "runs": per}
