"""``salbench report``: tables and curves from the results store.

Layouts follow Deng et al., IJCAI 2018 (R3Net):

* ``--table 2`` (default), the paper's Table 2: one row per method, max Fβ
  ("Fβ" in the paper) and MAE for each dataset; the best three values of each
  column are marked - red, green, blue in LaTeX (``\\textcolor`` of the base
  ``color`` package), **bold**¹ / _italic_² / plain³ superscript ranks in
  Markdown, with a legend. MAE ranks lower-is-better. Rows of the R3Net
  ablation (Table 1 names) are left out unless asked for with ``--methods``.
* ``--table 1``, the paper's Table 1 (ablation): rows r3net-0 ... r3net-7,
  r3net-wo-r, r3net-ws, r3net-ll, r3net-hh, r3net-d, r3net-v, those present.

Differences from the paper: ranks are computed over every row shown, the paper's
own reported numbers included (the paper ranks its rows only); ties (after
rounding to the three printed decimals) share a rank.

Numbers the paper reports (:mod:`salbench.report.claims`) appear under protocol
``r3net`` only, as a separate block of rows marked † ("reported in the paper,
not measured here"). Every table states its protocol. Optional extra metric
columns (``--metrics``) and per-method columns (``--columns params,gmacs,fps``).
``--figures DIR`` writes a PR-curve and an F-measure-curve figure per dataset
(matplotlib, Agg backend; PNG and PDF).

The table is built from the pandas DataFrame of :func:`salbench.api.results`
(per-image rows for intervals, tests and subsets); Markdown, GitHub and plain
text tables are rendered by ``tabulate``, the LaTeX keeps the paper's layout.
Analysis (:mod:`salbench.report.analysis`): ``--ci`` bootstrap intervals over images,
``--significance`` marks (≈) the methods not significantly different from each
column's best (paired Wilcoxon signed-rank, Holm-corrected per column),
``--by size|components|border|empty`` / ``--subsets FILE`` one table per image
subset, ``--claims FILE`` papers' numbers from a CSV / JSON file (deltas beyond
``--claim-tolerance`` flagged), ``--format csv|json|html`` exports with
provenance, ``--preset r3net|modern``. Metrics that are not a mean of
per-image values (max F, max E; mean F under ``r3net``) get no interval, test
or subset value: "n/a (needs per-image curves)", which the store does not keep.

Names of methods and datasets are escaped for Markdown (``| * _ $ \\ & ...``),
LaTeX (special characters; accents as accent commands, other non-Latin
letters as ``<U+XXXX>`` so pdflatex compiles) and matplotlib titles (``$``).

Dataset names (``--datasets`` and the stored ones) go through
:func:`salbench.data.datasets.canonical_name`: ``--datasets pascal``, ``Pascal-S`` and
``pascals`` all select the results stored under ``PASCAL-S``.

Partial datasets: results over fewer images than the dataset's registered count
(a partial folder) are marked ``n/N``: in the column header (``SOD (120/300)``)
when every measured row of that column has the same n, else on each partial
cell (``0.812 (120/300)``); a note under the table explains the mark. Rows of
the paper (†) are always full-set numbers. Datasets without a registered count
(ad-hoc folders) are never partial.
"""

from __future__ import annotations

import argparse
import math
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from salbench.errors import SalbenchError
from salbench.data.paths import check_output_file, ensure_folder

#: --metrics spellings -> summary keys, header text, lower-is-better
METRICS: dict[str, tuple[str, str, str, bool]] = {
    # name: (key, markdown header, latex header, lower is better)
    "maxf": ("max_f", "Fβ", r"$F_\beta$", False),
    "mae": ("mae", "MAE", "MAE", True),
    "meanf": ("mean_f", "mean Fβ", r"mean $F_\beta$", False),
    "adpf": ("adp_f", "adp Fβ", r"adp $F_\beta$", False),
    "s": ("s_measure", "Sα", r"$S_\alpha$", False),
    "sm": ("s_measure", "Sα", r"$S_\alpha$", False),
    "smeasure": ("s_measure", "Sα", r"$S_\alpha$", False),
    "maxe": ("max_e", "max Eξ", r"max $E_\xi$", False),
    "meane": ("mean_e", "mean Eξ", r"mean $E_\xi$", False),
    "adpe": ("adp_e", "adp Eξ", r"adp $E_\xi$", False),
    "wf": ("weighted_f", "wFβ", r"$F^w_\beta$", False),
    "weightedf": ("weighted_f", "wFβ", r"$F^w_\beta$", False),
}
#: summary key -> the METRICS name used for it
KEY_NAME = {"max_f": "maxf", "mae": "mae", "mean_f": "meanf", "adp_f": "adpf", "s_measure": "s",
            "max_e": "maxe", "mean_e": "meane", "adp_e": "adpe", "weighted_f": "wf"}

#: what to report: (protocol, metrics, what it is)
PRESETS: dict[str, tuple[str, str, str]] = {
    "r3net": ("r3net", "maxF,mae", "R3Net Table 2: max Fβ and MAE under the r3net protocol "
              "(Hou et al. 2017 evaluation code)"),
    "modern": ("pysodmetrics", "S,maxF,meanF,wF,meanE,mae",
               "what 2024-2026 papers print: Sα, max / mean Fβ, weighted Fβ, mean Eξ, MAE under the "
               "pysodmetrics protocol (PySODMetrics / Fan et al. toolbox)"),
}

TABLE1_ROWS = ("r3net-0", "r3net-1", "r3net-2", "r3net-3", "r3net-4", "r3net-5", "r3net-6",
               "r3net-7", "r3net-wo-r", "r3net-ws", "r3net-ll", "r3net-hh", "r3net-d", "r3net-v")
EXTRA_COLUMNS = ("params", "gmacs", "fps")
#: the input size GMACs are counted at unless a method declares its own
#: (``Method.cost_size``); other sizes are written beside the value
DEFAULT_COST_SIZE = "300x300"
MISSING = "–"
NA = "n/a"
#: default |claim - measurement| beyond which a claim is flagged
CLAIM_TOLERANCE = 0.01


@dataclass
class Row:
    label: str
    claim: bool = False
    values: dict[tuple[str, str], float] = field(default_factory=dict)  # (dataset, key) -> value
    extra: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int | None] = field(default_factory=dict)  # dataset -> images scored
    key: str = ""  # claims: the method key of the claim file


