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

Numbers the paper reports (:mod:`salbench.claims`) appear under protocol
``r3net`` only, as a separate block of rows marked † ("reported in the paper,
not measured here"). Every table states its protocol. Optional extra metric
columns (``--metrics``) and per-method columns (``--columns params,gmacs,fps``).
``--figures DIR`` writes a PR-curve and an F-measure-curve figure per dataset
(matplotlib, Agg backend; PNG and PDF).

Dataset names (``--datasets`` and the stored ones) go through
:func:`salbench.datasets.canonical_name`: ``--datasets pascal``, ``Pascal-S`` and
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
from dataclasses import dataclass, field
from pathlib import Path

from salbench.errors import SalbenchError

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

TABLE1_ROWS = ("r3net-0", "r3net-1", "r3net-2", "r3net-3", "r3net-4", "r3net-5", "r3net-6",
               "r3net-7", "r3net-wo-r", "r3net-ws", "r3net-ll", "r3net-hh", "r3net-d", "r3net-v")
EXTRA_COLUMNS = ("params", "gmacs", "fps")
#: the input size GMACs are counted at unless a method declares its own
#: (``Method.cost_size``); other sizes are written beside the value
DEFAULT_COST_SIZE = "300x300"
MISSING = "–"


@dataclass
class Row:
    label: str
    claim: bool = False
    values: dict[tuple[str, str], float] = field(default_factory=dict)  # (dataset, key) -> value
    extra: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int | None] = field(default_factory=dict)  # dataset -> images scored


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


PARTIAL_NOTE = ("n/N: a partial dataset: scored on the n images found of its N registered images "
                "(not comparable with full-set numbers{claims}).")


def _mark_partial(t: Table) -> None:
    """Fill ``t.partial`` / ``t.partial_cells`` from the rows' image counts."""
    from salbench.datasets import count_label
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
    from salbench.datasets import DATASETS, TEST_SETS
    order = list(TEST_SETS) + [d.name for d in DATASETS.values() if d.name not in TEST_SETS]
    low = {n.lower(): n for n in names}
    out = [low[o.lower()] for o in order if o.lower() in low]
    return out + sorted(n for n in names if n not in out)


