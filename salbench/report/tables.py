"""Building report tables from the results store.

Layouts follow Deng et al., IJCAI 2018 (R3Net):

* ``number=2`` (default), the paper's Table 2: one row per method, max Fβ
  ("Fβ" in the paper) and MAE for each dataset; the best three values of each
  column are ranked (MAE lower-is-better). Rows of the R3Net ablation (Table 1
  names) are left out unless asked for with ``methods``.
* ``number=1``, the paper's Table 1 (ablation): rows r3net-0 ... r3net-7,
  r3net-wo-r, r3net-ws, r3net-ll, r3net-hh, r3net-d, r3net-v, those present.

Ranks are computed over every row shown, the paper's own reported numbers
included (the paper ranks its rows only); ties (after rounding to the three
printed decimals) share a rank.

Numbers the paper reports (:mod:`salbench.report.claims`) appear under protocol
``r3net`` only, as a separate block of rows marked † ("reported in the paper,
not measured here"); a claims file adds other papers' numbers, and deltas
beyond the tolerance are flagged. Optional columns: more metrics and
per-method params, GMACs and FPS.

Analysis (:mod:`salbench.report.analysis`): bootstrap intervals over images,
significance marks (≈) for the methods not significantly different from each
column's best (paired Wilcoxon signed-rank, Holm-corrected per column), and
tables over image subsets (:func:`subset_images`). Metrics that are not a mean
of per-image values (max F, max E; mean F under ``r3net``) get no interval,
test or subset value: "n/a (needs per-image curves)", which the store does
not keep.

Dataset names (asked for and stored) go through
:func:`salbench.data.datasets.canonical_name`: ``pascal``, ``Pascal-S`` and
``pascals`` all select the results stored under ``PASCAL-S``.

Partial datasets: results over fewer images than the dataset's registered count
(a partial folder) are marked ``n/N``: in the column header (``SOD (120/300)``)
when every measured row of that column has the same n, else on each partial
cell (``0.812 (120/300)``); a note under the table explains the mark. Rows of
the paper (†) are always full-set numbers. Datasets without a registered count
(ad-hoc folders) are never partial.

The tables are drawn by :mod:`.render` (text, LaTeX, CSV, JSON),
:mod:`.html` and :mod:`.figures`; ``salbench report`` is
:mod:`salbench.commands.report`.
"""

from __future__ import annotations

import math

from salbench.errors import SalbenchError
from salbench.report.layout import (CLAIM_TOLERANCE, DEFAULT_COST_SIZE, KEY_NAME, METRICS, MISSING, NA,
                                    PARTIAL_NOTE, TABLE1_ROWS, Row, Table, dataset_order)

__all__ = ["build_table", "results_frame", "subset_images"]


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


def results_frame(store, protocol: str, per_image: bool = False):
    """The DataFrame of :func:`salbench.store.frames.results_frame` for this store and protocol."""
    from salbench.store.frames import results_frame as frame
    return frame(store.path, protocol=protocol, per_image=per_image)


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


def _present_datasets(df) -> dict[str, str]:
    """Lower-case canonical name -> the stored spelling used for it: the
    canonical one when stored, else the first."""
    from salbench.data.datasets import canonical_name
    present_ds: dict[str, str] = {}
    for d in (list(df["dataset"]) if len(df) else []):
        c = canonical_name(d)
        if c.lower() not in present_ds or d == c:
            present_ds[c.lower()] = d if d == c or c.lower() not in present_ds else present_ds[c.lower()]
    return present_ds


def _table_datasets(datasets: list[str] | None, present: set[str]) -> list[str]:
    """The columns: the user's order in canonical names (the stored spelling
    of unregistered ones), else the paper's order of those present."""
    from salbench.data.datasets import canonical_name
    if not datasets:
        return dataset_order(present)
    low = {d.lower(): d for d in present}
    ds_names: list[str] = []
    for d in datasets:
        name = low.get(canonical_name(d).lower(), canonical_name(d))
        if name not in ds_names:
            ds_names.append(name)
    return ds_names


def _by_method(df, present_ds: dict[str, str]) -> dict[str, dict[str, dict]]:
    """method -> dataset -> summary record; of two stored spellings of one
    dataset the canonical one wins."""
    df = _canon_frame(df, present_ds)
    if len(df):
        df = df.assign(_pref=(df["dataset"] == df["dataset_stored"]).astype(int))
        df = df.sort_values("_pref", ascending=False, kind="stable").drop_duplicates(["method", "dataset"])
    by_method: dict[str, dict[str, dict]] = {}
    for rec in df.to_dict("records"):
        by_method.setdefault(rec["method"], {})[rec["dataset"]] = rec
    return by_method


