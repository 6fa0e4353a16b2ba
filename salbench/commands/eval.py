"""``salbench eval``: evaluate a folder of saliency maps against a folder of
GT under one protocol (:mod:`salbench.run.evaluate`), print the scores, and
optionally write them as JSON and one CSV row per image.

Exit status: 0; 2 on an error (no JSON; CSV rows already computed are kept);
:data:`EXIT_SKIPPED` when unreadable pairs were skipped (they are listed).
An interrupt keeps the ``--per-image`` rows computed so far under the final
name (the file is then partial; eval has no resume)."""

from __future__ import annotations

import argparse
import csv
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from salbench.data.datasets import IMAGE_EXTS
from salbench.data.paths import atomic_file, check_output_file, display, write_json_atomic
from salbench.errors import SalbenchError
from salbench.metrics import SCORE_KEYS, kernels_cached
from salbench.metrics.protocols import DEFAULT_PROTOCOL, PROTOCOLS, get_protocol
from salbench.run.engine import default_workers
from salbench.run.evaluate import evaluate_pairs, pair_files, short_list

#: exit status of ``salbench eval`` when some pairs were skipped as unreadable
EXIT_SKIPPED = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``salbench eval``."""
    parser.add_argument("--pred", required=True, help="folder of saliency maps (png, jpg, bmp; grey, RGB or 16-bit)")
    parser.add_argument("--gt", required=True, help="folder of ground-truth masks, paired by file stem")
    parser.add_argument("--protocol", default=DEFAULT_PROTOCOL,
                        help=f"evaluation protocol: {', '.join(sorted(PROTOCOLS))} (default {DEFAULT_PROTOCOL})")
    parser.add_argument("--json", metavar="FILE", help="write all scores and 256-point curves as one JSON object "
                        "(missing parent folders are created; checked before any work)")
    parser.add_argument("--per-image", metavar="FILE.csv", help="stream one CSV row of scores per image (kept, "
                        "partial, when eval is interrupted)")
    parser.add_argument("--workers", type=int, default=None,
                        help=f"threads (default: all usable cores, here {default_workers()})")
    parser.add_argument("--strict-size", action="store_true",
                        help="a map whose size differs from its GT is an error (default: resize the map, and report it)")
    parser.add_argument("--metrics", metavar="FAMILIES",
                        help="metric families beyond the classic set, comma-separated, or 'all': "
                             "fmv2, si, msiou, hce, context, boundary (salbench list metrics); "
                             "the classic set is always computed")
    parser.add_argument("--images", metavar="DIR",
                        help="folder of the photos, paired by stem: the camouflage context measure "
                             "(--metrics context: cm_w) needs them; without it cm_w is n/a")
    parser.add_argument("--no-structure", action="store_true",
                        help="skip the S-measure and weighted F (the slowest metrics)")
    parser.epilog = (f"Exit status: 0 ok; 2 error (no JSON; CSV rows already computed are kept); {EXIT_SKIPPED} finished but some "
                     "unreadable pairs were skipped (they are listed).")


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def format_table(res: dict) -> str:
    """The scores of one evaluation as the command prints them."""
    rows = [
        ("MAE", res["mae"]), ("max F", res["max_f"]), ("mean F", res["mean_f"]), ("adaptive F", res["adp_f"]),
        ("S-measure", res["s_measure"]), ("max E", res["max_e"]), ("mean E", res["mean_e"]),
        ("adaptive E", res["adp_e"]), ("weighted F", res["weighted_f"]), ("max IoU", res["max_iou"]),
        ("max Dice", res["max_dice"]),
    ]
    lines = [f"protocol {res['protocol']}: {res['count']} images"]
    width = max(len(k) for k, _ in rows)
    lines += [f"  {k:<{width}}  {_fmt(v)}" for k, v in rows]
    extra = [(k, v) for k, v in res.items() if k in _family_keys(res) and not isinstance(v, list)]
    if extra:
        from tabulate import tabulate

        cells = [f"{k} {_fmt(v)}" for k, v in extra]
        grid = [cells[i:i + 4] for i in range(0, len(cells), 4)]
        lines.append(f"  metric families {', '.join(res.get('metric_families', []))} "
                     "(all values and curves: --json):")
        lines += ["  " + ln for ln in tabulate(grid, tablefmt="plain").splitlines()]
    return "\n".join(lines)


def _family_keys(res: dict) -> set[str]:
    """The result keys of the metric families of ``res``."""
    from salbench.metrics import table

    return {s.key for s in table.specs(res.get("metric_families", ())) if s.family != "classic"}


def _numba_without_blas() -> None:
    """Start numba's CPU target without its BLAS bindings (``salbench eval`` only).

    When numba first compiles or loads a kernel it imports ``numba.np.arraymath``,
    which probes SciPy's BLAS by importing ``scipy.linalg`` (~0.16 CPU s, a sixth
    of a warm ``salbench eval``). None of the metric kernels calls BLAS, so this
    process imports that module first with the probe answered "not available";
    numba then only refuses to compile ``np.dot`` / ``np.linalg`` in *this*
    process. Only when this process *is* the ``salbench`` command (``sys.argv[0]``
    is the ``salbench`` script or ``salbench/cli.py``): ``cli.main(["eval", ...])``
    called in-process (tests, notebooks) leaves numba alone, as do the library
    functions. Also a no-op when numba's target or SciPy's BLAS is already
    loaded, or when ``SALBENCH_NUMBA_BLAS=1``, and when the AOT-compiled kernels
    are in use (no numba at all then, see :mod:`salbench.metrics.kernels.build`)."""
    from salbench.metrics.kernels import build as _fastpath
    if _fastpath.active().backend == "aot":
        return
    blas = "scipy.linalg.cython_blas"
    prog = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    is_cli = prog.name == "salbench" or (prog.name == "cli.py" and prog.parent.name == "salbench")
    if (not is_cli or os.environ.get("SALBENCH_NUMBA_BLAS") == "1" or "numba.np.arraymath" in sys.modules
            or blas in sys.modules):
        return
    sys.modules[blas] = None  # makes ``import scipy.linalg.cython_blas`` raise ImportError
    try:
        import numba.np.arraymath  # noqa: F401
    except Exception:  # pragma: no cover - numba's layout changed: it will import as usual later
        pass
    finally:
        del sys.modules[blas]


def _degenerate_label(x: dict) -> str:
    return f"{x['name']} ({x['metric']} {float(x['value']):.4g})"


def _sanity_warnings(args, pairs) -> list[str]:
    """Warnings about inputs that evaluate but are probably not what was meant."""
    out = []
    try:
        same = Path(args.pred).resolve() == Path(args.gt).resolve()
    except OSError:  # pragma: no cover
        same = False
    if same:
        out.append(f"--pred and --gt are the same folder ({display(args.pred)}): every map is scored "
                   "against itself")
    jpeg = [name for name, pp, _ in pairs if Path(pp).suffix.lower() in (".jpg", ".jpeg")]
    if jpeg and not same:
        out.append(f"{len(jpeg)} of the {len(pairs)} maps are JPEG files ({short_list(jpeg, 3)}): saliency "
                   "maps are normally lossless grey PNGs; are these photos rather than maps?")
    return out


def _check_outputs(args) -> None:
    """Output paths first: a bad path is an error before any computation."""
    for opt, value in (("--json", args.json), ("--per-image", args.per_image)):
        if value:
            check_output_file(value, opt)
    if args.json and args.per_image and Path(args.json).resolve() == Path(args.per_image).resolve():
        raise SalbenchError(f"--json and --per-image are the same file ({display(args.json)})")


def _pairs(args) -> tuple[list, dict]:
    """The (map, GT) pairs, with the unpaired and ignored files reported on stderr."""
    pairs, report = pair_files(args.pred, args.gt)
    for side, folder in (("pred_only", args.pred), ("gt_only", args.gt)):
        if report[side]:
            what = "maps without GT" if side == "pred_only" else "GT without map"
            print(f"warning: {report[side + '_count']} unpaired {what} in {display(folder)}: "
                  f"{short_list(report[side])}", file=sys.stderr)
    for side, folder in (("pred", args.pred), ("gt", args.gt)):
        ign = report["ignored"][side]
        if ign:
            print(f"note: {len(ign)} file(s) in {display(folder)} ignored (not {'/'.join(IMAGE_EXTS)}): "
                  f"{short_list(ign, 5)}", file=sys.stderr)
    if not pairs:
        raise SalbenchError(f"no file stem of {display(args.pred)} matches one of {display(args.gt)} "
                            f"({report['pred_only_count']} maps, {report['gt_only_count']} GT files)")
    for w in _sanity_warnings(args, pairs):
        print(f"warning: {w}", file=sys.stderr)
    return pairs, report


class _Rows:
    """``on_image`` callback that writes one CSV row per image (or nothing)."""

    def __init__(self, writer=None, keys: tuple[str, ...] = SCORE_KEYS) -> None:
        self.writer = writer
        self.keys = keys
        self.written = 0

    def __call__(self, name: str, scores: dict) -> None:
        if self.writer is not None:
            self.writer.writerow([name] + ["" if scores.get(k) is None else repr(scores[k])
                                          for k in self.keys])
            self.written += 1


@contextmanager
def _per_image_rows(path: str | None, keys: tuple[str, ...] = SCORE_KEYS):
    """A :class:`_Rows` writing ``path`` (columns ``name`` and ``keys``; kept
    under the final name even when the evaluation stops early), or one that
    writes nothing."""
    if not path:
        yield _Rows()
        return
    p = Path(path)
    with atomic_file(p, "w", keep_partial=True, tmp_name=f".{p.name}.tmp", newline="",
                     encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(("name",) + tuple(keys))
        yield _Rows(writer, tuple(keys))


def _families(metrics: str | None, protocol: str) -> tuple[str, ...]:
    """The metric families ``--metrics`` asks for; a name the protocol does not
    define is an error here, before any work."""
    from salbench.metrics import table

    names = table.parse_metrics(metrics)
    table.check_protocol(names, protocol)
    return names


def _photos(args, families) -> dict | None:
    """``{stem: photo}`` of ``--images`` when a family needs the photos (a note
    on stderr when one does and ``--images`` is not given)."""
    from salbench.metrics import table

    needing = [f.name for f in table.make_families(families) if f.needs_image]
    if not needing:
        return None
    if not args.images:
        print(f"note: --metrics {','.join(needing)}: cm_w needs the photos (--images DIR); "
              "it is n/a without them", file=sys.stderr)
        return None
    from salbench.run.evaluate import photos_by_stem
    return photos_by_stem(args.images)


def _csv_keys(families) -> tuple[str, ...]:
    """The per-image CSV columns: the classic scores, then each family's."""
    from salbench.metrics import table

    return SCORE_KEYS + tuple(s.key for s in table.specs(families)
                              if s.family != "classic" and s.per_image and not s.curve)