@dataclass
class Table:
    number: int
    protocol: str
    datasets: list[str]
    metrics: list[str]  # names in METRICS
    columns: list[str]
    rows: list[Row]
    ranks: dict[tuple[int, str, str], int] = field(default_factory=dict)  # (row, ds, key) -> 1..3
    notes: list[str] = field(default_factory=list)
    #: dataset -> "n/N" where every measured row of its columns is over the same partial n
    partial: dict[str, str] = field(default_factory=dict)
    #: (row index, dataset) -> "n/N" for partial cells of columns whose rows differ in n
    partial_cells: dict[tuple[int, str], str] = field(default_factory=dict)
    #: (row, ds, key) -> (lo, hi) bootstrap interval, or (None, None, reason)
    cis: dict[tuple[int, str, str], tuple] = field(default_factory=dict)
    ci_format: str = "pm"
    #: (row, ds, key) of cells not significantly different from the column's best
    similar: set = field(default_factory=set)
    #: (row, ds, key) of cells that cannot be computed (subset of a dataset-level metric)
    na: set = field(default_factory=set)
    #: subset tables: the subset's label and image count per dataset
    subset: str | None = None
    subset_counts: dict[str, int] = field(default_factory=dict)
    preset: str | None = None
    claims_paper: str = ""
    #: notes for the LaTeX caption beyond the † and partial ones
    extra_notes: list[str] = field(default_factory=list)


PARTIAL_NOTE = ("n/N: a partial dataset: scored on the n images found of its N registered images "
                "(not comparable with full-set numbers{claims}).")


def _mark_partial(t: Table) -> None:
    """Fill ``t.partial`` / ``t.partial_cells`` from the rows' image counts."""
    from salbench.data.datasets import count_label
    if t.subset is not None:
        return
    for ds in t.datasets:
        measured = [(i, r) for i, r in enumerate(t.rows) if not r.claim and ds in r.counts]
        labels = {i: count_label(ds, r.counts[ds]) for i, r in measured}
        if not any(labels.values()):
            continue
        distinct = set(labels.values())
        if len(distinct) == 1:
            t.partial[ds] = distinct.pop()
        else:
            t.partial_cells.update({(i, ds): lab for i, lab in labels.items() if lab})
    if t.partial or t.partial_cells:
        claims = any(r.claim for r in t.rows)
        t.notes.append(PARTIAL_NOTE.format(claims=", such as the paper's †" if claims else ""))


def _metric_list(spec: str | None) -> list[str]:
    names = [s.strip() for s in (spec or "maxF,mae").split(",") if s.strip()]
    out = []
    for n in names:
        k = n.lower().replace("_", "").replace("-", "")
        if k not in METRICS:
            raise SalbenchError(f"--metrics: unknown metric {n!r}; known: maxF, mae, meanF, adpF, "
                                f"S, maxE, meanE, adpE, wF")
        out.append(k)
    return out


def _column_list(spec: str | None) -> list[str]:
    cols = [s.strip().lower() for s in (spec or "").split(",") if s.strip()]
    for c in cols:
        if c not in EXTRA_COLUMNS:
            raise SalbenchError(f"--columns: unknown column {c!r}; known: {', '.join(EXTRA_COLUMNS)}")
    return cols


def _dataset_order(names: set[str]) -> list[str]:
    from salbench.data.datasets import DATASETS, TEST_SETS
    order = list(TEST_SETS) + [d.name for d in DATASETS.values() if d.name not in TEST_SETS]
    low = {n.lower(): n for n in names}
    out = [low[o.lower()] for o in order if o.lower() in low]
    return out + sorted(n for n in names if n not in out)


def results_frame(store, protocol: str, per_image: bool = False):
    """The DataFrame of :func:`salbench.api.results` for this store and protocol."""
    from salbench.api import results
    return results(store.path, protocol=protocol, per_image=per_image)


def _canon_frame(df, present_ds: dict[str, str]):
    """Dataset column -> canonical spelling (the one the tables use)."""
    from salbench.data.datasets import canonical_name
    if len(df):
        df = df.copy()
        df["dataset_stored"] = df["dataset"]
        names = {d: present_ds.get(canonical_name(d).lower(), canonical_name(d)) for d in set(df["dataset"])}
        df["dataset"] = df["dataset"].map(names)
    return df


def _sort_rows(rows: list[Row], spec: str, datasets: list[str]) -> None:
    """Order measured rows by a metric (``maxF``, or ``mae:SOD`` for one
    dataset; default: its mean over the datasets shown), best first; rows
    without a value last."""
    name, _, ds = spec.partition(":")
    m = METRICS.get(name.strip().lower().replace("_", "").replace("-", ""))
    if m is None:
        raise SalbenchError(f"--sort {spec!r}: unknown metric; known: {', '.join(sorted(METRICS))}")
    key, lower = m[0], m[3]
    from salbench.data.datasets import canonical_name
    shown = datasets
    if ds:
        want = canonical_name(ds).lower()
        shown = [d for d in datasets if d.lower() == want]
        if not shown:
            raise SalbenchError(f"--sort {spec!r}: dataset {ds} is not in the table ({', '.join(datasets)})")

    def value(r: Row) -> float:
        vals = [r.values[(d, key)] for d in shown if (d, key) in r.values]
        if not vals:
            return math.inf
        v = sum(vals) / len(vals)
        return v if lower else -v
    rows.sort(key=value)


