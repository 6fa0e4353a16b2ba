"""``salbench report``: tables and curves from the results store.

``--table 2`` (default) is the paper's Table 2 layout (one row per method),
``--table 1`` its ablation rows (:mod:`salbench.report.tables`). The best
three values of each column are marked - red, green, blue in LaTeX
(``\\textcolor`` of the base ``color`` package), **bold**¹ / _italic_² /
plain³ superscript ranks in Markdown, with a legend. Extra metric columns
(``--metrics``) and per-method columns (``--columns params,gmacs,fps``);
``--figures DIR`` writes a PR-curve and an F-measure-curve figure per dataset
(PNG and PDF). ``--ci`` bootstrap intervals, ``--significance`` marks,
``--by size|components|border|empty`` / ``--subsets FILE`` one table per image
subset, ``--claims FILE`` papers' numbers (deltas beyond
``--claim-tolerance`` flagged), ``--format csv|json|html`` exports with
provenance, ``--preset r3net|modern``.

Names of methods and datasets are escaped for Markdown, LaTeX (accents as
accent commands, other non-Latin letters as ``<U+XXXX>`` so pdflatex
compiles) and matplotlib titles (:mod:`salbench.report.escape`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from salbench.data.paths import check_output_file, ensure_folder
from salbench.errors import SalbenchError
from salbench.report.layout import CLAIM_TOLERANCE, PRESETS, column_list, metric_list

FORMATS = ("markdown", "github", "plain", "latex", "csv", "json", "html")
SUFFIX_FORMAT = {".tex": "latex", ".csv": "csv", ".json": "json", ".html": "html", ".htm": "html",
                 ".txt": "plain"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``salbench report``."""
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


def _split(s: str | None) -> list[str] | None:
    return [x.strip() for x in s.split(",") if x.strip()] if s else None


def _claims(arg: str | None):
    """``--claims`` / ``--no-claims``: False, True (the shipped claims) or a claims file's records."""
    from salbench.report.claims import load_claims
    if arg is None:
        return False
    if arg == "builtin":
        return True
    return load_claims(arg)


def _tables(store, args, protocol: str, common: dict) -> list:
    """The table, or one table per image subset (``--by`` / ``--subsets``)."""
    from salbench.report.tables import build_table, results_frame, subset_images
    frame = results_frame(store, protocol)
    t0 = build_table(store, datasets=_split(args.datasets), frame=frame, **common)
    t0.preset = args.preset
    if not (args.by or args.subsets):
        return [t0]
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
    return tables


def _figures(store, args, fig_dir: Path, protocol: str, datasets: list[str]) -> list[Path]:
    """The curve figures, written to ``fig_dir``."""
    from salbench.report.figures import figures
    written = figures(store, fig_dir, protocol=protocol, datasets=datasets, methods=_split(args.methods))
    if args.figures:
        print(f"{len(written)} figure file(s) in {args.figures}", file=sys.stderr)
    return written


def _text(store, args, path: Path, fmt: str, protocol: str, tables: list, written: list[Path]) -> str:
    """The report in ``fmt``."""
    from salbench.report import analysis
    from salbench.report.html import render_html
    from salbench.report.render import render_csv, render_json, render_latex, render_text
    if fmt in ("csv", "json", "html"):
        results_root = Path(args.results) if not args.store else path.parent
        prov = analysis.provenance(store, results_root, protocol)
        return {"csv": lambda: render_csv(tables, prov), "json": lambda: render_json(tables, prov),
                "html": lambda: render_html(tables, prov, written)}[fmt]()
    if fmt == "latex":
        return render_latex(tables)
    text = "\n".join(render_text(t, fmt) for t in tables)
    if args.figures and args.output and written:
        rel_base = Path(args.output).resolve().parent
        imgs = [w for w in written if w.suffix == ".png"]
        text += "\n" + "\n".join(f"![{w.stem}]({_rel(w, rel_base)})" for w in imgs) + "\n"
    return text


def main(args: argparse.Namespace) -> int:
    """Build the tables (and figures) and write them to ``-o`` or stdout."""
    from salbench.metrics.protocols import DEFAULT_PROTOCOL, get_protocol
    from salbench.store.results import ResultsStore, default_path

    path = Path(args.store) if args.store else default_path(args.results)
    if not path.is_file():
        raise SalbenchError(f"no results store at {path} (run `salbench run` first, or pass --results)")
    preset = PRESETS.get(args.preset) if args.preset else None
    protocol = get_protocol(args.protocol or (preset[0] if preset else DEFAULT_PROTOCOL)).name
    metrics = metric_list(args.metrics or (preset[1] if preset else None))
    fmt = args.format or (SUFFIX_FORMAT.get(Path(args.output).suffix.lower(), "markdown")
                          if args.output else "markdown")
    claims = _claims(args.claims)
    if args.by and args.subsets:
        raise SalbenchError("--by and --subsets: choose one")
    common = dict(number=args.table, protocol=protocol, methods=_split(args.methods), metrics=metrics,
                  columns=column_list(args.columns), claims=claims, ci=args.ci,
                  n_boot=args.resamples, seed=args.seed, ci_format=args.ci_format,
                  significance=args.significance, test=args.test,
                  claim_tolerance=args.claim_tolerance, sort=args.sort)
    if args.output:
        check_output_file(args.output, "-o")
    if args.figures:
        ensure_folder(args.figures, "--figures")
    with ResultsStore(path, read_only=True) as store, ExitStack() as stack:
        tables = _tables(store, args, protocol, common)
        fig_dir = args.figures
        if fmt == "html" and not fig_dir:  # the page embeds the curves; the files go afterwards
            fig_dir = stack.enter_context(tempfile.TemporaryDirectory())
        written = _figures(store, args, Path(fig_dir), protocol, tables[0].datasets) if fig_dir else []
        text = _text(store, args, path, fmt, protocol, tables, written)
    if args.output:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _rel(p: Path, base: Path) -> str:
    """``p`` relative to ``base`` (as given when on another drive)."""
    try:
        return os.path.relpath(p.resolve(), base)
    except ValueError:
        return str(p)