def build_table(store, *, number: int = 2, protocol: str, datasets: list[str] | None,
                methods: list[str] | None, metrics: list[str], columns: list[str],
                claims: bool = True) -> Table:
    from salbench import claims as claims_mod
    from salbench.datasets import canonical_name
    summaries = store.summaries(methods=None, datasets=None, protocol=protocol)
    present_ds = {canonical_name(s["dataset"]) for s in summaries}
    if datasets:  # the user's order, canonical names; stored spelling of unregistered ones
        low = {d.lower(): d for d in present_ds}
        ds_names = []
        for d in datasets:
            name = low.get(canonical_name(d).lower(), canonical_name(d))
            if name not in ds_names:
                ds_names.append(name)
    else:
        ds_names = _dataset_order(present_ds)
    by_method: dict[str, dict[str, dict]] = {}
    for s in summaries:
        ds = canonical_name(s["dataset"])
        ds = next((d for d in present_ds if d.lower() == ds.lower()), ds)
        have = by_method.setdefault(s["method"], {}).get(ds)
        # two stored spellings of one dataset: the canonical one wins
        if have is None or (have["dataset"] != ds and s["dataset"] == ds):
            by_method[s["method"]][ds] = s
    mlow = [m.lower() for m in methods] if methods else None
    if number == 1:
        labels = [m for m in TABLE1_ROWS if m in {k.lower() for k in by_method}]
        labels = [next(k for k in by_method if k.lower() == m) for m in labels]
        if mlow:
            labels = [m for m in labels if m.lower() in mlow]
    else:
        labels = [m for m in by_method if (m.lower() in mlow if mlow else m.lower() not in TABLE1_ROWS)]
        order = {k: i for i, k in enumerate(claims_mod.ORDER.get("table2", []))}
        labels.sort(key=lambda m: (order.get(m.lower(), len(order)), m.lower()))
    keys = [METRICS[m][0] for m in metrics]
    rows: list[Row] = []
    method_info = store.methods()
    for lab in labels:
        r = Row(lab)
        for ds in ds_names:
            s = by_method[lab].get(ds)
            if s:
                for k in keys:
                    v = s["scores"].get(k)
                    if isinstance(v, (int, float)) and math.isfinite(v):
                        r.values[(ds, k)] = float(v)
                r.counts[ds] = s.get("count")
        if not r.values:
            continue  # nothing on the datasets shown
        r.extra = _extra(store, method_info.get(lab), lab, columns)
        rows.append(r)
    if claims and protocol == claims_mod.PROTOCOL:
        tab = f"table{number}"
        cl = store.claims(table=tab, protocol=protocol)
        by_key: dict[str, Row] = {}
        for key in claims_mod.ORDER.get(tab, []):
            for c in cl:
                if c["method"] != key or (c["dataset"] not in ds_names):
                    continue
                if mlow and key not in mlow and c["display"].lower() not in mlow:
                    continue
                if c["metric"] not in keys:
                    continue
                row = by_key.setdefault(key, Row(c["display"], claim=True))
                row.values[(c["dataset"], c["metric"])] = float(c["value"])
        rows.extend(by_key.values())
    if not rows:
        raise SalbenchError(
            f"nothing to report under protocol {protocol!r}"
            + (f" for methods {methods}" if methods else "")
            + (f" on {datasets}" if datasets else "")
            + " (run `salbench run` first, or pick another --protocol / --results)")
    t = Table(number, protocol, ds_names, metrics, columns, rows)
    _rank(t)
    if any(r.claim for r in rows):
        t.notes.append(f"† reported in {claims_mod.PAPER}, Table {number} (not measured here).")
    _mark_partial(t)
    return t


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
        runs = [r for r in store.runs(method=label) if r.get("fps")]
        if runs:
            fps = sum(r["fps"] for r in runs) / len(runs)
            crf = [r["fps_crf"] for r in runs if r.get("fps_crf")]
            out["fps"] = f"{fps:.1f}" + (f" ({sum(crf) / len(crf):.2f} w/ CRF)" if crf else "")
        else:
            out["fps"] = MISSING
    return out


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


# -- rendering --------------------------------------------------------------------

def _title(t: Table) -> str:
    from salbench.protocols import get_protocol
    try:
        desc = get_protocol(t.protocol).description
    except SalbenchError:
        desc = ""
    what = ("Comparison of methods (layout of Table 2 of Deng et al., IJCAI 2018)" if t.number == 2
            else "Ablation of R3Net (layout of Table 1 of Deng et al., IJCAI 2018)")
    return f"{what}. Protocol: {t.protocol}" + (f" ({desc.rstrip('.')})" if desc else "") + "."


def render_markdown(t: Table) -> str:
    head = ["Method"]
    for ds in t.datasets:
        for m in t.metrics:
            head.append(f"{ds}" + (f" ({t.partial[ds]})" if ds in t.partial else "") + f" {METRICS[m][1]}")
    head += [{"params": "Params", "gmacs": "GMACs (300×300 unless marked @)", "fps": "FPS"}[c]
             for c in t.columns]
    lines = [f"**Table {t.number}.** {_title(t)}", "",
             "| " + " | ".join(head) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(head) - 1)) + "|"]
    for i, r in enumerate(t.rows):
        cells = [("† " if r.claim else "") + r.label]
        for ds in t.datasets:
            for m in t.metrics:
                key = METRICS[m][0]
                v = r.values.get((ds, key))
                if v is None:
                    cells.append(MISSING)
                    continue
                s = f"{v:.3f}"
                rank = t.ranks.get((i, ds, key))
                if rank == 1:
                    s = f"**{s}**¹"
                elif rank == 2:
                    s = f"_{s}_²"
                elif rank == 3:
                    s = f"{s}³"
                if (i, ds) in t.partial_cells:
                    s += f" ({t.partial_cells[(i, ds)]})"
                cells.append(s)
        cells += [r.extra.get(c, MISSING) for c in t.columns]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Legend: best¹ (**bold**), second² (_italic_), third³ in each column; "
                  "Fβ is the maximum F-measure (β² = 0.3), higher is better; MAE lower is better. "
                  + " ".join(t.notes)]
    return "\n".join(lines) + "\n"