def build_table(store, *, number: int = 2, protocol: str, datasets: list[str] | None,
                methods: list[str] | None, metrics: list[str], columns: list[str],
                claims: bool | list[dict] = True, ci: bool = False, n_boot: int = 1000,
                seed: int = 0, ci_format: str = "pm", significance: bool = False,
                test: str = "wilcoxon", images: dict[str, list[str]] | None = None,
                subset: str | None = None, per_image=None, frame=None,
                claim_tolerance: float = CLAIM_TOLERANCE, sort: str | None = None) -> Table:
    """One table. ``claims``: True for the shipped R3Net claims (protocol
    ``r3net`` only), False for none, or a list of claim records (see
    :func:`salbench.report.claims.load_claims`). ``images``: dataset -> image names
    (a subset: values are recomputed from the per-image scores)."""
    from salbench.report import analysis
    from salbench.report import claims as claims_mod
    from salbench.data.datasets import canonical_name
    df = frame if frame is not None else results_frame(store, protocol)
    stored = list(df["dataset"]) if len(df) else []
    present_ds: dict[str, str] = {}
    for d in stored:  # one spelling per dataset: the canonical one when stored, else the first
        c = canonical_name(d)
        if c.lower() not in present_ds or d == c:
            present_ds[c.lower()] = d if d == c or c.lower() not in present_ds else present_ds[c.lower()]
    present = set(present_ds.values())
    if datasets:  # the user's order, canonical names; stored spelling of unregistered ones
        low = {d.lower(): d for d in present}
        ds_names = []
        for d in datasets:
            name = low.get(canonical_name(d).lower(), canonical_name(d))
            if name not in ds_names:
                ds_names.append(name)
    else:
        ds_names = _dataset_order(present)
    df = _canon_frame(df, present_ds)
    if len(df):  # two stored spellings of one dataset: the canonical one wins
        df = df.assign(_pref=(df["dataset"] == df["dataset_stored"]).astype(int))
        df = df.sort_values("_pref", ascending=False, kind="stable").drop_duplicates(["method", "dataset"])
    by_method: dict[str, dict[str, dict]] = {}
    for rec in df.to_dict("records"):
        by_method.setdefault(rec["method"], {})[rec["dataset"]] = rec
    mlow = [m.lower() for m in methods] if methods else None
    if number == 1:
        labels = [m for m in TABLE1_ROWS if m in {k.lower() for k in by_method}]
        labels = [next(k for k in by_method if k.lower() == m) for m in labels]
        if mlow:
            labels = [m for m in labels if m.lower() in mlow]
    else:
        labels = [m for m in by_method if (m.lower() in mlow if mlow else m.lower() not in TABLE1_ROWS)]
        if mlow:  # the order the user gave
            labels.sort(key=lambda m: mlow.index(m.lower()))
        else:  # the paper's Table 2 order for its methods, then by name
            order = {k: i for i, k in enumerate(claims_mod.ORDER.get("table2", []))}
            labels.sort(key=lambda m: (order.get(m.lower(), len(order)), m.lower()))
    keys = [METRICS[m][0] for m in metrics]
    need_pi = ci or significance or images is not None
    if need_pi and per_image is None:
        per_image = _canon_frame(results_frame(store, protocol, per_image=True), present_ds)
    if images is not None and per_image is not None and len(per_image):
        keep = {(d, n) for d, names in images.items() for n in names}
        per_image = per_image[[(d, n) in keep for d, n in zip(per_image["dataset"], per_image["image"])]]
    rows: list[Row] = []
    method_info = store.methods()
    na: set = set()
    for lab in labels:
        r = Row(lab)
        for ds in ds_names:
            s = by_method[lab].get(ds)
            if not s:
                continue
            if images is None:
                for k in keys:
                    v = s.get(k)
                    if isinstance(v, (int, float)) and math.isfinite(v):
                        r.values[(ds, k)] = float(v)
                r.counts[ds] = int(s["count"]) if s.get("count") is not None else None
            else:
                sub = per_image[(per_image["method"] == lab) & (per_image["dataset"] == ds)]
                if sub.empty:
                    continue
                for k in keys:
                    if analysis.is_mean_metric(k, protocol) and k in sub.columns:
                        v = sub[k].astype(float).mean()
                        if math.isfinite(v):
                            r.values[(ds, k)] = float(v)
                    else:
                        na.add((lab, ds, k))
                r.counts[ds] = len(sub)
        if not r.values and not any(x[0] == lab for x in na):
            continue  # nothing on the datasets shown
        r.extra = _extra(store, method_info.get(lab), lab, columns)
        rows.append(r)
    if sort:
        _sort_rows(rows, sort, ds_names)
    claim_recs: list[dict] = []
    if images is None and claims is True and protocol == claims_mod.PROTOCOL:
        claim_recs = [dict(c, key=c["method"]) for c in store.claims(table=f"table{number}", protocol=protocol)]
        claim_order = claims_mod.ORDER.get(f"table{number}", [])
        paper = claims_mod.PAPER
    elif images is None and isinstance(claims, list):
        claim_recs = [dict(c, key=str(c["method"]).lower()) for c in claims
                      if (not c.get("protocol") or c["protocol"] == protocol)
                      and (not str(c.get("table") or "").startswith("table")
                           or c["table"] == f"table{number}")]
        claim_order = list(dict.fromkeys(c["key"] for c in claim_recs))
        papers = sorted({c.get("paper") or "" for c in claim_recs} - {""})
        paper = "; ".join(papers) or "the claims file"
    if claim_recs:
        by_key: dict[str, Row] = {}
        for key in claim_order:
            for c in claim_recs:
                cds = canonical_name(c["dataset"])
                cds = next((d for d in ds_names if d.lower() == cds.lower()), None)
                if c["key"] != key or cds is None:
                    continue
                disp = c.get("display") or c["method"]
                if mlow and key not in mlow and disp.lower() not in mlow:
                    continue
                if c["metric"] not in keys:
                    continue
                row = by_key.setdefault(key, Row(disp, claim=True, key=key))
                row.values[(cds, c["metric"])] = float(c["value"])
        rows.extend(by_key.values())
    if not rows:
        others = sorted({r["protocol"] for r in store._query("SELECT DISTINCT protocol FROM summaries", [])}
                        - {protocol})
        raise SalbenchError(
            f"nothing to report under protocol {protocol!r}"
            + (f" for methods {methods}" if methods else "")
            + (f" on {datasets}" if datasets else "")
            + (f"; the store holds results under protocol {', '.join(map(repr, others))} "
               f"(--protocol {others[0]})" if others else
               " (run `salbench run` first, or pick another --results)"))
    t = Table(number, protocol, ds_names, metrics, columns, rows, ci_format=ci_format, subset=subset)
    t.na = {(i, ds, k) for i, r in enumerate(rows) for (lab, ds, k) in na if r.label == lab and not r.claim}
    if images is not None:
        t.subset_counts = {ds: len(set(images.get(ds, ()))) for ds in ds_names}
        if t.na:
            t.notes.append(f"{NA}: needs per-image curves - a dataset-level metric (max over "
                           f"thresholds of a mean curve, or F of mean P / R) is not a mean of the "
                           f"stored per-image scores, so it cannot be computed on a subset.")
    _rank(t)
    if any(r.claim for r in rows):
        if claims is True:
            t.notes.append(f"† reported in {claims_mod.PAPER}, Table {number} (not measured here).")
        else:
            t.notes.append(f"† reported in {paper} (not measured here).")
            if any(not c.get("protocol") for c in claim_recs):
                t.notes.append("Some claims do not state their protocol; compare with care.")
        t.claims_paper = paper
        _flag_claims(t, claim_tolerance)
    if ci:
        _add_cis(t, per_image, n_boot=n_boot, seed=seed)
    if significance:
        _add_significance(t, per_image, test)
    _mark_partial(t)
    return t


def _flag_claims(t: Table, tol: float) -> None:
    measured = {r.label.lower(): r for r in t.rows if not r.claim}
    flags = []
    for r in t.rows:
        if not r.claim:
            continue
        m = measured.get(r.key.lower()) or measured.get(r.label.lower())
        if m is None:
            continue
        for (ds, k), v in sorted(r.values.items()):
            mv = m.values.get((ds, k))
            if mv is not None and abs(mv - v) > tol + 1e-12:
                flags.append(f"{r.label} {ds} {METRICS[KEY_NAME.get(k, 'maxf')][1] if k in KEY_NAME else k}: "
                             f"claimed {v:.3f}, measured {mv:.3f} (Δ {mv - v:+.3f})")
    if flags:
        t.notes.append(f"Claims differing from the measurement by more than {tol:.3f}: "
                       + "; ".join(flags) + ".")


