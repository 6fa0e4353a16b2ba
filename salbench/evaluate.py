"""``salbench eval``: evaluate a folder of saliency maps against a folder of GT,
and the pair-evaluation engine that ``salbench run`` uses.

Files are paired by stem (``.png``, ``.jpg``, ``.jpeg``, ``.bmp``; grey, RGB,
RGBA or 16-bit). Images are evaluated on a thread pool (the metric kernels
release the GIL; decoding happens in OpenCV / PIL, also outside the GIL);
results are added to one :class:`salbench.metrics.Evaluator` in pair order on
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
* size mismatch: the map is resized to its GT's size (bilinear,
  ``cv2.INTER_LINEAR``), counted and named under ``"resized"``;
  ``--strict-size`` makes it an error that names both files.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

from salbench import _fastpath
from salbench.errors import InputError, SalbenchError
from salbench.imageio import IMAGE_EXTS, read_gt, read_map
from salbench.metrics import SCORE_KEYS, Evaluator, image_stats, kernels_cached, prepare_kernels
from salbench.protocols import DEFAULT_PROTOCOL, PROTOCOLS, Protocol, get_protocol

#: exit status of ``salbench eval`` when some pairs were skipped as unreadable
EXIT_SKIPPED = 3

#: order in which files of one stem are named in the error (lossless first)
_EXT_PREFERENCE = {".png": 0, ".bmp": 1, ".jpg": 2, ".jpeg": 3}


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _images_by_stem(folder: Path, role: str) -> tuple[dict[str, Path], list[str]]:
    """``stem -> file`` of the image files in ``folder``, and the ignored names.
    Two image files of one stem are an error naming both (which one is meant
    cannot be guessed: keep one)."""
    if not folder.is_dir():
        raise SalbenchError(f"{role} folder {folder} does not exist or is not a folder")
    found: dict[str, list[Path]] = {}
    ignored = []
    for entry in sorted(folder.iterdir()):
        if entry.suffix.lower() in IMAGE_EXTS and entry.is_file():
            found.setdefault(entry.stem, []).append(entry)
        elif not entry.name.startswith("."):
            ignored.append(entry.name)
    dup = {stem: paths for stem, paths in found.items() if len(paths) > 1}
    if dup:
        stem, paths = next(iter(dup.items()))
        paths.sort(key=lambda p: (_EXT_PREFERENCE.get(p.suffix.lower(), 9), p.name))
        files = ", ".join(str(p) for p in paths[:-1]) + f" and {paths[-1]}"
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


def _resize_to(pred, shape):
    import cv2

    return cv2.resize(pred, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _work(name: str, pred_path: Path, gt_path: Path, proto: Protocol, strict_size: bool, structural: bool):
    """Runs on a worker thread: read one pair, compute its stats."""
    try:
        pred = read_map(pred_path, proto.reader)
        gt = read_gt(gt_path, proto.reader)
    except InputError as exc:
        return ("unreadable", {"name": name, "path": str(exc.path), "problem": exc.problem})
    resized = False
    if pred.shape != gt.shape:
        if strict_size:
            raise InputError(pred_path, f"map size {pred.shape[1]}x{pred.shape[0]} differs from GT size "
                                        f"{gt.shape[1]}x{gt.shape[0]} ({gt_path}); --strict-size is set")
        pred = _resize_to(pred, gt.shape)
        resized = True
    return ("ok", image_stats(pred, gt, proto, structural), resized)


def evaluate_pairs(pairs: Iterable[tuple[str, str | Path, str | Path]],
                   protocol: str | Protocol = DEFAULT_PROTOCOL,
                   workers: int | None = None,
                   on_image: Callable[[str, dict], None] | None = None,
                   strict_size: bool = False,
                   structural: bool = True) -> dict:
    """Evaluate ``(name, pred_path, gt_path)`` pairs.

    Returns :meth:`Evaluator.compute`'s dict plus ``resized`` (count and
    names), ``unreadable`` (name, path, problem of each skipped pair),
    ``skipped``, ``workers`` and ``seconds``. ``on_image(name, scores)`` is
    called on the main thread, in pair order, for every evaluated image.
    Raises :class:`SalbenchError` when no pair could be evaluated, and
    :class:`InputError` on a size mismatch with ``strict_size``.
    """
    proto = get_protocol(protocol)
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise SalbenchError(f"--workers must be at least 1, got {workers}")
    ev = Evaluator(proto, structural=structural)
    if structural:
        prepare_kernels()  # import and compile / load the kernels once, here
    resized: list[str] = []
    unreadable: list[dict] = []
    n_pairs = 0
    t0 = time.perf_counter()

    def consume(result, name):
        if result[0] == "unreadable":
            unreadable.append(result[1])
            return
        _, st, was_resized = result
        ev.add_stats(st)
        if was_resized:
            resized.append(name)
        if on_image is not None:
            on_image(name, st.scores())

    if workers == 1:
        for name, pp, gp in pairs:
            n_pairs += 1
            consume(_work(name, Path(pp), Path(gp), proto, strict_size, structural), name)
    else:
        window: deque = deque()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="salbench-eval") as pool:
            try:
                for name, pp, gp in pairs:
                    n_pairs += 1
                    window.append((name, pool.submit(_work, name, Path(pp), Path(gp), proto, strict_size, structural)))
                    if len(window) >= 4 * workers:
                        n, fut = window.popleft()
                        consume(fut.result(), n)
                while window:
                    n, fut = window.popleft()
                    consume(fut.result(), n)
            except BaseException:
                for _, fut in window:
                    fut.cancel()
                raise
    if ev.count == 0:
        if n_pairs == 0:
            raise SalbenchError("no (map, GT) pairs to evaluate")
        raise SalbenchError(f"none of the {n_pairs} pairs could be read; first problem: "
                            f"{unreadable[0]['path']}: {unreadable[0]['problem']}")
    out = ev.compute()
    out["resized"] = {"count": len(resized), "names": resized,
                      "method": "map resized to GT size, bilinear (cv2.INTER_LINEAR)"}
    out["unreadable"] = unreadable
    out["skipped"] = len(unreadable)
    out["workers"] = workers
    out["seconds"] = round(time.perf_counter() - t0, 3)
    # which build of the kernels computed it ("aot": compiled at install; "jit": numba)
    out["kernels"] = _fastpath.active().backend
    return out


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------

def add_arguments(parser) -> None:
    parser.add_argument("--pred", required=True, help="folder of saliency maps (png, jpg, bmp; grey, RGB or 16-bit)")
    parser.add_argument("--gt", required=True, help="folder of ground-truth masks, paired by file stem")
    parser.add_argument("--protocol", default=DEFAULT_PROTOCOL,
                        help=f"evaluation protocol: {', '.join(sorted(PROTOCOLS))} (default {DEFAULT_PROTOCOL})")
    parser.add_argument("--json", metavar="FILE", help="write all scores and 256-point curves as one JSON object")
    parser.add_argument("--per-image", metavar="FILE.csv", help="stream one CSV row of scores per image")
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


def _write_json_atomic(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, path)


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
    are in use (no numba at all then, see :mod:`salbench._fastpath`)."""
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