def _row_labels(number: int, by_method: dict, mlow: list[str] | None) -> list[str]:
    """The measured rows: Table 1's ablation rows, or every other method (the
    order of ``--methods``, else the paper's Table 2 order, then by name)."""
    from salbench.report import claims as claims_mod
    if number == 1:
        labels = [m for m in TABLE1_ROWS if m in {k.lower() for k in by_method}]
        labels = [next(k for k in by_method if k.lower() == m) for m in labels]
        return [m for m in labels if m.lower() in mlow] if mlow else labels
    labels = [m for m in by_method if (m.lower() in mlow if mlow else m.lower() not in TABLE1_ROWS)]
    if mlow:  # the order the user gave
        labels.sort(key=lambda m: mlow.index(m.lower()))
    else:  # the paper's Table 2 order for its methods, then by name
        order = {k: i for i, k in enumerate(claims_mod.ORDER.get("table2", []))}
        labels.sort(key=lambda m: (order.get(m.lower(), len(order)), m.lower()))
    return labels


def _measured_row(lab: str, ds_names: list[str], summaries: dict[str, dict], keys: list[str],
                  protocol: str, images, per_image, na: set, loader=None) -> Row:
    """One method's row: the stored values, or with ``images`` the means of
    its per-image scores over the subset (a curve-aggregated metric from the
    mean of its stored per-image curves over the subset; without them, or for
    any other metric that is not a mean of per-image scores, it goes to ``na``)."""
    from salbench.report import analysis
    from salbench.report import curves as C
    r = Row(lab)
    for ds in ds_names:
        s = summaries.get(ds)
        if not s:
            continue
        if images is None:
            for k in keys:
                v = s.get(k)
                if isinstance(v, (int, float)) and math.isfinite(v):
                    r.values[(ds, k)] = float(v)
            r.counts[ds] = int(s["count"]) if s.get("count") is not None else None
            continue
        sub = per_image[(per_image["method"] == lab) & (per_image["dataset"] == ds)]
        if sub.empty:
            continue
        for k in keys:
            if analysis.is_mean_metric(k, protocol) and k in sub.columns:
                v = sub[k].astype(float).mean()
                if math.isfinite(v):
                    r.values[(ds, k)] = float(v)
                continue
            arr = C.aligned(loader, lab, ds, list(sub["image"])) if C.covers(k) else None
            if arr is None:
                na.add((lab, ds, k))
            else:
                r.values[(ds, k)] = C.value(arr, k, protocol)
        r.counts[ds] = len(sub)
    return r


def _claim_records(store, claims, number: int, protocol: str) -> tuple[list[dict], list[str], str]:
    """(claim records, their row order, the paper they come from): the
    shipped R3Net claims (``claims=True``, protocol ``r3net`` only) or those
    of a claims file that match the protocol and table."""
    from salbench.report import claims as claims_mod
    if claims is True and protocol == claims_mod.PROTOCOL:
        recs = [dict(c, key=c["method"]) for c in store.claims(table=f"table{number}", protocol=protocol)]
        return recs, claims_mod.ORDER.get(f"table{number}", []), claims_mod.PAPER
    if isinstance(claims, list):
        recs = [dict(c, key=str(c["method"]).lower()) for c in claims
                if (not c.get("protocol") or c["protocol"] == protocol)
                and (not str(c.get("table") or "").startswith("table")
                     or c["table"] == f"table{number}")]
        papers = sorted({c.get("paper") or "" for c in recs} - {""})
        return recs, list(dict.fromkeys(c["key"] for c in recs)), "; ".join(papers) or "the claims file"
    return [], [], ""


def _claim_rows(recs: list[dict], order: list[str], ds_names: list[str], mlow: list[str] | None,
                keys: list[str]) -> list[Row]:
    """One † row per claimed method, on the datasets and metrics shown."""
    from salbench.data.datasets import canonical_name
    by_key: dict[str, Row] = {}
    for key in order:
        for c in recs:
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
    return list(by_key.values())


def _nothing_to_report(store, protocol: str, methods, datasets) -> SalbenchError:
    """The error for an empty table, naming the protocols the store does hold."""
    others = sorted({r["protocol"] for r in store._query("SELECT DISTINCT protocol FROM summaries", [])}
                    - {protocol})
    return SalbenchError(
        f"nothing to report under protocol {protocol!r}"
        + (f" for methods {methods}" if methods else "")
        + (f" on {datasets}" if datasets else "")
        + (f"; the store holds results under protocol {', '.join(map(repr, others))} "
           f"(--protocol {others[0]})" if others else
           " (run `salbench run` first, or pick another --results)"))


