"""One folder of maps against one folder of GT under one protocol: the
library behind ``salbench eval`` (:mod:`salbench.commands.eval`) and
:func:`salbench.evaluate_folder`; :func:`evaluate_pairs` is one map set and
one protocol of :mod:`salbench.run.engine`.

Files are paired by stem (:data:`salbench.data.datasets.IMAGE_EXTS`: ``.png``,
``.jpg``, ``.jpeg``, ``.bmp``, ``.tif``, ``.tiff``, ``.gif``; grey, RGB, RGBA
or 16-bit); other files are listed as ignored. Images are evaluated on a
thread pool (the metric kernels release the GIL; decoding happens in OpenCV /
PIL, also outside the GIL); results are added to one
:class:`salbench.metrics.Evaluator` in pair order on the main thread, so
scores do not depend on the number of workers. Memory is constant in the
number of images: a bounded window of images is in flight and per-image
scores go to the ``on_image`` callback as they come.

Bad input:

* two image files of one stem in one folder (``a.png`` and ``a.jpg``): a
  :class:`SalbenchError` naming both files, nothing is evaluated;
* unpaired files: :func:`pair_files` reports them (``pred_only`` /
  ``gt_only``) and only the pairs are evaluated;
* unreadable / corrupt files: that pair is skipped and named with the problem
  under ``"unreadable"``, the rest is evaluated (no pair readable: an error);
* images whose E-measure is far outside [0, 1] (1x1, 1x2 images) keep
  PySODMetrics' value but are named under ``"degenerate"``;
* size mismatch: the map is resized to its GT's size (bilinear,
  ``cv2.INTER_LINEAR``), counted and named under ``"resized"``;
  ``strict_size`` makes it an error that names both files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from salbench.data.datasets import is_image_file, lossless_first
from salbench.data.paths import display
from salbench.errors import SalbenchError
from salbench.metrics.protocols import DEFAULT_PROTOCOL, Protocol, get_protocol
from salbench.run.engine import default_workers

__all__ = ["pair_files", "photos_by_stem", "evaluate_pairs", "short_list", "default_workers"]


def short_list(names: list[str], limit: int = 10) -> str:
    """``a, b, c, ... (N more)``: the first ``limit`` names for a message."""
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _images_by_stem(folder: Path, role: str) -> tuple[dict[str, Path], list[str]]:
    """``stem -> file`` of the image files in ``folder``, and the ignored names.
    Two image files of one stem are an error naming both (which one is meant
    cannot be guessed: keep one)."""
    if not folder.is_dir():
        raise SalbenchError(f"{role} folder {display(folder)} does not exist or is not a folder")
    found: dict[str, list[Path]] = {}
    ignored = []
    for entry in sorted(folder.iterdir()):
        if is_image_file(entry) and entry.is_file():
            found.setdefault(display(entry.stem), []).append(entry)
        elif not entry.name.startswith("."):
            ignored.append(display(entry.name))
    dup = {stem: paths for stem, paths in found.items() if len(paths) > 1}
    if dup:
        stem, paths = next(iter(dup.items()))
        paths.sort(key=lambda p: (lossless_first(p), p.name))
        files = ", ".join(display(p) for p in paths[:-1]) + f" and {display(paths[-1])}"
        how_many = "two" if len(paths) == 2 else str(len(paths))
        more = (f" (also {len(dup) - 1} more stem(s) with several files: {short_list(list(dup)[1:], 5)})"
                if len(dup) > 1 else "")
        raise SalbenchError(f"{files}: {how_many} {role} files for image {stem!r}; keep one{more}")
    return {stem: paths[0] for stem, paths in found.items()}, ignored


def photos_by_stem(folder: str | Path) -> dict[str, Path]:
    """``stem -> photo`` of the image files in ``folder`` (the photos that
    the maps were computed from; two files of one stem are an error naming both)."""
    return _images_by_stem(Path(folder), "image")[0]


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
                   structural: bool = True,
                   metrics=(),
                   images=None) -> dict:
    """Evaluate ``(name, pred_path, gt_path)`` pairs.

    Returns :meth:`Evaluator.compute`'s dict plus ``resized`` (count and
    names), ``unreadable`` (name, path, problem of each skipped pair),
    ``degenerate`` (name, metric, value of each image whose E-measure lies
    outside [0, 1]: kept as computed, bit-exact with PySODMetrics, but listed;
    see :data:`salbench.store.results.PROBLEM_KEYS`),
    ``skipped``, ``workers`` and ``seconds``. ``on_image(name, scores)`` is
    called on the main thread, in pair order, for every evaluated image.
    ``metrics`` adds metric families beyond the classic set (names of
    :data:`salbench.metrics.table.FAMILIES`, or ``"all"``); a family the
    protocol does not define raises :class:`SalbenchError`. ``images``:
    ``{name: photo path}`` for families that need the photo (``cm_w``).
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
                                                  strict_size=strict_size, structural=structural,
                                                  metrics=metrics, images=images)
    res = out.get("", {}).get(proto.name)
    if res is None:
        if not pairs:
            raise SalbenchError("no (map, GT) pairs to evaluate")
        bad = unreadable.get("") or [{"path": "?", "problem": "unreadable"}]
        raise SalbenchError(f"none of the {len(pairs)} pairs could be read; first problem: "
                            f"{bad[0]['path']}: {bad[0]['problem']}")
    return res
