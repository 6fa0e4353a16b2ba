"""Evaluate several map sets on one dataset under several protocols in one pass.

The paper-table workload is N map sets × one dataset × both protocols. Here
each GT file is decoded once for all map sets and protocols, and each map
once for all protocols where the protocols' readers agree. Such a file is
an 8-bit grey or 1-bit PNG, for which OpenCV's ``IMREAD_GRAYSCALE`` and PIL's
``convert('L')`` give the same array (checked on every GT and published map
of the shared SOD / PASCAL-S data by ``tests/test_multi_eval.py``). Any other file is decoded once per
reader. Images are spread over threads (the kernels release the GIL); the
main thread adds each image's statistics to one
:class:`~salbench.metrics.Evaluator` per (map set, protocol), in dataset
order.

:func:`evaluate_sets` returns, per map set and protocol, the same dictionary
as :func:`salbench.run.evaluate.evaluate_pairs`, so results are bit-identical to
evaluating each set and protocol on its own.
"""

from __future__ import annotations

import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from salbench.errors import InputError, SalbenchError

__all__ = ["evaluate_sets", "evaluate_sets_with_problems", "decode_for_readers", "default_workers",
           "degenerate_entry", "E_TOLERANCE"]

#: an image-level E-measure outside [-E_TOLERANCE, 1 + E_TOLERANCE] is flagged as
#: degenerate. E's (N - 1) normalisation lets it reach N / (N - 1) on an image of N
#: pixels (1.0004 at 50x50: not flagged), 2.0 at 1x2, and the 1x1 case blows up to
#: 4.5e15: beyond 5 % above 1 (fewer than ~21 pixels) the value is flagged.
E_TOLERANCE = 0.05
_E_KEYS = ("max_e", "mean_e", "adp_e")


def degenerate_entry(name: str, scores: dict) -> dict | None:
    """``{"name", "metric", "value"}`` when an image's E-measure lies outside
    ``[-E_TOLERANCE, 1 + E_TOLERANCE]`` (kept as computed, but flagged), else None."""
    for k in _E_KEYS:
        v = scores.get(k)
        if v is not None and not (-E_TOLERANCE <= v <= 1 + E_TOLERANCE):
            return {"name": name, "metric": k, "value": v}
    return None