def _tex_escape(s: str) -> str:
    rep = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
           "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
           "–": "--", "×": r"$\times$", "†": r"$^\dagger$", "β": r"$\beta$"}
    return "".join(rep.get(ch, ch) for ch in s)


def render_latex_table(t: Table) -> str:
    color = {1: "red", 2: "green", 3: "blue"}
    ncol = len(t.metrics)
    spec = "l" + ("|" + "c" * ncol) * len(t.datasets) + ("|" + "r" * len(t.columns) if t.columns else "")
    out = [r"\begin{table}[ht]", r"\centering",
           r"\caption{" + _tex_escape(_title(t)) + r" The top three results of each column are in "
           r"\textcolor{red}{red}, \textcolor{green}{green} and \textcolor{blue}{blue}"
           + (r"; rows marked $^\dagger$ are numbers reported in the paper, not measured here"
              if any(r.claim for r in t.rows) else "") + "."
           + (r" $^{*}$GMACs for one 300$\times$300 image unless marked @H$\times$W."
              if "gmacs" in t.columns else "")
           + (" " + _tex_escape(PARTIAL_NOTE.format(
               claims=", such as the paper's †" if any(r.claim for r in t.rows) else ""))
              if t.partial or t.partial_cells else "") + "}",
           r"\resizebox{\ifdim\width>\textwidth\textwidth\else\width\fi}{!}{%",
           r"\begin{tabular}{" + spec + "}", r"\hline"]
    h1 = ["Method"] + [r"\multicolumn{%d}{c%s}{%s}" % (ncol, "|" if (j < len(t.datasets) - 1 or t.columns) else "",
                                                       _tex_escape(ds + (f" ({t.partial[ds]})" if ds in t.partial else "")))
                  for j, ds in enumerate(t.datasets)]
    h1 += [{"params": "Params", "gmacs": r"GMACs\textsuperscript{*}", "fps": "FPS"}[c] for c in t.columns]
    h2 = [""] + [METRICS[m][2] for _ in t.datasets for m in t.metrics] + [""] * len(t.columns)
    out += [" & ".join(h1) + r" \\", " & ".join(h2) + r" \\", r"\hline"]
    first_claim = True
    for i, r in enumerate(t.rows):
        if r.claim and first_claim:
            out.append(r"\hline")
            first_claim = False
        cells = [(r"$^\dagger$" if r.claim else "") + _tex_escape(r.label)]
        for ds in t.datasets:
            for m in t.metrics:
                key = METRICS[m][0]
                v = r.values.get((ds, key))
                if v is None:
                    cells.append("--")
                    continue
                s = f"{v:.3f}"
                rank = t.ranks.get((i, ds, key))
                s = r"\textcolor{%s}{%s}" % (color[rank], s) if rank else s
                if (i, ds) in t.partial_cells:
                    s += r"\,{\scriptsize(%s)}" % _tex_escape(t.partial_cells[(i, ds)])
                cells.append(s)
        cells += [_tex_escape(r.extra.get(c, MISSING)) for c in t.columns]
        out.append(" & ".join(cells) + r" \\")
    out += [r"\hline", r"\end{tabular}}", r"\end{table}"]
    return "\n".join(out) + "\n"


def render_latex(tables: list[Table]) -> str:
    body = "\n".join(render_latex_table(t) for t in tables)
    return ("% generated by salbench report; needs only texlive-latex-base (color, graphicx)\n"
            r"\documentclass{article}" "\n" r"\usepackage[utf8]{inputenc}" "\n"
            r"\usepackage{color}" "\n" r"\usepackage{graphicx}" "\n"
            r"\begin{document}" "\n" + body + r"\end{document}" "\n")


# -- figures ------------------------------------------------------------------------