def _add_cis(t: Table, per_image, *, n_boot: int, seed: int) -> None:
    from salbench.report import analysis
    keys = [METRICS[m][0] for m in t.metrics]
    got = analysis.intervals(per_image, t.protocol, keys, n_boot=n_boot, seed=seed)
    for i, r in enumerate(t.rows):
        if r.claim:
            continue
        for (ds, k) in r.values:
            iv = got.get((r.label, ds, k))
            if iv is None:
                iv = (None, None, analysis.NEEDS_CURVES if not analysis.is_mean_metric(k, t.protocol)
                      else "no per-image scores stored")
            t.cis[(i, ds, k)] = iv
    whats = sorted({iv[2] for iv in t.cis.values() if iv[0] is None})
    t.notes.append(f"± half-width of the 95% percentile bootstrap interval over images "
                   f"({n_boot} resamples, seed {seed})" if t.ci_format == "pm" else
                   f"[lo, hi]: 95% percentile bootstrap interval over images ({n_boot} resamples, seed {seed})")
    t.notes[-1] += "." if not whats else "; " + "; ".join(
        f"interval {NA}: " + w.replace(NA + " (", "").rstrip(")") + (" (max F, max E and, under r3net, mean F are aggregated from mean "
                                  "curves; the store keeps only per-image scalars)"
                                  if w == analysis.NEEDS_CURVES else "") for w in whats) + "."


def _add_significance(t: Table, per_image, test: str) -> None:
    from salbench.report import analysis
    untested = []
    for ds in t.datasets:
        for m in t.metrics:
            k = METRICS[m][0]
            vals = {r.label: r.values[(ds, k)] for r in t.rows if not r.claim and (ds, k) in r.values}
            if not analysis.is_mean_metric(k, t.protocol):
                if vals:
                    untested.append(f"{ds} {METRICS[m][1]}")
                continue
            best, similar = analysis.not_worse_than_best(per_image, ds, k, t.protocol, vals, test=test)
            for i, r in enumerate(t.rows):
                if not r.claim and r.label in similar:
                    t.similar.add((i, ds, k))
    t.notes.append(f"≈ not significantly different from the best measured value of its column "
                   f"({analysis.TESTS[test]} on the images both have, Holm-corrected over the column, "
                   f"α = 0.05)" + (f"; not tested ({analysis.NEEDS_CURVES}): {', '.join(untested)}"
                                  if untested else "") + ".")