def main(args) -> int:
    _numba_without_blas()
    proto = get_protocol(args.protocol)
    pairs, report = pair_files(args.pred, args.gt)
    for side, folder in (("pred_only", args.pred), ("gt_only", args.gt)):
        if report[side]:
            what = "maps without GT" if side == "pred_only" else "GT without map"
            print(f"warning: {report[side + '_count']} unpaired {what} in {folder}: {_names(report[side])}",
                  file=sys.stderr)
    if not pairs:
        raise SalbenchError(f"no file stem of {args.pred} matches one of {args.gt} "
                            f"({report['pred_only_count']} maps, {report['gt_only_count']} GT files)")

    csv_fh = writer = None
    csv_path = csv_tmp = None
    if args.per_image:
        csv_path = Path(args.per_image)
        csv_path.parent.mkdir(parents=True, exist_ok=True)
        csv_tmp = csv_path.with_name(f".{csv_path.name}.tmp")
        csv_fh = open(csv_tmp, "w", newline="")
        writer = csv.writer(csv_fh)
        writer.writerow(("name",) + SCORE_KEYS)

    def on_image(name, scores):
        if writer is not None:
            writer.writerow([name] + ["" if scores[k] is None else repr(scores[k]) for k in SCORE_KEYS])

    if not kernels_cached(not args.no_structure):
        print("note: first run after install or upgrade: compiling the metric kernels once "
              "(a few seconds; cached for later runs)", file=sys.stderr)
    try:
        res = evaluate_pairs(pairs, proto, workers=args.workers, on_image=on_image,
                             strict_size=args.strict_size, structural=not args.no_structure)
    finally:  # rows already computed are kept, even when the run stops early
        if csv_fh is not None:
            csv_fh.close()
            os.replace(csv_tmp, csv_path)
    res["unpaired"] = {k: report[k] for k in ("pred_only", "gt_only", "pred_only_count", "gt_only_count")}
    res["pred_dir"] = str(args.pred)
    res["gt_dir"] = str(args.gt)

    print(format_table(res))
    if res["resized"]["count"]:
        print(f"note: {res['resized']['count']} maps resized to their GT size "
              f"(bilinear): {_names(res['resized']['names'])}")
    if res.get("note"):
        print(f"note: {res['note']}")
    for bad in res["unreadable"]:
        print(f"warning: skipped {bad['name']}: {bad['path']}: {bad['problem']}", file=sys.stderr)
    if args.json:
        _write_json_atomic(Path(args.json), res)
    if res["skipped"]:
        print(f"warning: {res['skipped']} of {res['skipped'] + res['count']} pairs skipped as unreadable "
              f"(exit status {EXIT_SKIPPED})", file=sys.stderr)
        return EXIT_SKIPPED
    return 0