def figures(store, out_dir: Path, *, protocol: str, datasets: list[str] | None,
            methods: list[str] | None) -> list[Path]:
    """PR curves and F-measure-vs-threshold curves, one figure each per dataset."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from salbench.datasets import canonical_name, count_label
    from salbench.numeric import BETA2
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
            lab = f"{s['method']} (maxF {max(f):.3f}" + (f", partial {part} images)" if part else ")")
            ax_pr.plot(r, p, label=lab, lw=1.4)
            ax_f.plot(range(len(f)), f, label=lab, lw=1.4)
        ax_pr.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
                  title=f"PR curves, {ds} ({protocol})")
        ax_f.set(xlabel="threshold", ylabel="F-measure (β²=0.3)", xlim=(0, 255), ylim=(0, 1.02),
                 title=f"F-measure curves, {ds} ({protocol})")
        for fig, ax, kind in ((fig_pr, ax_pr, "pr"), (fig_f, ax_f, "fmeasure")):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, loc="lower left" if kind == "pr" else "lower center")
            fig.tight_layout()
            stem = out_dir / f"{kind}_{ds}_{protocol}"
            for ext in (".png", ".pdf"):
                fig.savefig(stem.with_suffix(ext), dpi=150)
                written.append(stem.with_suffix(ext))
            plt.close(fig)
    return written


# -- CLI -------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default="results", help="results root (default ./results)")
    p.add_argument("--store", help="results database (default <results>/salbench.sqlite)")
    p.add_argument("--format", choices=("markdown", "latex"), default=None,
                   help="output format (default: from -o's suffix .tex, else markdown)")
    p.add_argument("--datasets", help="datasets (columns), comma-separated (default: all present)")
    p.add_argument("--methods", help="methods (rows), comma-separated (default: all present)")
    p.add_argument("--protocol", default=None, help="protocol (default pysodmetrics)")
    p.add_argument("--metrics", default="maxF,mae",
                   help="per-dataset metrics: maxF,mae,meanF,adpF,S,maxE,meanE,adpE,wF (default maxF,mae)")
    p.add_argument("--columns", default="", help="extra per-method columns: params,gmacs,fps")
    p.add_argument("--table", type=int, choices=(1, 2), default=2,
                   help="2: methods comparison (default); 1: R3Net ablation rows")
    p.add_argument("--claims", action=argparse.BooleanOptionalAction, default=True,
                   help="show the R3Net paper's reported numbers (protocol r3net only; default on)")
    p.add_argument("--figures", metavar="DIR", help="also write PR and F-measure curves (PNG + PDF)")
    p.add_argument("-o", "--output", help="write to this file (default: stdout)")


def main(args: argparse.Namespace) -> int:
    from salbench.protocols import DEFAULT_PROTOCOL, get_protocol
    from salbench.store import ResultsStore, default_path

    path = Path(args.store) if args.store else default_path(args.results)
    if not path.is_file():
        raise SalbenchError(f"no results store at {path} (run `salbench run` first, or pass --results)")
    protocol = get_protocol(args.protocol or DEFAULT_PROTOCOL).name
    fmt = args.format or ("latex" if args.output and args.output.endswith(".tex") else "markdown")
    split = (lambda s: [x.strip() for x in s.split(",") if x.strip()] if s else None)
    with ResultsStore(path) as store:
        t = build_table(store, number=args.table, protocol=protocol, datasets=split(args.datasets),
                        methods=split(args.methods), metrics=_metric_list(args.metrics),
                        columns=_column_list(args.columns), claims=args.claims)
        text = render_latex([t]) if fmt == "latex" else render_markdown(t)
        if args.figures:
            written = figures(store, Path(args.figures), protocol=protocol,
                              datasets=split(args.datasets), methods=split(args.methods))
            if args.output and fmt == "markdown" and written:
                rel_base = Path(args.output).resolve().parent
                imgs = [w for w in written if w.suffix == ".png"]
                text += "\n" + "\n".join(
                    f"![{w.stem}]({_rel(w, rel_base)})" for w in imgs) + "\n"
            print(f"{len(written)} figure file(s) in {args.figures}", file=sys.stderr)
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
