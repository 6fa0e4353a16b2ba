"""``salbench eval``: evaluate a folder of saliency maps against a folder of GT,
and the pair-evaluation engine that ``salbench run`` uses.

Files are paired by stem (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``, ``.tif``,
``.tiff``, ``.gif``: the extensions ``salbench run`` accepts in datasets; grey,
RGB, RGBA or 16-bit); other files are listed as ignored. Images are evaluated on a thread pool (the metric kernels
release the GIL; decoding happens in OpenCV / PIL, also outside the GIL);
results are added to one :class:`salbench.metrics.core.Evaluator` in pair order on
the main thread, so scores do not depend on the number of workers. Memory is
constant in the number of images: a bounded window of images is in flight and
per-image rows are streamed to the CSV.

Bad input, decided once here:

* two image files of one stem in one folder (``a.png`` and ``a.jpg``): an
  error naming both files (exit status 2), nothing is evaluated;
* unpaired files: evaluated pairs only; the unpaired names and counts are
  printed and stored under ``"unpaired"``;
* unreadable / corrupt files: that pair is skipped, named with the problem in
  the output and under ``"unreadable"``, the rest is evaluated and written; the
  command then exits with status 3 (no pair readable: an error);
* output paths (``--json``, ``--per-image``) are checked before any work (a
  folder, a path through a file, a read-only folder: error, exit 2); missing
  parent folders are created;
* an interrupt (Ctrl-C, SIGTERM) keeps the ``--per-image`` rows computed so
  far under the final name (the file is then partial; eval has no resume);
* images whose E-measure is far outside [0, 1] (1x1, 1x2 images) keep
  PySODMetrics' value but are named in a warning and under ``"degenerate"``;
* size mismatch: the map is resized to its GT's size (bilinear,
  ``cv2.INTER_LINEAR``), counted and named under ``"resized"``;
  ``--strict-size`` makes it an error that names both files.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Callable, Iterable

from salbench.metrics.kernels import build as _fastpath
from salbench.errors import SalbenchError
from salbench.data.imageio import EVAL_EXTS
from salbench.data.paths import check_output_file, display, write_json_atomic
from salbench.metrics.core import SCORE_KEYS, kernels_cached
from salbench.metrics.protocols import DEFAULT_PROTOCOL, PROTOCOLS, Protocol, get_protocol

#: exit status of ``salbench eval`` when some pairs were skipped as unreadable
EXIT_SKIPPED = 3

#: order in which files of one stem are named in the error (lossless first)
_EXT_PREFERENCE = {".png": 0, ".bmp": 1, ".tif": 2, ".tiff": 3, ".jpg": 4, ".jpeg": 5, ".gif": 6}

# the engine (numeric flags, worker count) lives in salbench.run.engine
from salbench.run.engine import default_workers  # noqa: E402,F401 (re-exported)


def _images_by_stem(folder: Path, role: str) -> tuple[dict[str, Path], list[str]]:
    """``stem -> file`` of the image files in ``folder``, and the ignored names.
    Two image files of one stem are an error naming both (which one is meant
    cannot be guessed: keep one)."""
    if not folder.is_dir():
        raise SalbenchError(f"{role} folder {display(folder)} does not exist or is not a folder")
    found: dict[str, list[Path]] = {}
    ignored = []
    for entry in sorted(folder.iterdir()):
        if entry.suffix.lower() in EVAL_EXTS and entry.is_file():
            found.setdefault(display(entry.stem), []).append(entry)
        elif not entry.name.startswith("."):
            ignored.append(display(entry.name))
    dup = {stem: paths for stem, paths in found.items() if len(paths) > 1}
    if dup:
        stem, paths = next(iter(dup.items()))
        paths.sort(key=lambda p: (_EXT_PREFERENCE.get(p.suffix.lower(), 9), p.name))
        files = ", ".join(display(p) for p in paths[:-1]) + f" and {display(paths[-1])}"
        how_many = "two" if len(paths) == 2 else str(len(paths))
        more = (f" (also {len(dup) - 1} more stem(s) with several files: {_names(list(dup)[1:], 5)})"
                if len(dup) > 1 else "")
        raise SalbenchError(f"{files}: {how_many} {role} files for image {stem!r}; keep one{more}")
    return {stem: paths[0] for stem, paths in found.items()}, ignored


def pair_files(pred_dir: str | Path, gt_dir: str | Path) -> tuple[list[tuple[str, Path, Path]], dict]:
    """Pair maps and GT by file stem.

    Returns ``(pairs, report)``: ``pairs`` sorted ``(name, pred_path,
    gt_path)``; ``report`` with ``pred_only`` / ``gt_only`` (unpaired stems),
    their counts and ``ignored`` non-image files. Two image files of one stem
    in one folder (``a.png`` and ``a.jpg``) raise :class:`SalbenchError` naming
    both files."""
    preds, ign_p = _images_by_stem(Path(pred_dir), "prediction")
    gts, ign_g = _images_by_stem(Path(gt_dir), "ground-truth")
    names = sorted(set(preds) & set(gts))
    pairs = [(n, preds[n], gts[n]) for n in names]
    pred_only = sorted(set(preds) - set(gts))
    gt_only = sorted(set(gts) - set(preds))
    report = {
        "pred_only": pred_only,
        "gt_only": gt_only,
        "pred_only_count": len(pred_only),
        "gt_only_count": len(gt_only),
        "ignored": {"pred": ign_p, "gt": ign_g},
    }
    return pairs, report


def evaluate_pairs(pairs: Iterable[tuple[str, str | Path, str | Path]],
                   protocol: str | Protocol = DEFAULT_PROTOCOL,
                   workers: int | None = None,
                   on_image: Callable[[str, dict], None] | None = None,
                   strict_size: bool = False,
                   structural: bool = True) -> dict:
    """Evaluate ``(name, pred_path, gt_path)`` pairs.

    Returns :meth:`Evaluator.compute`'s dict plus ``resized`` (count and
    names), ``unreadable`` (name, path, problem of each skipped pair),
    ``degenerate`` (name, metric, value of each image whose E-measure lies
    outside [0, 1]: kept as computed, bit-exact with PySODMetrics, but listed;
    see :data:`salbench.store.results.PROBLEM_KEYS`),
    ``skipped``, ``workers`` and ``seconds``. ``on_image(name, scores)`` is
    called on the main thread, in pair order, for every evaluated image.
    Raises :class:`SalbenchError` when no pair could be evaluated, and
    :class:`InputError` on a size mismatch with ``strict_size``.
    """
    from salbench.run.engine import evaluate_sets_with_problems
    proto = get_protocol(protocol)
    pairs = list(pairs)
    gt = [(name, Path(gp)) for name, _, gp in pairs]
    maps = {name: Path(pp) for name, pp, _ in pairs}
    cb = (lambda _label, _proto, name, scores: on_image(name, scores)) if on_image is not None else None
    out, unreadable = evaluate_sets_with_problems(gt, {"": maps}, [proto], workers=workers, on_image=cb,
                                                  strict_size=strict_size, structural=structural)
    res = out.get("", {}).get(proto.name)
    if res is None:
        if not pairs:
            raise SalbenchError("no (map, GT) pairs to evaluate")
        bad = unreadable.get("") or [{"path": "?", "problem": "unreadable"}]
        raise SalbenchError(f"none of the {len(pairs)} pairs could be read; first problem: "
                            f"{bad[0]['path']}: {bad[0]['problem']}")
    return res


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------

def add_arguments(parser) -> None:
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
    parser.add_argument("--no-structure", action="store_true",
                        help="skip the S-measure and weighted F (the slowest metrics)")
    parser.epilog = (f"Exit status: 0 ok; 2 error (no JSON; CSV rows already computed are kept); {EXIT_SKIPPED} finished but some "
                     "unreadable pairs were skipped (they are listed).")


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def _names(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def format_table(res: dict) -> str:
    rows = [
        ("MAE", res["mae"]), ("max F", res["max_f"]), ("mean F", res["mean_f"]), ("adaptive F", res["adp_f"]),
        ("S-measure", res["s_measure"]), ("max E", res["max_e"]), ("mean E", res["mean_e"]),
        ("adaptive E", res["adp_e"]), ("weighted F", res["weighted_f"]), ("max IoU", res["max_iou"]),
        ("max Dice", res["max_dice"]),
    ]
    lines = [f"protocol {res['protocol']}: {res['count']} images"]
    width = max(len(k) for k, _ in rows)
    lines += [f"  {k:<{width}}  {_fmt(v)}" for k, v in rows]
    return "\n".join(lines)


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
        out.append(f"{len(jpeg)} of the {len(pairs)} maps are JPEG files ({_names(jpeg, 3)}): saliency "
                   "maps are normally lossless grey PNGs; are these photos rather than maps?")
    return out


def _block_signals():
    """Block SIGINT / SIGTERM (returns the old mask, or None where unsupported)."""
    import signal
    try:
        return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    except (AttributeError, ValueError, OSError):  # pragma: no cover
        return None


def _restore_signals(old) -> None:
    import signal
    if old is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def main(args) -> int:
    # output paths first: a bad path is an error before any computation
    for opt, value in (("--json", args.json), ("--per-image", args.per_image)):
        if value:
            check_output_file(value, opt)
    if args.json and args.per_image and Path(args.json).resolve() == Path(args.per_image).resolve():
        raise SalbenchError(f"--json and --per-image are the same file ({display(args.json)})")
    _numba_without_blas()
    proto = get_protocol(args.protocol)
    pairs, report = pair_files(args.pred, args.gt)
    for side, folder in (("pred_only", args.pred), ("gt_only", args.gt)):
        if report[side]:
            what = "maps without GT" if side == "pred_only" else "GT without map"
            print(f"warning: {report[side + '_count']} unpaired {what} in {display(folder)}: "
                  f"{_names(report[side])}", file=sys.stderr)
    for side, folder in (("pred", args.pred), ("gt", args.gt)):
        ign = report["ignored"][side]
        if ign:
            print(f"note: {len(ign)} file(s) in {display(folder)} ignored (not {'/'.join(EVAL_EXTS)}): "
                  f"{_names(ign, 5)}", file=sys.stderr)
    if not pairs:
        raise SalbenchError(f"no file stem of {display(args.pred)} matches one of {display(args.gt)} "
                            f"({report['pred_only_count']} maps, {report['gt_only_count']} GT files)")
    for w in _sanity_warnings(args, pairs):
        print(f"warning: {w}", file=sys.stderr)

    csv_fh = writer = None
    csv_path = csv_tmp = None
    rows_written = 0
    if args.per_image:
        csv_path = Path(args.per_image)
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        csv_tmp = csv_path.with_name(f".{csv_path.name}.tmp")
        csv_fh = open(csv_tmp, "w", newline="", encoding="utf-8")
        writer = csv.writer(csv_fh)
        writer.writerow(("name",) + SCORE_KEYS)

    def on_image(name, scores):
        nonlocal rows_written
        if writer is not None:
            writer.writerow([name] + ["" if scores[k] is None else repr(scores[k]) for k in SCORE_KEYS])
            rows_written += 1

    if not kernels_cached(not args.no_structure):
        print("note: first run after install or upgrade: compiling the metric kernels once "
              "(a few seconds; cached for later runs)", file=sys.stderr)
    finished = False
    try:
        res = evaluate_pairs(pairs, proto, workers=args.workers, on_image=on_image,
                             strict_size=args.strict_size, structural=not args.no_structure)
        finished = True
    finally:  # rows already computed are kept under the final name, even when the run stops early
        if csv_fh is not None:
            old = _block_signals()  # a second Ctrl-C / SIGTERM must not leave the rows in the temp file
            try:
                csv_fh.close()
                os.replace(csv_tmp, csv_path)
            finally:
                _restore_signals(old)
            if not finished:
                print(f"note: {display(csv_path)} holds the {rows_written} per-image rows computed "
                      f"before the stop (partial: {rows_written} of {len(pairs)} pairs; eval has no "
                      "resume, run it again for all)", file=sys.stderr)
    res["unpaired"] = {k: report[k] for k in ("pred_only", "gt_only", "pred_only_count", "gt_only_count")}
    res["ignored"] = report["ignored"]
    res["pred_dir"] = display(args.pred)
    res["gt_dir"] = display(args.gt)

    print(format_table(res))
    if res["resized"]["count"]:
        print(f"note: {res['resized']['count']} maps resized to their GT size "
              f"(bilinear): {_names(res['resized']['names'])}")
    if res.get("note"):
        print(f"note: {res['note']}")
    if res["degenerate"]:
        d = res["degenerate"]
        print(f"warning: {len(d)} image(s) with an E-measure outside [0, 1] (degenerate: tiny image or "
              f"all-foreground GT; kept as computed, as PySODMetrics does, and they weigh on the means): "
              f"{_names([_degenerate_label(x) for x in d], 5)}",
              file=sys.stderr)
    for bad in res["unreadable"]:
        print(f"warning: skipped {bad['name']}: {bad['path']}: {bad['problem']}", file=sys.stderr)
    if args.json:
        write_json_atomic(args.json, res)
    if res["skipped"]:
        print(f"warning: {res['skipped']} of {res['skipped'] + res['count']} pairs skipped as unreadable "
              f"(exit status {EXIT_SKIPPED})", file=sys.stderr)
        return EXIT_SKIPPED
    return 0