def default_workers(cap: int | None = None) -> int:
    """The usable cores (the CPU affinity where known), at least 1 and at
    most ``cap``: ``eval``'s default thread count, and with ``cap``
    (:data:`salbench.run.spec.RUN_WORKERS_CAP`) ``run``'s process count."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, cap) if cap is not None else n)


def decode_for_readers(path: str | Path, readers: Sequence[str]) -> dict[str, np.ndarray]:
    """``{reader: 2-D uint8 array}`` of one map or GT file for each reader.
    Decodes once when every reader gives the same array (8-bit grey or 1-bit
    PNG), else once per reader. Raises :class:`InputError` naming the file."""
    from salbench.data.imageio import read_map
    readers = list(dict.fromkeys(readers))
    if len(readers) > 1 and _is_grey8_png(path):
        arr = read_map(path, "cv2")
        return {r: arr for r in readers}
    return {r: read_map(path, r) for r in readers}


def _is_grey8_png(path: str | Path) -> bool:
    """True for an 8-bit grey or 1-bit PNG (PIL mode ``L`` / ``1``: IHDR colour
    type 0, bit depth 8 or 1), read from the first 26 bytes of the file."""
    from salbench.data.imageio import png_header
    info = png_header(path)
    return info is not None and info[3] == 0 and info[2] in (1, 8)


def _resize_to(pred: np.ndarray, shape) -> np.ndarray:
    import cv2
    return cv2.resize(pred, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _read_photo(path: Path | None, shape) -> tuple[np.ndarray | None, str | None]:
    """``(photo, problem)``: the photo as H x W x 3 uint8 RGB (OpenCV's decoder,
    as PySODMetrics' users read it), or None and why not (no photo of that
    name, unreadable, or of another size than the GT ``shape``). The keys that
    need it are then undefined for the image, and the problem is listed."""
    if path is None:
        return None, "no photo of this name"
    import cv2
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        return None, f"photo {path} is unreadable"
    if bgr.shape[:2] != tuple(shape):
        return None, (f"photo {path} is {bgr.shape[1]}x{bgr.shape[0]}, the GT "
                      f"{shape[1]}x{shape[0]}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), None


def _image_task(name: str, gt_path: Path, maps: list[tuple[str, Path]], protos: list,
                readers: list[str], strict_size: bool, structural: bool, families: dict,
                photos: bool = False, photo: Path | None = None):
    """One image: decode its GT and every set's map, compute each protocol's
    statistics. Returns ``(gt_problem, [(label, problem_or_None, {proto: stats}, resized)])``.
    ``photos``: the caller gave photos (``photo`` is this image's, or None);
    a family needing one that it cannot use gets the reason in
    :attr:`~salbench.metrics.pair.PairStats.family_errors`."""
    from salbench.metrics import image_stats
    from salbench.data.paths import display
    try:
        gts = decode_for_readers(gt_path, readers)
    except InputError as exc:
        return {"name": name, "path": display(exc.path), "problem": exc.problem}, []
    out = []
    image = photo_problem = None
    if photos and any(f.needs_image for fams in families.values() for f in fams):
        image, photo_problem = _read_photo(photo, next(iter(gts.values())).shape)
    for label, map_path in maps:
        try:
            preds = decode_for_readers(map_path, readers)
        except InputError as exc:
            out.append((label, {"name": name, "path": display(exc.path), "problem": exc.problem}, {}, False))
            continue
        resized = False
        stats = {}
        share: list = []  # weighted F computed once where protocols give it the same inputs
        for proto in protos:
            pred, gt = preds[proto.reader], gts[proto.reader]
            if pred.shape != gt.shape:
                if strict_size:
                    raise InputError(map_path, f"map size {pred.shape[1]}x{pred.shape[0]} differs from "
                                               f"GT size {gt.shape[1]}x{gt.shape[0]} ({gt_path}); "
                                               f"--strict-size is set")
                pred = _resize_to(pred, gt.shape)
                resized = True
            st = stats[proto.name] = image_stats(pred, gt, proto, structural, share=share,
                                                 families=families.get(proto.name, ()), image=image)
            for fam in families.get(proto.name, ()) if photo_problem else ():
                if fam.needs_image:
                    st.family_errors.setdefault(fam.name, f"{photo_problem}: the keys that need "
                                                          f"the photo are undefined")
        out.append((label, None, stats, resized))
    return None, out


def evaluate_sets(gt: Sequence[tuple[str, str | Path]], sets: Mapping[str, Mapping[str, str | Path]],
                  protocols: Sequence, *, workers: int | None = None,
                  on_image: Callable[[str, str, str, dict], None] | None = None,
                  strict_size: bool = False, structural: bool = True,
                  metrics=(), on_curves: Callable | None = None,
                  images: Mapping[str, str | Path] | None = None) -> dict[str, dict[str, dict]]:
    """Evaluate map sets against one dataset's GT.

    ``gt``: ``(name, gt_path)`` of the dataset's images, in order. ``sets``:
    ``{label: {name: map_path}}``; an image a set has no map for is skipped for
    that set. Returns ``{label: {protocol: result}}``, each result as
    :func:`salbench.run.evaluate.evaluate_pairs` returns it (scores, curves,
    ``resized``, ``unreadable``, ``degenerate``, ``skipped``, ``workers``, ``seconds``,
    ``kernels``).
    A set with no image evaluated has no entry. ``on_image(label, protocol,
    name, scores)`` is called on the calling thread, in dataset order.
    ``protocols``: names or :class:`~salbench.metrics.protocols.Protocol` objects.
    ``metrics``: metric families beyond the classic set
    (:data:`salbench.metrics.table.FAMILIES`), computed under each protocol
    that defines them (:func:`families_by_protocol`). ``on_curves(label,
    protocol, name, curves)`` receives each image's (6, 256) curve block
    (rows :data:`salbench.metrics.CURVES`), like ``on_image``. ``images``:
    ``{name: photo path}`` for the families that need the photo (the
    camouflage context measure); read only when such a family is asked for."""
    return evaluate_sets_with_problems(gt, sets, protocols, workers=workers, on_image=on_image,
                                       strict_size=strict_size, structural=structural,
                                       metrics=metrics, on_curves=on_curves, images=images)[0]


def families_by_protocol(metrics, protocol_names) -> dict[str, tuple[str, ...]]:
    """``{protocol: families it defines}`` for the families asked for. A family
    that none of the protocols defines is refused
    (:func:`salbench.metrics.table.check_protocol`'s message), never computed
    under another convention."""
    from salbench.metrics import table

    out = {p: [] for p in protocol_names}
    for fam in table.parse_metrics(metrics):
        defined = [p for p in protocol_names if table.defines(fam, p)]
        if not defined:
            table.check_protocol([fam], protocol_names[0])  # raises with the reason
        for p in defined:
            out[p].append(fam)
    return {p: tuple(v) for p, v in out.items()}


def _in_order(tasks, run_one, consume, workers: int) -> None:
    """``consume(name, run_one(name, *args))`` for each ``(name, *args)`` of
    ``tasks``, in order; with several workers the tasks run on a thread pool,
    at most ``4 * workers`` in flight (pending ones cancelled on an error)."""
    if workers == 1:
        for name, *rest in tasks:
            consume(name, run_one(name, *rest))
        return
    window: deque = deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="salbench-eval") as pool:
        try:
            for name, *rest in tasks:
                window.append((name, pool.submit(run_one, name, *rest)))
                if len(window) >= 4 * workers:
                    n, fut = window.popleft()
                    consume(n, fut.result())
            while window:
                n, fut = window.popleft()
                consume(n, fut.result())
        except BaseException:
            for _, fut in window:
                fut.cancel()
            raise


def evaluate_sets_with_problems(gt, sets, protocols, *, workers=None, on_image=None,
                                strict_size=False, structural=True, metrics=(), on_curves=None,
                                images=None):
    """:func:`evaluate_sets`, and ``{label: unreadable entries}`` also for the
    sets of which no image could be evaluated (they have no result)."""
    from salbench.metrics.kernels import build as _fastpath
    from salbench.metrics import Evaluator, prepare_kernels
    from salbench.metrics.protocols import get_protocol

    protos = [get_protocol(p) for p in protocols]
    readers = list(dict.fromkeys(p.reader for p in protos))
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise SalbenchError(f"workers must be at least 1, got {workers}")
    if structural:
        prepare_kernels()
    labels = list(sets)
    fams = families_by_protocol(metrics, [p.name for p in protos])
    evs = {(lab, p.name): Evaluator(p, structural=structural, metrics=fams[p.name])
           for lab in labels for p in protos}
    # one set of family instances per protocol, shared by the worker threads (families are pure)
    instances = {p.name: next((ev.families for (lab, pn), ev in evs.items() if pn == p.name), [])
                 for p in protos}
    resized: dict[str, list[str]] = {lab: [] for lab in labels}
    degenerate: dict[tuple[str, str], list[dict]] = {k: [] for k in evs}
    failed: dict[tuple[str, str], list[dict]] = {k: [] for k in evs}
    unreadable: dict[str, list[dict]] = {lab: [] for lab in labels}
    t0 = time.perf_counter()

    def tasks():
        for name, gp in gt:
            maps = [(lab, Path(sets[lab][name])) for lab in labels if name in sets[lab]]
            if maps:
                yield name, Path(gp), maps

    def consume(name, result):
        gt_problem, per_set = result
        if gt_problem is not None:
            for lab in labels:
                if name in sets[lab]:
                    unreadable[lab].append(gt_problem)
            return
        for lab, problem, stats, was_resized in per_set:
            if problem is not None:
                unreadable[lab].append(problem)
                continue
            if was_resized:
                resized[lab].append(name)
            for pname, st in stats.items():
                evs[(lab, pname)].add_stats(st)
                scores = st.scores()
                flag = degenerate_entry(name, scores)
                if flag is not None:
                    degenerate[(lab, pname)].append(flag)
                for fam, err in st.family_errors.items():
                    failed[(lab, pname)].append({"name": name, "family": fam, "problem": err})
                if on_image is not None:
                    on_image(lab, pname, name, scores)
                if on_curves is not None:
                    on_curves(lab, pname, name, st.curves)

    def one(name, gp, maps):
        photo = images.get(name) if images else None
        return _image_task(name, gp, maps, protos, readers, strict_size, structural, instances,
                           images is not None, Path(photo) if photo else None)

    _in_order(tasks(), one, consume, workers)
    run = {"workers": workers, "seconds": round(time.perf_counter() - t0, 3),
           "kernels": _fastpath.active().backend}
    return _results(evs, resized, unreadable, degenerate, failed, run), unreadable


def _results(evs: dict, resized: dict, unreadable: dict, degenerate: dict, failed: dict,
             run: dict) -> dict:
    """``{label: {protocol: result}}``: each evaluator's scores with the
    label's resized / unreadable / degenerate images, the images a metric
    family failed on (``metric_failed``) and the run's details."""
    out: dict[str, dict[str, dict]] = {}
    for (lab, pname), ev in evs.items():
        if ev.count == 0:
            continue
        res = ev.compute()
        res["resized"] = {"count": len(resized[lab]), "names": list(resized[lab]),
                          "method": "map resized to GT size, bilinear (cv2.INTER_LINEAR)"}
        res["unreadable"] = list(unreadable[lab])
        res["degenerate"] = degenerate[(lab, pname)]
        res["metric_failed"] = failed[(lab, pname)]
        res["skipped"] = len(unreadable[lab])
        res.update(run)
        out.setdefault(lab, {})[pname] = res
    return out