def _print_result(res: dict) -> None:
    """The scores on stdout; resized, degenerate and skipped images noted."""
    print(format_table(res))
    if res["resized"]["count"]:
        print(f"note: {res['resized']['count']} maps resized to their GT size "
              f"(bilinear): {short_list(res['resized']['names'])}")
    if res.get("note"):
        print(f"note: {res['note']}")
    if res["degenerate"]:
        d = res["degenerate"]
        print(f"warning: {len(d)} image(s) with an E-measure outside [0, 1] (degenerate: tiny image or "
              f"all-foreground GT; kept as computed, as PySODMetrics does, and they weigh on the means): "
              f"{short_list([_degenerate_label(x) for x in d], 5)}",
              file=sys.stderr)
    for bad in res.get("metric_failed") or []:
        print(f"warning: {bad['name']}: metric family {bad['family']}: {bad['problem']}; the other "
              f"metrics are computed", file=sys.stderr)
    for bad in res["unreadable"]:
        print(f"warning: skipped {bad['name']}: {bad['path']}: {bad['problem']}", file=sys.stderr)


def main(args: argparse.Namespace) -> int:
    """Evaluate, print, write ``--json`` / ``--per-image``; returns the exit status."""
    _check_outputs(args)
    _numba_without_blas()
    proto = get_protocol(args.protocol)
    families = _families(args.metrics, proto.name)
    pairs, report = _pairs(args)
    if not kernels_cached(not args.no_structure):
        print("note: first run after install or upgrade: compiling the metric kernels once "
              "(a few seconds; cached for later runs)", file=sys.stderr)
    finished = False
    rows = _Rows()
    try:
        with _per_image_rows(args.per_image, _csv_keys(families)) as rows:
            res = evaluate_pairs(pairs, proto, workers=args.workers, on_image=rows,
                                 strict_size=args.strict_size, structural=not args.no_structure,
                                 metrics=families, images=_photos(args, families))
            finished = True
    finally:  # rows already computed are kept under the final name, even when the run stops early
        if args.per_image and not finished:
            print(f"note: {display(args.per_image)} holds the {rows.written} per-image rows computed "
                  f"before the stop (partial: {rows.written} of {len(pairs)} pairs; eval has no "
                  "resume, run it again for all)", file=sys.stderr)
    res["metric_families"] = list(families)
    res["unpaired"] = {k: report[k] for k in ("pred_only", "gt_only", "pred_only_count", "gt_only_count")}
    res["ignored"] = report["ignored"]
    res["pred_dir"] = display(args.pred)
    res["gt_dir"] = display(args.gt)
    _print_result(res)
    if args.json:
        write_json_atomic(args.json, res)
    if res["skipped"]:
        print(f"warning: {res['skipped']} of {res['skipped'] + res['count']} pairs skipped as unreadable "
              f"(exit status {EXIT_SKIPPED})", file=sys.stderr)
        return EXIT_SKIPPED
    return 0