def _extra(store, info: dict | None, label: str, columns: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    if "params" in columns:
        p = info.get("params") if info else None
        out["params"] = f"{p / 1e6:.2f}M" if p else MISSING
    if "gmacs" in columns:
        g = info.get("gmacs") if info else None
        size = (info.get("gmacs_size") if info else None) or DEFAULT_COST_SIZE
        out["gmacs"] = (f"{g:.2f}" + ("" if size == DEFAULT_COST_SIZE else f" @{size}")
                        if g else MISSING)
    if "fps" in columns:
        if info and info.get("kind") == "precomputed":  # reading files is not the method's speed
            out["fps"] = MISSING
            return out
        out["fps"] = _fps(store.runs(method=label))
    return out


def _fps(runs: list[dict]) -> str:
    """Images per second over a method's complete runs: the total images
    predicted over the total time (a weighted mean), per device and batch size
    (``12.3 (cpu, batch 8)``); with CRF, the same with its time added."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        if r.get("status") in ("done", "done-with-problems") and r.get("n_predicted") \
                and r.get("predict_seconds"):
            groups.setdefault((r.get("device") or "?", r.get("batch_size")), []).append(r)
    if not groups:
        return MISSING
    parts = []
    for (device, batch), rs in sorted(groups.items(), key=lambda kv: -sum(r["n_predicted"] for r in kv[1])):
        n = sum(r["n_predicted"] for r in rs)
        t = sum(r["predict_seconds"] for r in rs)
        txt = f"{n / t:.1f}"
        crf = [r for r in rs if r.get("crf_seconds")]
        if crf:
            with_crf = (sum(r["n_predicted"] for r in crf)
                        / sum(r["predict_seconds"] + r["crf_seconds"] for r in crf))
            txt += f", {with_crf:.2f} with CRF"
        parts.append(txt + f" ({device}" + (f", batch {batch}" if batch else "") + ")")
    return "; ".join(parts)


def _rank(t: Table) -> None:
    for ds in t.datasets:
        for m in t.metrics:
            key, _, _, lower = METRICS[m]
            vals = sorted({round(r.values[(ds, key)], 3) for r in t.rows if (ds, key) in r.values},
                          reverse=not lower)
            top = {v: i + 1 for i, v in enumerate(vals[:3])}
            for i, r in enumerate(t.rows):
                v = r.values.get((ds, key))
                if v is not None and round(v, 3) in top:
                    t.ranks[(i, ds, key)] = top[round(v, 3)]


# -- escaping -----------------------------------------------------------------------

_MD_SPECIAL = "\\`*_[]<>|$#"


def md_escape(s: str) -> str:
    """A name as literal Markdown text (also inside a pipe-table cell)."""
    out = []
    for ch in str(s):
        if ch in _MD_SPECIAL:
            out.append("\\" + ch)
        elif ch == "&":
            out.append("&amp;")
        else:
            out.append(ch)
    return "".join(out)


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
        "–": "--", "—": "---", "×": r"$\times$", "†": r"$^\dagger$", "±": r"$\pm$", "≈": r"$\approx$",
        "²": r"$^2$", "¹": r"$^1$", "³": r"$^3$", "Δ": r"$\Delta$", "≥": r"$\geq$", "≤": r"$\leq$",
        "·": r"$\cdot$", "“": "``", "”": "''", "’": "'", "‘": "`", "°": r"$^\circ$", "ß": r"{\ss}",
        "æ": r"{\ae}", "Æ": r"{\AE}", "ø": r"{\o}", "Ø": r"{\O}", "å": r"{\aa}", "Å": r"{\AA}",
        "ł": r"{\l}", "Ł": r"{\L}", "œ": r"{\oe}", "Œ": r"{\OE}", "ı": r"{\i}"}
_TEX_ACCENT = {"\u0301": "'", "\u0300": "`", "\u0302": "^", "\u0308": '"', "\u0303": "~", "\u0327": "c",
               "\u030c": "v", "\u0306": "u", "\u0304": "=", "\u030a": "r", "\u0307": ".", "\u030b": "H",
               "\u0328": "k"}


def _greek(ch: str) -> str | None:
    name = unicodedata.name(ch, "")
    if not name.startswith("GREEK ") or " LETTER " not in name:
        return None
    word = name.rsplit(" ", 1)[-1].lower()
    word = {"lamda": "lambda", "final": "varsigma"}.get(word, word)
    if "CAPITAL" in name:
        if word in ("gamma", "delta", "theta", "lambda", "xi", "pi", "sigma", "upsilon", "phi", "psi", "omega"):
            return "$\\" + word.capitalize() + "$"
        return {"alpha": "A", "beta": "B", "epsilon": "E", "zeta": "Z", "eta": "H", "iota": "I",
                "kappa": "K", "mu": "M", "nu": "N", "omicron": "O", "rho": "P", "tau": "T",
                "chi": "X"}.get(word)
    if word == "omicron":
        return "o"
    return "$\\" + word + "$"


def tex_escape(s: str) -> str:
    """Text for pdflatex (``inputenc`` utf8, OT1): specials escaped, Latin
    accents as accent commands, Greek letters in math mode, any other
    non-ASCII character as ``<U+XXXX>`` (so the document always compiles)."""
    out = []
    for ch in unicodedata.normalize("NFC", str(s)):
        if ch in _TEX:
            out.append(_TEX[ch])
        elif ord(ch) < 128:
            out.append(ch if ch.isprintable() else " ")
        else:
            g = _greek(ch)
            if g is not None:
                out.append(g)
                continue
            dec = unicodedata.normalize("NFD", ch)
            if len(dec) == 2 and ord(dec[0]) < 128 and dec[1] in _TEX_ACCENT:
                base = r"\i" if dec[0] == "i" else dec[0]
                out.append("{\\%s{%s}}" % (_TEX_ACCENT[dec[1]], base))
            elif ch.isspace():
                out.append(" ")
            else:
                out.append(r"\textless{}U+%04X\textgreater{}" % ord(ch))
    return "".join(out)


_tex_escape = tex_escape  # the old name


def mpl_escape(s: str) -> str:
    """Text for a matplotlib title / legend: ``$`` escaped, so mathtext never
    parses a name (``$\\frac`` stays literal)."""
    return str(s).replace("$", r"\$")


# -- rendering --------------------------------------------------------------------

def _title(t: Table) -> str:
    from salbench.metrics.protocols import get_protocol
    try:
        desc = get_protocol(t.protocol).description
    except SalbenchError:
        desc = ""
    what = ("Comparison of methods (layout of Table 2 of Deng et al., IJCAI 2018)" if t.number == 2
            else "Ablation of R3Net (layout of Table 1 of Deng et al., IJCAI 2018)")
    s = f"{what}. Protocol: {t.protocol}" + (f" ({desc.rstrip('.')})" if desc else "") + "."
    if t.preset:
        s += f" Preset {t.preset}: {PRESETS[t.preset][2]}."
    if t.subset is not None:
        s += f" Subset: {t.subset} (" + ", ".join(f"{ds}: {n} images" for ds, n in t.subset_counts.items()) + ")."
    return s


def _value_text(t: Table, i: int, ds: str, key: str, style: str) -> str:
    """One cell: value with its rank mark (style markdown / plain / latex),
    interval, significance and partial marks."""
    r = t.rows[i]
    v = r.values.get((ds, key))
    if v is None:
        if (i, ds, key) in t.na:
            return NA
        return "--" if style == "latex" else MISSING
    s = f"{v:.3f}"
    rank = t.ranks.get((i, ds, key))
    if style == "latex":
        s = r"\textcolor{%s}{%s}" % ({1: "red", 2: "green", 3: "blue"}[rank], s) if rank else s
    elif style == "markdown":
        s = {1: f"**{s}**¹", 2: f"_{s}_²", 3: f"{s}³"}.get(rank, s)
    else:
        s = s + {1: "¹", 2: "²", 3: "³"}.get(rank, "")
    iv = t.cis.get((i, ds, key))
    if iv is not None:
        if iv[0] is None:
            ci = " ± n/a" if t.ci_format == "pm" else " [n/a]"
        elif t.ci_format == "pm":
            ci = f" ± {(iv[1] - iv[0]) / 2:.3f}"
        else:
            ci = f" [{iv[0]:.3f}, {iv[1]:.3f}]"
        s += (ci.replace("±", r"$\pm$").replace(" ", r"\,", 1) if style == "latex" else ci)
    if (i, ds, key) in t.similar:
        s += r"\,$\approx$" if style == "latex" else " ≈"
    if (i, ds) in t.partial_cells:
        s += (r"\,{\scriptsize(%s)}" % tex_escape(t.partial_cells[(i, ds)]) if style == "latex"
              else f" ({t.partial_cells[(i, ds)]})")
    return s


def _grid(t: Table, style: str) -> tuple[list[str], list[list[str]]]:
    esc = md_escape if style == "markdown" else (lambda s: s)
    head = ["Method"]
    for ds in t.datasets:
        for m in t.metrics:
            head.append(esc(ds) + (f" ({t.partial[ds]})" if ds in t.partial else "") + f" {METRICS[m][1]}")
    head += [{"params": "Params", "gmacs": "GMACs (300×300 unless marked @)", "fps": "FPS"}[c]
             for c in t.columns]
    body = []
    for i, r in enumerate(t.rows):
        cells = [("† " if r.claim else "") + esc(r.label)]
        for ds in t.datasets:
            for m in t.metrics:
                cells.append(_value_text(t, i, ds, METRICS[m][0], style))
        cells += [r.extra.get(c, MISSING) for c in t.columns]
        body.append(cells)
    return head, body


def _legend(t: Table, style: str) -> str:
    ranks = ("best¹ (**bold**), second² (_italic_), third³ in each column" if style == "markdown"
             else "best¹, second², third³ in each column")
    return (f"Legend: {ranks}; Fβ is the maximum F-measure (β² = 0.3), higher is better; "
            "MAE lower is better. " + " ".join(t.notes)).rstrip()


def render_text(t: Table, fmt: str = "markdown") -> str:
    """Markdown (``pipe``), GitHub (``github``) or plain text (``simple``) via tabulate."""
    from tabulate import tabulate
    style = "plain" if fmt == "plain" else "markdown"
    head, body = _grid(t, style)
    tablefmt = {"markdown": "pipe", "github": "github", "plain": "simple"}[fmt]
    table = tabulate(body, headers=head, tablefmt=tablefmt, disable_numparse=True,
                     colalign=("left",) + ("right",) * (len(head) - 1))
    title = _title(t) if style == "plain" else md_escape(_title(t)).replace(r"\_", "_")
    first = f"Table {t.number}. {title}" if style == "plain" else f"**Table {t.number}.** {title}"
    return "\n".join([first, "", table, "", _legend(t, style)]) + "\n"


def render_markdown(t: Table) -> str:
    return render_text(t, "markdown")


def render_latex_table(t: Table) -> str:
    ncol = len(t.metrics)
    spec = "l" + ("|" + "c" * ncol) * len(t.datasets) + ("|" + "r" * len(t.columns) if t.columns else "")
    skip = (PARTIAL_NOTE.split(":")[0],)
    extra = [n for n in t.notes if not n.startswith("†") and not n.startswith(skip)]
    out = [r"\begin{table}[ht]", r"\centering",
           r"\caption{" + tex_escape(_title(t)) + r" The top three results of each column are in "
           r"\textcolor{red}{red}, \textcolor{green}{green} and \textcolor{blue}{blue}"
           + (r"; rows marked $^\dagger$ are numbers reported in " + tex_escape(t.claims_paper or "the paper")
              + ", not measured here" if any(r.claim for r in t.rows) else "") + "."
           + (r" $^{*}$GMACs for one 300$\times$300 image unless marked @H$\times$W."
              if "gmacs" in t.columns else "")
           + (" " + tex_escape(PARTIAL_NOTE.format(
               claims=", such as the paper's †" if any(r.claim for r in t.rows) else ""))
              if t.partial or t.partial_cells else "")
           + "".join(" " + tex_escape(n) for n in extra) + "}",
           r"\resizebox{\ifdim\width>\textwidth\textwidth\else\width\fi}{!}{%",
           r"\begin{tabular}{" + spec + "}", r"\hline"]
    h1 = ["Method"] + [r"\multicolumn{%d}{c%s}{%s}" % (ncol, "|" if (j < len(t.datasets) - 1 or t.columns) else "",
                                                       tex_escape(ds + (f" ({t.partial[ds]})" if ds in t.partial else "")))
                  for j, ds in enumerate(t.datasets)]
    h1 += [{"params": "Params", "gmacs": r"GMACs\textsuperscript{*}", "fps": "FPS"}[c] for c in t.columns]
    h2 = [""] + [METRICS[m][2] for _ in t.datasets for m in t.metrics] + [""] * len(t.columns)
    out += [" & ".join(h1) + r" \\", " & ".join(h2) + r" \\", r"\hline"]
    first_claim = True
    for i, r in enumerate(t.rows):
        if r.claim and first_claim:
            out.append(r"\hline")
            first_claim = False
        cells = [(r"$^\dagger$" if r.claim else "") + tex_escape(r.label)]
        for ds in t.datasets:
            for m in t.metrics:
                cells.append(_value_text(t, i, ds, METRICS[m][0], "latex"))
        cells += [tex_escape(r.extra.get(c, MISSING)) for c in t.columns]
        out.append(" & ".join(cells) + r" \\")
    out += [r"\hline", r"\end{tabular}}", r"\end{table}"]
    return "\n".join(out) + "\n"


def render_latex(tables: list[Table]) -> str:
    body = "\n".join(render_latex_table(t) for t in tables)
    return ("% generated by salbench report; needs only texlive-latex-base (color, graphicx)\n"
            r"\documentclass{article}" "\n" r"\usepackage[utf8]{inputenc}" "\n"
            r"\usepackage{color}" "\n" r"\usepackage{graphicx}" "\n"
            r"\begin{document}" "\n" + body + r"\end{document}" "\n")


# -- exports ------------------------------------------------------------------------

def records(t: Table) -> list[dict]:
    """The table as long-form records: one per (row, dataset, metric)."""
    out = []
    for i, r in enumerate(t.rows):
        for ds in t.datasets:
            for m in t.metrics:
                k = METRICS[m][0]
                v = r.values.get((ds, k))
                if v is None and (i, ds, k) not in t.na:
                    continue
                iv = t.cis.get((i, ds, k))
                out.append({"method": r.label, "claim": r.claim, "dataset": ds, "protocol": t.protocol,
                            "metric": k, "value": v, "rank": t.ranks.get((i, ds, k)),
                            "ci_lo": iv[0] if iv else None, "ci_hi": iv[1] if iv else None,
                            "ci_note": (iv[2] if iv and iv[0] is None else None)
                            or (NA + ": " + __import__("salbench.report.analysis").analysis.NEEDS_CURVES
                                if (i, ds, k) in t.na else None),
                            "not_sig_worse_than_best": (i, ds, k) in t.similar if t.similar else None,
                            "count": r.counts.get(ds), "subset": t.subset})
    return out


def render_csv(tables: list[Table], prov: dict) -> str:
    import pandas as pd
    rows = [rec for t in tables for rec in records(t)]
    df = pd.DataFrame(rows)
    runs = pd.DataFrame(prov["runs"]) if prov["runs"] else pd.DataFrame(
        columns=["method", "dataset", "dataset_fingerprint", "weights_sha256", "maps_sha256", "source_sha256"])
    from salbench.data.datasets import canonical_name
    if len(runs):
        runs = runs.assign(dataset=[canonical_name(d) for d in runs["dataset"]])
    cols = ["method", "dataset", "dataset_fingerprint", "weights_sha256", "maps_sha256", "source_sha256"]
    df = df.merge(runs[cols].drop_duplicates(["method", "dataset"]), on=["method", "dataset"], how="left")
    df.insert(0, "salbench_version", prov["salbench_version"])
    return df.to_csv(index=False)


def render_json(tables: list[Table], prov: dict) -> str:
    import json
    return json.dumps({"provenance": prov,
                       "tables": [{"title": f"Table {t.number}. {_title(t)}", "subset": t.subset,
                                   "subset_counts": t.subset_counts, "notes": t.notes,
                                   "rows": records(t)} for t in tables]},
                      indent=1, default=lambda o: None if isinstance(o, float) and not math.isfinite(o) else str(o))


def render_html(tables: list[Table], prov: dict, figures: list[Path] | None = None) -> str:
    """One self-contained page: sortable tables (click a header), intervals,
    the curves as embedded PNG, provenance in the footer."""
    import base64
    import html as H
    parts = []
    for n, t in enumerate(tables):
        head, body = _grid(t, "plain")
        ths = "".join(f'<th onclick="sortBy({n},{j})">{H.escape(h)}</th>' for j, h in enumerate(head))
        trs = []
        for i, (r, cells) in enumerate(zip(t.rows, body)):
            tds = [f'<td data-v="{H.escape(r.label)}">{H.escape(cells[0])}</td>']
            j = 1
            for ds in t.datasets:
                for m in t.metrics:
                    v = r.values.get((ds, METRICS[m][0]))
                    rank = t.ranks.get((i, ds, METRICS[m][0]))
                    cls = f' class="r{rank}"' if rank else ""
                    tds.append(f'<td{cls} data-v="{"" if v is None else repr(v)}">{H.escape(cells[j])}</td>')
                    j += 1
            tds += [f'<td data-v="{H.escape(c)}">{H.escape(c)}</td>' for c in cells[j:]]
            trs.append(f'<tr class="{"claim" if r.claim else ""}">' + "".join(tds) + "</tr>")
        parts.append(f'<h2>Table {t.number}{": " + H.escape(t.subset) if t.subset else ""}</h2>'
                     f'<p>{H.escape(_title(t))}</p><table id="t{n}"><thead><tr>{ths}</tr></thead>'
                     f'<tbody>{"".join(trs)}</tbody></table><p class="legend">{H.escape(_legend(t, "plain"))}</p>')
    figs = ""
    for f in figures or []:
        if f.suffix == ".png" and f.is_file():
            b64 = base64.b64encode(f.read_bytes()).decode()
            figs += f'<figure><img alt="{H.escape(f.stem)}" src="data:image/png;base64,{b64}"><figcaption>{H.escape(f.stem)}</figcaption></figure>'
    runs = "".join(
        "<tr>" + "".join(f"<td>{H.escape(str(r.get(k) or MISSING))}</td>" for k in
                         ("method", "dataset", "dataset_fingerprint", "weights_sha256", "maps_sha256",
                          "source_sha256")) + "</tr>" for r in prov["runs"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>salbench leaderboard ({H.escape(prov['protocol'])})</title>
<style>
body{{font-family:sans-serif;margin:2em;color:#222;background:#fff}}
table{{border-collapse:collapse;margin:1em 0}} th,td{{border:1px solid #bbb;padding:4px 8px;text-align:right}}
th{{background:#eef;cursor:pointer;user-select:none}} td:first-child,th:first-child{{text-align:left}}
td.r1{{color:#c00;font-weight:bold}} td.r2{{color:#080}} td.r3{{color:#00c}} tr.claim{{background:#f6f6f6;font-style:italic}}
footer{{margin-top:2em;font-size:80%;color:#555}} footer td{{text-align:left;font-family:monospace}}
figure{{display:inline-block;margin:0.5em}} img{{max-width:480px}}
</style></head><body>
<h1>Salient object detection leaderboard</h1>
{''.join(parts)}
<section>{figs}</section>
<footer><p>Generated by salbench {H.escape(prov['salbench_version'])}; protocol {H.escape(prov['protocol'])}
({H.escape(str(prov.get('protocol_details', {}).get('description', '')))}).
Click a column header to sort.</p>
<table><thead><tr><th>method</th><th>dataset</th><th>dataset fingerprint</th><th>weights sha256</th><th>maps sha256</th><th>source sha256</th></tr></thead>
<tbody>{runs}</tbody></table></footer>
<script>
function sortBy(n, j) {{
  var tb = document.getElementById('t' + n).tBodies[0];
  var rows = Array.prototype.slice.call(tb.rows);
  var th = document.getElementById('t' + n).tHead.rows[0].cells[j];
  var asc = th.getAttribute('data-dir') !== 'asc';
  th.setAttribute('data-dir', asc ? 'asc' : 'desc');
  rows.sort(function (a, b) {{
    var x = a.cells[j].getAttribute('data-v'), y = b.cells[j].getAttribute('data-v');
    var fx = parseFloat(x), fy = parseFloat(y);
    var c = (isNaN(fx) || isNaN(fy)) ? String(x).localeCompare(String(y)) : fx - fy;
    if (isNaN(fx) && !isNaN(fy)) c = 1; if (!isNaN(fx) && isNaN(fy)) c = -1;
    return asc ? c : -c;
  }});
  rows.forEach(function (r) {{ tb.appendChild(r); }});
  document.body.setAttribute('data-sorted', n + ':' + j + ':' + (asc ? 'asc' : 'desc'));
}}
</script></body></html>
"""


# -- figures ------------------------------------------------------------------------

def figures(store, out_dir: Path, *, protocol: str, datasets: list[str] | None,
            methods: list[str] | None) -> list[Path]:
    """PR curves and F-measure-vs-threshold curves, one figure each per dataset."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from salbench.data.datasets import canonical_name, count_label
    from salbench.metrics.numeric import BETA2
    sums = store.summaries(methods=methods, datasets=None, protocol=protocol, curves=True)
    for s in sums:  # one spelling per dataset, the one `--datasets` and the tables use
        s["dataset"] = canonical_name(s["dataset"])
    if datasets:
        wanted = {canonical_name(d).lower() for d in datasets}
        sums = [s for s in sums if s["dataset"].lower() in wanted]
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for ds in _dataset_order({s["dataset"] for s in sums}):
        rows = [s for s in sums if s["dataset"] == ds and s.get("curves")
                and s["curves"].get("precision") and s["curves"].get("recall")]
        if not methods:
            rows = [s for s in rows if s["method"].lower() not in TABLE1_ROWS] or rows
        if not rows:
            continue
        fig_pr, ax_pr = plt.subplots(figsize=(5, 4.2))
        fig_f, ax_f = plt.subplots(figsize=(5, 4.2))
        for s in sorted(rows, key=lambda s: s["method"].lower()):
            p = [float(x) for x in s["curves"]["precision"]]
            r = [float(x) for x in s["curves"]["recall"]]
            f = s["curves"].get("f_curve")
            if not f:
                f = [(1 + BETA2) * a * b / (BETA2 * a + b) if (BETA2 * a + b) > 0 else 0.0
                     for a, b in zip(p, r)]
            part = count_label(ds, s.get("count"))
            lab = f"{mpl_escape(s['method'])} (maxF {max(f):.3f}" + (f", partial {part} images)" if part else ")")
            ax_pr.plot(r, p, label=lab, lw=1.4)
            ax_f.plot(range(len(f)), f, label=lab, lw=1.4)
        ax_pr.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
                  title=mpl_escape(f"PR curves, {ds} ({protocol})"))
        ax_f.set(xlabel="threshold", ylabel="F-measure (β²=0.3)", xlim=(0, 255), ylim=(0, 1.02),
                 title=mpl_escape(f"F-measure curves, {ds} ({protocol})"))
        for fig, ax, kind in ((fig_pr, ax_pr, "pr"), (fig_f, ax_f, "fmeasure")):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="lower left" if kind == "pr" else "lower center")
            fig.tight_layout()
            stem = out_dir / f"{kind}_{_file_safe(ds)}_{protocol}"
            for ext in (".png", ".pdf"):
                fig.savefig(stem.with_suffix(ext), dpi=150)
                written.append(stem.with_suffix(ext))
            plt.close(fig)
    return written


def _file_safe(s: str) -> str:
    import re
    return re.sub(r"[^\w.+-]", "_", s)


# -- CLI -------------------------------------------------------------------------

FORMATS = ("markdown", "github", "plain", "latex", "csv", "json", "html")
SUFFIX_FORMAT = {".tex": "latex", ".csv": "csv", ".json": "json", ".html": "html", ".htm": "html",
                 ".txt": "plain"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default="results", help="results root (default ./results)")
    p.add_argument("--store", help="results database (default <results>/salbench.sqlite)")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="output format (default: from -o's suffix .tex/.csv/.json/.html/.txt, else markdown)")
    p.add_argument("--datasets", help="datasets (columns), comma-separated (default: all present)")
    p.add_argument("--methods", help="methods (rows), comma-separated (default: all present)")
    p.add_argument("--protocol", default=None, help="protocol (default pysodmetrics, or the preset's)")
    p.add_argument("--metrics", default=None,
                   help="per-dataset metrics: maxF,mae,meanF,adpF,S,maxE,meanE,adpE,wF (default maxF,mae)")
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="; ".join(f"{k}: {v[2]}" for k, v in PRESETS.items()))
    p.add_argument("--columns", default="", help="extra per-method columns: params,gmacs,fps")
    p.add_argument("--table", type=int, choices=(1, 2), default=2,
                   help="2: methods comparison (default); 1: R3Net ablation rows")
    p.add_argument("--claims", nargs="?", const="builtin", default="builtin", metavar="FILE",
                   help="papers' reported numbers as † rows: a CSV / JSON claims file "
                        "(salbench.report.claims.load_claims); default: the shipped R3Net claims "
                        "(protocol r3net only)")
    p.add_argument("--no-claims", dest="claims", action="store_const", const=None,
                   help="no claimed numbers")
    p.add_argument("--claim-tolerance", type=float, default=CLAIM_TOLERANCE,
                   help=f"flag claims differing from the measurement by more (default {CLAIM_TOLERANCE})")
    p.add_argument("--ci", action="store_true", help="bootstrap 95%% intervals over images")
    p.add_argument("--ci-format", choices=("pm", "interval"), default="pm",
                   help="pm: 0.847 ± 0.012 (half-width); interval: 0.847 [0.835, 0.859]")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--significance", action="store_true",
                   help="mark (≈) methods not significantly different from each column's best")
    p.add_argument("--test", choices=("wilcoxon", "permutation"), default="wilcoxon",
                   help="paired test of --significance (default wilcoxon)")
    p.add_argument("--by", choices=("size", "components", "border", "empty"),
                   help="one table per built-in image subset, computed from the GT")
    p.add_argument("--subsets", metavar="FILE",
                   help="one table per subset of a label file (CSV / JSON: image -> attributes)")
    p.add_argument("--data-root", help="where to find the GT when no run recorded its folder (--by)")
    p.add_argument("--sort", metavar="METRIC[:DATASET]",
                   help="order the rows by a metric, best first (its mean over the datasets shown, or "
                        "on one dataset: maxF:SOD); default: the order of --methods, else the paper's "
                        "Table 2 order for its methods, then by name")
    p.add_argument("--figures", metavar="DIR", help="also write PR and F-measure curves (PNG + PDF)")
    p.add_argument("-o", "--output", help="write to this file (default: stdout)")


def subset_images(store, datasets: list[str], *, by: str | None = None, labels: str | None = None,
                  protocol: str = "pysodmetrics", data_root=None) -> list[tuple[str, dict[str, list[str]]]]:
    """[(subset label, {dataset: image names})] of a built-in kind or a label file."""
    from salbench.report import analysis
    from salbench.metrics.protocols import get_protocol
    out: dict[str, dict[str, list[str]]] = {}
    if labels:
        subs = analysis.load_labels(labels)
        for lab, names in subs.items():
            out[lab] = {ds: list(names) for ds in datasets}
    else:
        gt_min = get_protocol(protocol).gt_min_fg
        for ds in datasets:
            attrs = analysis.gt_attributes(analysis.dataset_gt_pairs(store, ds, data_root), gt_min)
            for lab, names in analysis.builtin_subsets(attrs, by).items():
                out.setdefault(lab, {})[ds] = names
    return list(out.items())


def main(args: argparse.Namespace) -> int:
    import tempfile

    from salbench.report import analysis
    from salbench.report.claims import load_claims
    from salbench.metrics.protocols import DEFAULT_PROTOCOL, get_protocol
    from salbench.store.results import ResultsStore, default_path

    path = Path(args.store) if args.store else default_path(args.results)
    if not path.is_file():
        raise SalbenchError(f"no results store at {path} (run `salbench run` first, or pass --results)")
    preset = PRESETS.get(args.preset) if args.preset else None
    protocol = get_protocol(args.protocol or (preset[0] if preset else DEFAULT_PROTOCOL)).name
    metrics = _metric_list(args.metrics or (preset[1] if preset else None))
    fmt = args.format or (SUFFIX_FORMAT.get(Path(args.output).suffix.lower(), "markdown")
                          if args.output else "markdown")
    split = (lambda s: [x.strip() for x in s.split(",") if x.strip()] if s else None)
    if args.claims is None:
        claims: bool | list[dict] = False
    elif args.claims == "builtin":
        claims = True
    else:
        claims = load_claims(args.claims)
    if args.by and args.subsets:
        raise SalbenchError("--by and --subsets: choose one")
    common = dict(number=args.table, protocol=protocol, methods=split(args.methods), metrics=metrics,
                  columns=_column_list(args.columns), claims=claims, ci=args.ci,
                  n_boot=args.resamples, seed=args.seed, ci_format=args.ci_format,
                  significance=args.significance, test=args.test,
                  claim_tolerance=args.claim_tolerance, sort=args.sort)
    if args.output:
        check_output_file(args.output, "-o")
    if args.figures:
        ensure_folder(args.figures, "--figures")
    with ResultsStore(path, read_only=True) as store:
        frame = results_frame(store, protocol)
        t0 = build_table(store, datasets=split(args.datasets), frame=frame, **common)
        t0.preset = args.preset
        tables = [t0]
        if args.by or args.subsets:
            per_image = results_frame(store, protocol, per_image=True)
            tables = []
            for lab, images in subset_images(store, t0.datasets, by=args.by, labels=args.subsets,
                                             protocol=protocol, data_root=args.data_root):
                if not any(images.values()):
                    continue
                t = build_table(store, datasets=t0.datasets, frame=frame, images=images, subset=lab,
                                per_image=per_image, **common)
                t.preset = args.preset
                tables.append(t)
            if not tables:
                raise SalbenchError("no image falls in any subset")
        written: list[Path] = []
        fig_dir = args.figures
        tmp = None
        if fmt == "html" and not fig_dir:
            tmp = tempfile.TemporaryDirectory()
            fig_dir = tmp.name
        if fig_dir:
            written = figures(store, Path(fig_dir), protocol=protocol,
                              datasets=t0.datasets, methods=split(args.methods))
            if args.figures:
                print(f"{len(written)} figure file(s) in {args.figures}", file=sys.stderr)
        if fmt in ("csv", "json", "html"):
            results_root = Path(args.results) if not args.store else path.parent
            prov = analysis.provenance(store, results_root, protocol)
            text = {"csv": lambda: render_csv(tables, prov), "json": lambda: render_json(tables, prov),
                    "html": lambda: render_html(tables, prov, written)}[fmt]()
        elif fmt == "latex":
            text = render_latex(tables)
        else:
            text = "\n".join(render_text(t, fmt) for t in tables)
            if args.figures and args.output and written:
                rel_base = Path(args.output).resolve().parent
                imgs = [w for w in written if w.suffix == ".png"]
                text += "\n" + "\n".join(f"![{w.stem}]({_rel(w, rel_base)})" for w in imgs) + "\n"
        if tmp is not None:
            tmp.cleanup()
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _rel(p: Path, base: Path) -> str:
    import os
    try:
        return os.path.relpath(p.resolve(), base)
    except ValueError:
        return str(p)
