"""A :class:`~salbench.report.layout.Table` as text: Markdown, GitHub and
plain tables (tabulate), LaTeX in the paper's layout, and the CSV / JSON
exports with provenance. The HTML page is :mod:`.html`."""

from __future__ import annotations

import math

from salbench.errors import SalbenchError
from salbench.report.escape import md_escape, tex_escape
from salbench.report.layout import METRICS, MISSING, NA, PARTIAL_NOTE, PRESETS, Table

__all__ = ["render_text", "render_markdown", "render_latex_table", "render_latex", "records",
           "render_csv", "render_json", "table_title", "table_grid", "table_legend"]


def table_title(t: Table) -> str:
    """The caption: which paper table, protocol, preset and subset."""
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


def table_grid(t: Table, style: str) -> tuple[list[str], list[list[str]]]:
    """Header and body cells of a text table (``style`` markdown or plain)."""
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


def table_legend(t: Table, style: str) -> str:
    """The line under a text table: rank marks, directions and the notes."""
    ranks = ("best¹ (**bold**), second² (_italic_), third³ in each column" if style == "markdown"
             else "best¹, second², third³ in each column")
    return (f"Legend: {ranks}; Fβ is the maximum F-measure (β² = 0.3), higher is better; "
            "MAE lower is better. " + " ".join(t.notes)).rstrip()


def render_text(t: Table, fmt: str = "markdown") -> str:
    """Markdown (``pipe``), GitHub (``github``) or plain text (``simple``) via tabulate."""
    from tabulate import tabulate
    style = "plain" if fmt == "plain" else "markdown"
    head, body = table_grid(t, style)
    tablefmt = {"markdown": "pipe", "github": "github", "plain": "simple"}[fmt]
    table = tabulate(body, headers=head, tablefmt=tablefmt, disable_numparse=True,
                     colalign=("left",) + ("right",) * (len(head) - 1))
    title = table_title(t) if style == "plain" else md_escape(table_title(t)).replace(r"\_", "_")
    first = f"Table {t.number}. {title}" if style == "plain" else f"**Table {t.number}.** {title}"
    return "\n".join([first, "", table, "", table_legend(t, style)]) + "\n"


def render_markdown(t: Table) -> str:
    """The table as Markdown (a pipe table)."""
    return render_text(t, "markdown")


def render_latex_table(t: Table) -> str:
    """One ``table`` environment in the paper's layout (top three coloured)."""
    ncol = len(t.metrics)
    spec = "l" + ("|" + "c" * ncol) * len(t.datasets) + ("|" + "r" * len(t.columns) if t.columns else "")
    skip = (PARTIAL_NOTE.split(":")[0],)
    extra = [n for n in t.notes if not n.startswith("†") and not n.startswith(skip)]
    out = [r"\begin{table}[ht]", r"\centering",
           r"\caption{" + tex_escape(table_title(t)) + r" The top three results of each column are in "
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
    """A complete LaTeX document of the tables (pdflatex, base packages only)."""
    body = "\n".join(render_latex_table(t) for t in tables)
    return ("% generated by salbench report; needs only texlive-latex-base (color, graphicx)\n"
            r"\documentclass{article}" "\n" r"\usepackage[utf8]{inputenc}" "\n"
            r"\usepackage{color}" "\n" r"\usepackage{graphicx}" "\n"
            r"\begin{document}" "\n" + body + r"\end{document}" "\n")


def records(t: Table) -> list[dict]:
    """The table as long-form records: one per (row, dataset, metric)."""
    from salbench.report.analysis import NEEDS_CURVES
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
                            or (NA + ": " + NEEDS_CURVES if (i, ds, k) in t.na else None),
                            "not_sig_worse_than_best": (i, ds, k) in t.similar if t.similar else None,
                            "count": r.counts.get(ds), "subset": t.subset})
    return out


def render_csv(tables: list[Table], prov: dict) -> str:
    """The records of the tables as CSV, with each run's fingerprints and the salbench version."""
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
    """The tables (titles, notes, records) and the provenance as one JSON object."""
    import json
    return json.dumps({"provenance": prov,
                       "tables": [{"title": f"Table {t.number}. {table_title(t)}", "subset": t.subset,
                                   "subset_counts": t.subset_counts, "notes": t.notes,
                                   "rows": records(t)} for t in tables]},
                      indent=1, default=lambda o: None if isinstance(o, float) and not math.isfinite(o) else str(o))