def _claim_notes(t: Table, claims, paper: str, recs: list[dict], tol: float) -> None:
    """The † note, and the claims that differ from the measurement."""
    from salbench.report import claims as claims_mod
    if claims is True:
        t.notes.append(f"† reported in {claims_mod.PAPER}, Table {t.number} (not measured here).")
    else:
        t.notes.append(f"† reported in {paper} (not measured here).")
        if any(not c.get("protocol") for c in recs):
            t.notes.append("Some claims do not state their protocol; compare with care.")
    t.claims_paper = paper
    _flag_claims(t, tol)


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
    df = frame if frame is not None else results_frame(store, protocol)
    present_ds = _present_datasets(df)
    ds_names = _table_datasets(datasets, set(present_ds.values()))
    by_method = _by_method(df, present_ds)
    mlow = [m.lower() for m in methods] if methods else None
    keys = [METRICS[m][0] for m in metrics]
    if (ci or significance or images is not None) and per_image is None:
        per_image = _canon_frame(results_frame(store, protocol, per_image=True), present_ds)
    if images is not None and per_image is not None and len(per_image):
        keep = {(d, n) for d, names in images.items() for n in names}
        per_image = per_image[[(d, n) in keep for d, n in zip(per_image["dataset"], per_image["image"])]]
    rows: list[Row] = []
    method_info = store.methods()
    na: set = set()
    from salbench.report.curves import store_loader
    loader = store_loader(store, protocol)
    for lab in _row_labels(number, by_method, mlow):
        r = _measured_row(lab, ds_names, by_method[lab], keys, protocol, images, per_image, na, loader)
        if not r.values and not any(x[0] == lab for x in na):
            continue  # nothing on the datasets shown
        r.extra = _extra(store, method_info.get(lab), lab, columns)
        rows.append(r)
    if sort:
        _sort_rows(rows, sort, ds_names)
    recs, order, paper = _claim_records(store, claims, number, protocol) if images is None else ([], [], "")
    rows.extend(_claim_rows(recs, order, ds_names, mlow, keys) if recs else [])
    if not rows:
        raise _nothing_to_report(store, protocol, methods, datasets)
    t = Table(number, protocol, ds_names, metrics, columns, rows, ci_format=ci_format, subset=subset)
    t.na = {(i, ds, k) for i, r in enumerate(rows) for (lab, ds, k) in na if r.label == lab and not r.claim}
    if images is not None:
        t.subset_counts = {ds: len(set(images.get(ds, ()))) for ds in ds_names}
        if t.na:
            t.notes.append(f"{NA}: needs per-image curves - a dataset-level metric (max over "
                           f"thresholds of a mean curve, or F of mean P / R) is not a mean of the "
                           f"stored per-image scores; it is computed on a subset only where "
                           f"`salbench run --keep-curves` stored each image's curves.")
    _rank(t)
    if any(r.claim for r in rows):
        _claim_notes(t, claims, paper, recs, claim_tolerance)
    if ci:
        _add_cis(t, per_image, n_boot=n_boot, seed=seed, curves=loader)
    if significance:
        _add_significance(t, per_image, test, curves=loader)
    _mark_partial(t)
    return t


def _flag_claims(t: Table, tol: float) -> None:
    """Note the claims that differ from the measured value by more than ``tol``."""
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


def _add_cis(t: Table, per_image, *, n_boot: int, seed: int, curves=None) -> None:
    """Bootstrap intervals of the measured cells, and their note."""
    from salbench.report import analysis
    keys = [METRICS[m][0] for m in t.metrics]
    got = analysis.intervals(per_image, t.protocol, keys, n_boot=n_boot, seed=seed, curves=curves)
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
                                  "curves: store each image's curves with salbench run --keep-curves)"
                                  if w == analysis.NEEDS_CURVES else "") for w in whats) + "."


def _add_significance(t: Table, per_image, test: str, curves=None) -> None:
    """Mark (≈) the cells not significantly different from their column's best."""
    from salbench.report import analysis
    untested, bootstrapped = [], False
    for ds in t.datasets:
        for m in t.metrics:
            k = METRICS[m][0]
            vals = {r.label: r.values[(ds, k)] for r in t.rows if not r.claim and (ds, k) in r.values}
            best, similar = analysis.not_worse_than_best(per_image, ds, k, t.protocol, vals, test=test,
                                                         curves=curves)
            if not analysis.is_mean_metric(k, t.protocol):
                if best is None:
                    if vals:
                        untested.append(f"{ds} {METRICS[m][1]}")
                    continue
                bootstrapped = True
            for i, r in enumerate(t.rows):
                if not r.claim and r.label in similar:
                    t.similar.add((i, ds, k))
    t.notes.append(f"≈ not significantly different from the best measured value of its column "
                   f"({analysis.TESTS[test]} on the images both have, Holm-corrected over the column, "
                   f"α = 0.05)"
                   + ("; curve-aggregated metrics by a paired bootstrap of the dataset-level "
                      "difference (1000 resamples) from the stored per-image curves" if bootstrapped else "")
                   + (f"; not tested ({analysis.NEEDS_CURVES}): {', '.join(untested)}"
                      if untested else "") + ".")


def _extra(store, info: dict | None, label: str, columns: list[str]) -> dict[str, str]:
    """The per-method columns (params, GMACs, FPS) of one row, as text."""
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
    """The top three values (rounded to three decimals) of each column."""
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
