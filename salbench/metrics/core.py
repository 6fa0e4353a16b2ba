"""Salient-object-detection metrics: pure functions for one pair and an
accumulating :class:`Evaluator`.

Layout (after torchmetrics' functional / class split and stumpy's validated
public functions over private numba kernels): :func:`image_stats` validates one
pair and runs the kernels of :mod:`salbench.metrics.kernels.counts` (one pass over the pixels,
then 256-bin arithmetic, PySODMetrics' histogram trick) plus the S-measure and
weighted-F kernels of :mod:`salbench.metrics.kernels.structure` (for 8-bit pairs the
build that :mod:`salbench.metrics.kernels.build` picks: compiled at install, or numba JIT);
:class:`Evaluator` only keeps exact sums (:mod:`salbench.metrics.exactsum`) of the
256-point curves and of the per-image scalars, so its memory is constant in the
number of images and two states merge, bit for bit, by addition.

Inputs (``pred``, ``gt``: 2-D arrays of the same shape):

* ``pred``: ``uint8`` (0..255, the saliency map as stored in a file), ``bool``
  (read as 0 / 255), another integer type with values in 0..255, or
  ``float32`` / ``float64`` in [0, 1] (read as ``map / 255``, i.e. the value
  of ``im2double``; the protocol then normalises it as it would ``v / 255``).
* ``gt``: ``uint8`` (binarised by the protocol: ``pysodmetrics`` gt > 128,
  ``r3net`` gt >= 128), ``bool`` (used as is; 0 / 255 for a soft MAE), or
  float in [0, 1] (foreground iff gt > ``protocol.gt_float_threshold``; the
  ``r3net`` soft MAE uses the float values).

NaN, infinities, values out of range, wrong dimensions, empty arrays and shape
mismatches raise ``ValueError``.

Metric definitions and their references are in :mod:`salbench.metrics.protocols`; the
metric values equal PySODMetrics 1.6.2 (``pysodmetrics`` protocol) and a NumPy
transcription of R3Net's ``misc.py`` (``r3net`` protocol) to 1e-10 (tests).
Differences from PySODMetrics: means are summed in a different order
(differences ~1e-16); S-measure is finite where PySODMetrics gives NaN (see
:mod:`salbench.metrics.kernels.structure`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from salbench.metrics.kernels import build as FP
from salbench.metrics import numeric
from salbench.metrics.exactsum import ExactSum
from salbench.metrics.protocols import DEFAULT_PROTOCOL, Protocol, get_protocol


def _K():
    """salbench.metrics.kernels.counts (numba, JIT): only the float path uses it directly; 8-bit
    pairs go through :func:`salbench.metrics.kernels.build.active` (AOT-compiled kernels
    when built, which need no numba)."""
    from salbench.metrics.kernels import counts as _kernels

    return _kernels


def _ks():
    """salbench.metrics.kernels.structure (numba, JIT): the float path's S / weighted F."""
    from salbench.metrics.kernels import structure as _kernels_structure

    return _kernels_structure

#: rows of the curve block, in order; JSON keys are ``precision``, ``recall``
#: and ``<name>_curve`` for the others
CURVES: tuple[str, ...] = ("precision", "recall", "f", "e", "iou", "dice")
#: per-image scalars that are averaged over images
SCALARS: tuple[str, ...] = ("mae", "adp_f", "adp_e", "s_measure", "weighted_f")
#: per-image score keys (``Evaluator.update`` / ``on_image`` / CSV rows)
SCORE_KEYS: tuple[str, ...] = ("mae", "max_f", "mean_f", "adp_f", "s_measure",
                               "max_e", "mean_e", "adp_e", "weighted_f")

_I_P, _I_R, _I_F, _I_E, _I_IOU, _I_DICE = range(6)
#: the Evaluator's exact sums: the curves (row after row), then the scalars
_N_CURVE_SUMS = len(CURVES) * numeric.N_BINS
_N_SUMS = _N_CURVE_SUMS + len(SCALARS)


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------

def _as_array(x, what: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{what} must be a 2-D array (H, W), got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{what} is empty (shape {a.shape})")
    return a


def _plain(v):
    """Numbers as Python numbers in messages (``0.5``, not ``np.float64(0.5)``)."""
    return v.item() if isinstance(v, np.generic) else v


def _check_float(a: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    lo = a.min()
    hi = a.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = "NaN" if np.isnan(a).any() else "infinite values"
        raise ValueError(f"{what} contains {bad}")
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"{what}: float values must lie in [0, 1], got range [{float(lo)!r}, {float(hi)!r}]")
    return a


def _check_int(a: np.ndarray, what: str) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * np.uint8(numeric.U8_MAX)
    lo = a.min()
    hi = a.max()
    if lo < 0 or hi > numeric.U8_MAX:
        raise ValueError(f"{what}: integer values must lie in 0..255, got range [{lo}, {hi}] "
                         f"(dtype {a.dtype}; convert 16-bit maps to 8 bits first)")
    return a.astype(np.uint8)


def _prepare(pred, gt):
    """-> (pred, gt), each either uint8 or float64, validated."""
    p = _as_array(pred, "pred")
    g = _as_array(gt, "gt")
    if p.shape != g.shape:
        raise ValueError(f"shape mismatch: pred {p.shape} vs gt {g.shape}")
    out = []
    for a, what in ((p, "pred"), (g, "gt")):
        if a.dtype.kind == "f":
            out.append(_check_float(a, what))
        elif a.dtype.kind in "uib":
            out.append(_check_int(a, what))
        else:
            raise ValueError(f"{what}: unsupported dtype {a.dtype} (use uint8, bool or float in [0, 1])")
    return out[0], out[1]


# ---------------------------------------------------------------------------
# one pair
# ---------------------------------------------------------------------------

@dataclass
class PairStats:
    """Everything one image contributes: its six 256-point curves (rows in
    :data:`CURVES` order, column t = threshold t) and its scalars."""

    curves: np.ndarray
    mae: float
    adp_f: float
    adp_e: float
    s_measure: float | None
    weighted_f: float | None

    def scores(self) -> dict:
        """This image's scalar scores (keys :data:`SCORE_KEYS`)."""
        f = self.curves[_I_F]
        e = self.curves[_I_E]
        return {
            "mae": float(self.mae),
            "max_f": float(f.max()),
            "mean_f": float(f.mean()),
            "adp_f": float(self.adp_f),
            "s_measure": None if self.s_measure is None else float(self.s_measure),
            "max_e": float(e.max()),
            "mean_e": float(e.mean()),
            "adp_e": float(self.adp_e),
            "weighted_f": None if self.weighted_f is None else float(self.weighted_f),
        }


def _pr_eps(proto: Protocol) -> float:
    return -1.0 if proto.pr_eps is None else float(proto.pr_eps)


def _adaptive_threshold(mean: float) -> float:
    return min(numeric.ADAPTIVE_FACTOR * mean, numeric.ADAPTIVE_CAP)


def _structure(p2d: np.ndarray, gtb: np.ndarray, structural: bool):
    if not structural:
        return None, None
    # both arrays are made here (float64 C-contiguous in [0, 1], bool C-contiguous)
    return _ks().s_and_weighted_f(p2d, gtb, prevalidated=True)


def _shared_weighted_f(share: list | None, pred: np.ndarray, val: np.ndarray,
                       mask: np.ndarray) -> float | None:
    """The weighted F another protocol computed for the very same inputs: the
    same map array, the same value table (level -> normalised value, bit for
    bit) and the same binary GT. The kernel's result depends on nothing else,
    so it is reused as is (identical bits)."""
    for p2, v2, m2, wf in share or ():
        if p2 is pred and np.array_equal(v2, val) and np.array_equal(m2, mask):
            return wf
    return None


def _stats_u8(pred: np.ndarray, gt: np.ndarray, proto: Protocol, structural: bool,
              weighted: bool = True, share: list | None = None) -> PairStats:
    """Fast path: uint8 map and uint8 GT.

    One pass over the pixels builds the 2 x 256 histogram of the raw map split
    by GT (with ``structural``, split into the S-measure's four quadrants too,
    after a pass over the GT alone for its centroid); every curve, MAE, the
    adaptive scores and the S-measure come from those counts. Only the weighted
    F makes further passes (it needs each pixel's distance to the foreground),
    over the map's values looked up from its value table into a per-thread
    buffer."""
    pred = np.ascontiguousarray(pred)
    gt = np.ascontiguousarray(gt)
    nb = numeric.N_BINS
    kern = FP.active()
    # every array the kernels fill is made here (see salbench.metrics.kernels.counts)
    hist = np.empty((2, nb), np.int64)
    soft = proto.mae_gt == "soft"
    gt_min_fg = np.int64(proto.gt_min_fg)
    if structural:
        qhist = np.empty((4, 2, nb), np.int64)
        info = np.empty(3, np.int64)
        absdiff = kern.quadrant_hist_u8(pred, gt, gt_min_fg, soft, np.empty(16 * nb, np.int64), qhist, hist, info)
    else:
        absdiff = kern.hist_u8(pred.reshape(-1), gt.reshape(-1), gt_min_fg, soft, np.empty(8 * nb, np.int64), hist)
    args = (proto.minmax, soft, proto.strict, _pr_eps(proto), proto.beta2, proto.em_eps)
    consts = (numeric.ADAPTIVE_TIE_TOL, numeric.ADAPTIVE_FACTOR, numeric.ADAPTIVE_CAP)
    curves = np.empty((len(CURVES), nb), np.float64)
    sc = np.empty(4, np.float64)
    val = np.empty(nb, np.float64)
    outs = (curves, sc, val, np.empty(nb, np.int64), np.empty((2, nb), np.int64))
    kern.u8_summary(hist, absdiff, *args, -1.0, *consts, *outs)
    if sc[3]:
        # a map value sits on the adaptive threshold: take the mean with numpy's
        # own (pairwise) summation of the same array, as the reference does
        thr = _adaptive_threshold(float(np.mean(val[pred])))
        kern.u8_summary(hist, absdiff, *args, thr, *consts, *outs)
    mae, adp_f, adp_e = sc[0], sc[1], sc[2]
    s = wf = None
    if structural:
        s = FP.s_measure_from_hist(kern, qhist, val, info, pred.shape)
        if weighted:  # False only when warming the kernels up (prepare_kernels)
            # a Python int keeps the comparison in uint8 (an np.int64 would promote
            # the whole GT to int64 first: ~25x slower)
            mask = gt >= int(proto.gt_min_fg)
            wf = _shared_weighted_f(share, pred, val, mask)
            if wf is None:
                wf = FP.weighted_f_u8(kern, pred, val, mask)
                if share is not None:
                    share.append((pred, val.copy(), mask, wf))
    return PairStats(curves, float(mae), float(adp_f), float(adp_e), s, wf)


# ---------------------------------------------------------------------------
# first run: compile the kernels on both cores
# ---------------------------------------------------------------------------

def _cache_fresh(dispatcher) -> bool:
    """Whether numba's on-disk cache holds a current entry for ``dispatcher``
    (its index exists and matches the source). Unknown numba internals or a
    disabled JIT count as cached: the kernels then compile lazily as usual."""
    try:
        return bool(dispatcher._cache._cache_file._load_index())
    except Exception:
        return True


#: how long a first run waits for the child compiling the weighted-F kernel before
#: compiling it itself (the compile takes seconds; this only guards a stuck child)
_CHILD_COMPILE_TIMEOUT_S = 600


def warm_kernels(group: str) -> None:
    """Compile (or load from the cache) one group of the 8-bit path's kernels by
    running them on a tiny pair with the argument types of real pairs:
    ``"histograms"`` (histogram pass, summary, S-measure, exact sums) or
    ``"weighted_f"``."""
    pred = np.zeros((5, 6), np.uint8)
    pred[1:4, 1:5] = 200
    pred[0, 0] = 30
    gt = np.zeros((5, 6), np.uint8)
    gt[1:4, 2:5] = 255
    if group == "histograms":
        _stats_u8(pred, gt, get_protocol(DEFAULT_PROTOCOL), True, weighted=False)
        ExactSum((2,)).add(np.array([0.25, 1.5]))
    elif group == "weighted_f":
        FP.weighted_f_u8(FP.active(), pred, np.arange(numeric.N_BINS) / numeric.U8_MAX, gt > 0)
    else:
        raise ValueError(f"unknown kernel group {group!r}")


def kernels_cached(structural: bool = True) -> bool:
    """Whether a run starts without compiling: the AOT-compiled kernels are in
    use, or the JIT kernels of the 8-bit path (with the S-measure / weighted-F
    ones when ``structural``) are in numba's cache (checks index files only)."""
    kern = FP.active()
    if kern.backend == "aot":
        return True
    if not (_cache_fresh(_K().u8_summary) and _cache_fresh(_K().exact_add)):
        return False
    if not structural:
        return True
    ks = _ks()
    return _cache_fresh(ks._weighted_f_kernel) and _cache_fresh(ks._s_measure_hist_kernel)


def prepare_kernels(structural: bool = True) -> dict:
    """Make the kernels of the 8-bit path ready before images are evaluated.

    With the AOT-compiled kernels (built by ``pip install``, see
    :mod:`salbench.metrics.kernels.build`) there is nothing to do. With the JIT kernels and
    a warm cache (every run after the first) this only checks the cache index
    files (:func:`kernels_cached`). On a cold cache compiling takes seconds,
    most of it in two independent groups: the weighted-F kernel is then
    compiled in a child process while this process compiles the histogram /
    summary / S-measure kernels, so the two cores share the work (numba writes
    both to its cache; this process then loads the child's). If the child
    fails, this process compiles the kernel itself on first use, as without
    this step. Returns what was done (for reports)."""
    import subprocess
    import sys

    kern = FP.active()
    done = {"backend": kern.backend, "parallel_compile": False}
    if kern.backend == "aot" or not structural or kernels_cached(True):
        return done
    ks = _ks()
    child = None
    if not _cache_fresh(ks._weighted_f_kernel):
        try:
            # the child must build the same (JIT) kernels whatever its environment says
            env = dict(os.environ, **{FP.ENV_VAR: "jit"})
            child = subprocess.Popen([sys.executable, "-c",
                                      "from salbench.metrics.core import warm_kernels; warm_kernels('weighted_f')"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        except OSError:
            child = None
    warm_kernels("histograms")
    if child is not None:
        try:
            child.wait(timeout=_CHILD_COMPILE_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck child: compile here instead
            child.kill()
            child.wait()
    warm_kernels("weighted_f")  # loads the child's work from the cache (or compiles it)
    done["parallel_compile"] = child is not None
    return done


def _levels_strict(p: np.ndarray) -> np.ndarray:
    """Level k = #{t in 0..255 : t/255 < p}, so that ``p > t/255`` iff ``k > t``
    (the comparison R3Net's code makes), exact for any float p in [0, 1]."""
    k = np.clip(np.floor(p * numeric.U8_MAX), 0, numeric.U8_MAX).astype(np.int64)
    up = (k < numeric.U8_MAX) & (k / float(numeric.U8_MAX) < p)
    k = k + up
    down = (k > 0) & ((k - 1) / float(numeric.U8_MAX) >= p)
    return k - down


def _stats_general(pred: np.ndarray, gt: np.ndarray, proto: Protocol, structural: bool) -> PairStats:
    """Float map and / or float GT: the same definitions, with numpy passes."""
    if pred.dtype == np.uint8:
        p = pred / numeric.U8_MAX
    else:
        p = np.array(pred, dtype=np.float64)
    if proto.minmax:
        lo, hi = p.min(), p.max()
        if hi != lo:
            p = (p - lo) / (hi - lo)
    if gt.dtype == np.uint8:
        gtb = gt >= proto.gt_min_fg
        soft = gt / numeric.U8_MAX
    else:
        gtb = gt > proto.gt_float_threshold
        soft = gt
    if proto.strict:
        levels = _levels_strict(p)
    else:
        levels = (p * numeric.U8_MAX).astype(np.uint8).astype(np.int64)
    qhist = np.empty((2, numeric.N_BINS), np.int64)
    _K().hist_levels(np.ascontiguousarray(levels).reshape(-1), np.ascontiguousarray(gtb).reshape(-1), qhist)
    mae = float(np.mean(np.abs(p - (soft if proto.mae_gt == "soft" else gtb))))
    thr = _adaptive_threshold(float(np.mean(p)))
    binary = p >= thr
    tp_a = int(np.count_nonzero(binary & gtb))
    pp_a = int(np.count_nonzero(binary))
    curves = np.empty((len(CURVES), numeric.N_BINS), np.float64)
    adp_f, adp_e = _K().counts_summary(qhist, float(tp_a), float(pp_a), proto.strict, _pr_eps(proto),
                                    proto.beta2, proto.em_eps, curves)
    s, wf = _structure(np.ascontiguousarray(p), np.ascontiguousarray(gtb), structural)
    return PairStats(curves, mae, float(adp_f), float(adp_e), s, wf)


def image_stats(pred, gt, protocol: str | Protocol = DEFAULT_PROTOCOL, structural: bool = True,
                share: list | None = None) -> PairStats:
    """Validate one pair and compute all its curves and scalars.

    Thread-safe; the kernels release the GIL. ``structural=False`` skips the
    S-measure and weighted F (their fields are then ``None``). ``share``: one
    list per map, passed to the calls of each protocol on that map; the
    weighted F is then computed once where two protocols give it identical
    inputs (8-bit maps; the values are bit-identical either way)."""
    proto = get_protocol(protocol)
    p, g = _prepare(pred, gt)
    if p.dtype == np.uint8 and g.dtype == np.uint8:
        return _stats_u8(p, g, proto, structural, share=share)
    return _stats_general(p, g, proto, structural)


# --- pure functions --------------------------------------------------------

def evaluate_pair(pred, gt, protocol: str | Protocol = DEFAULT_PROTOCOL) -> dict:
    """All scalar scores of one pair (keys :data:`SCORE_KEYS`)."""
    return image_stats(pred, gt, protocol).scores()


def mae(pred, gt, protocol: str | Protocol = DEFAULT_PROTOCOL) -> float:
    """Mean absolute error (Perazzi et al. CVPR 2012) under ``protocol``."""
    return image_stats(pred, gt, protocol, structural=False).mae


def fmeasure(pred, gt, protocol: str | Protocol = DEFAULT_PROTOCOL) -> dict:
    """F-measure (Achanta et al. CVPR 2009, β² = 0.3) of one pair:
    ``{"adp", "mean", "max", "curve", "precision", "recall"}``; curves are
    256-point arrays, index t = threshold t."""
    st = image_stats(pred, gt, protocol, structural=False)
    f = st.curves[_I_F]
    return {"adp": st.adp_f, "mean": float(f.mean()), "max": float(f.max()), "curve": f.copy(),
            "precision": st.curves[_I_P].copy(), "recall": st.curves[_I_R].copy()}


def emeasure(pred, gt, protocol: str | Protocol = DEFAULT_PROTOCOL) -> dict:
    """E-measure (Fan et al. IJCAI 2018) of one pair: ``{"adp", "mean", "max", "curve"}``."""
    st = image_stats(pred, gt, protocol, structural=False)
    e = st.curves[_I_E]
    return {"adp": st.adp_e, "mean": float(e.mean()), "max": float(e.max()), "curve": e.copy()}


def iou_dice(pred, gt, protocol: str | Protocol = DEFAULT_PROTOCOL) -> dict:
    """IoU and Dice curves of one pair (256 points each) from the same counts."""
    st = image_stats(pred, gt, protocol, structural=False)
    return {"iou": st.curves[_I_IOU].copy(), "dice": st.curves[_I_DICE].copy()}


def smeasure(pred, gt, protocol: str | Protocol = DEFAULT_PROTOCOL) -> float:
    """S-measure (Fan et al. ICCV 2017, α = 0.5) of one pair."""
    return image_stats(pred, gt, protocol).s_measure


def weighted_fmeasure(pred, gt, protocol: str | Protocol = DEFAULT_PROTOCOL) -> float:
    """Weighted F-measure (Margolin et al. CVPR 2014) of one pair."""
    return image_stats(pred, gt, protocol).weighted_f


# ---------------------------------------------------------------------------
# accumulation
# ---------------------------------------------------------------------------

def f_of(p: np.ndarray, r: np.ndarray, beta2: float) -> np.ndarray:
    """F-measure curve from P and R curves, 0 where the numerator is 0."""
    num = (1.0 + beta2) * p * r
    den = np.where(num == 0, 1.0, beta2 * p + r)
    return num / den


class Evaluator:
    """Accumulates images under one protocol; memory is constant in the
    number of images (exact sums of six 256-point curves and five scalars,
    and counts).

    ``update(pred, gt)`` returns that image's scores; ``compute()`` the dataset
    scores; ``merge(other)`` adds another evaluator's state (shards from
    different processes combine). The sums are exact (fixed point, see
    :mod:`salbench.metrics.exactsum`) and every mean is rounded once, so the result
    does not depend on the order of the images: a merge of shards equals a
    single pass bit for bit. ``state_dict()`` / ``from_state_dict`` serialise
    to plain JSON types (version 1 states, float64 sums, still load).
    """

    STATE_VERSION = 2

    def __init__(self, protocol: str | Protocol = DEFAULT_PROTOCOL, structural: bool = True) -> None:
        self.protocol = get_protocol(protocol)
        self.structural = bool(structural)
        self.reset()

    def reset(self) -> None:
        self.count = 0
        # one exact sum: the curves (row after row), then the scalars
        self._sums = ExactSum((_N_SUMS,))
        self._scalar_counts = np.zeros(len(SCALARS), dtype=np.int64)

    def update(self, pred, gt) -> dict:
        """Add one pair; returns its scores (keys :data:`SCORE_KEYS`)."""
        st = image_stats(pred, gt, self.protocol, self.structural)
        self.add_stats(st)
        return st.scores()

    def add_stats(self, st: PairStats) -> None:
        """Add an image's precomputed :class:`PairStats` (engine threads compute
        them; the main thread adds them)."""
        vals = np.zeros(_N_SUMS, dtype=np.float64)
        vals[:_N_CURVE_SUMS] = st.curves.reshape(-1)
        for i, key in enumerate(SCALARS):
            v = getattr(st, key)
            if v is not None:
                vals[_N_CURVE_SUMS + i] = v
                self._scalar_counts[i] += 1
        self._sums.add(vals)
        self.count += 1

    def merge(self, other: "Evaluator") -> "Evaluator":
        """Add ``other``'s state to this one (in place; returns self)."""
        if other.protocol.name != self.protocol.name:
            raise ValueError(f"cannot merge protocol {other.protocol.name!r} into {self.protocol.name!r}")
        if other.structural != self.structural:
            raise ValueError("cannot merge an evaluator with S-measure / weighted F into one without (structural differs)")
        self._sums.merge(other._sums)
        self._scalar_counts += other._scalar_counts
        self.count += other.count
        return self

    def state_dict(self) -> dict:
        """Plain JSON types: the exact sums as integer limbs (see
        :mod:`salbench.metrics.exactsum`), the counts, the protocol's name."""
        return {
            "version": self.STATE_VERSION,
            "protocol": self.protocol.name,
            "structural": self.structural,
            "count": int(self.count),
            "curves": list(CURVES),
            "scalars": list(SCALARS),
            # the curves (row after row, 256 points each), then the scalars
            "sums": self._sums.to_json(),
            "scalar_counts": {k: int(self._scalar_counts[i]) for i, k in enumerate(SCALARS)},
        }

    @classmethod
    def _validate_state(cls, d) -> None:
        """Counts, keys and types of a state dict; a clear ValueError otherwise."""
        from collections.abc import Mapping

        if not isinstance(d, Mapping):
            raise ValueError(f"Evaluator state must be a dict, got {type(d).__name__}")
        version = d.get("version")
        if version not in (1, cls.STATE_VERSION) or isinstance(version, bool):
            raise ValueError(f"unsupported Evaluator state version {version!r} "
                             f"(this salbench reads 1 and {cls.STATE_VERSION})")
        need = ["protocol", "count", "scalar_counts"] + (
            ["curve_sums", "scalar_sums"] if version == 1 else ["sums"])
        missing = [k for k in need if k not in d]
        if missing:
            raise ValueError(f"Evaluator state (version {version}) lacks key(s) {', '.join(missing)}")
        if not isinstance(d["protocol"], str):
            raise ValueError(f"Evaluator state: 'protocol' must be a protocol name, got {type(d['protocol']).__name__}")
        if "structural" in d and not isinstance(d["structural"], bool):
            raise ValueError(f"Evaluator state: 'structural' must be true or false, got {d['structural']!r}")
        count = d["count"]
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"Evaluator state: 'count' must be a non-negative integer, got {_plain(count)!r}")
        sc = d["scalar_counts"]
        if not isinstance(sc, Mapping) or set(sc) != set(SCALARS):
            got = sorted(map(str, sc)) if isinstance(sc, Mapping) else type(sc).__name__
            raise ValueError(f"Evaluator state: 'scalar_counts' must have exactly the keys "
                             f"{', '.join(SCALARS)}; got {got}")
        for k in SCALARS:
            c = sc[k]
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c <= count:
                raise ValueError(f"Evaluator state: scalar_counts[{k!r}] must be an integer in "
                                 f"0..{int(count)} (the image count), got {_plain(c)!r}")
        if version == 1:
            cs, ss = d["curve_sums"], d["scalar_sums"]
            if not isinstance(cs, Mapping) or set(cs) != set(CURVES):
                raise ValueError(f"Evaluator state: 'curve_sums' must have exactly the keys {', '.join(CURVES)}")
            if not isinstance(ss, Mapping) or set(ss) != set(SCALARS):
                raise ValueError(f"Evaluator state: 'scalar_sums' must have exactly the keys {', '.join(SCALARS)}")
            for k in SCALARS:
                if isinstance(ss[k], bool) or not isinstance(ss[k], (int, float, np.number)):
                    raise ValueError(f"Evaluator state: scalar_sums[{k!r}] must be a number, got {_plain(ss[k])!r}")

    @classmethod
    def from_state_dict(cls, d: dict) -> "Evaluator":
        """Rebuild from :meth:`state_dict` (the protocol is looked up by name
        in :data:`salbench.metrics.protocols.PROTOCOLS`). Version 1 states (float64
        sums) load too: their sums are taken as exact values."""
        cls._validate_state(d)
        version = d.get("version")
        try:
            ev = cls(d["protocol"], structural=d.get("structural", True))
        except Exception as exc:  # SalbenchError of get_protocol
            raise ValueError(f"Evaluator state: {exc}") from None
        ev.count = int(d["count"])
        if version == 1:
            curves = np.empty((len(CURVES), numeric.N_BINS), dtype=np.float64)
            for i, k in enumerate(CURVES):
                row = np.asarray(d["curve_sums"][k], dtype=np.float64)
                if row.shape != (numeric.N_BINS,):
                    raise ValueError(f"state curve {k!r} must have {numeric.N_BINS} points")
                curves[i] = row
            ev._sums.add(np.concatenate([curves.reshape(-1),
                                         np.array([float(d["scalar_sums"][k]) for k in SCALARS])]))
        else:
            if list(d.get("curves", CURVES)) != list(CURVES) or list(d.get("scalars", SCALARS)) != list(SCALARS):
                raise ValueError("Evaluator state lists other curves / scalars than this version of salbench")
            try:
                ev._sums = ExactSum.from_json((_N_SUMS,), d["sums"])
            except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
                raise ValueError(f"Evaluator state: 'sums' is not a valid exact-sum record "
                                 f"({type(exc).__name__}: {exc})") from None
        for i, k in enumerate(SCALARS):
            ev._scalar_counts[i] = int(d["scalar_counts"][k])
        return ev

    def compute(self) -> dict:
        """Dataset scores. Curves are lists of 256 floats, index t =
        threshold t (ascending). ``max_f`` / ``mean_f`` follow the protocol's
        ``f_aggregation``; every other curve is the mean of per-image curves."""
        if self.count == 0:
            raise ValueError("Evaluator.compute(): no image has been added")
        counts = np.concatenate([np.full(_N_CURVE_SUMS, self.count, np.int64), self._scalar_counts])
        means = self._sums.means(counts)
        curves = means[:_N_CURVE_SUMS].reshape(len(CURVES), numeric.N_BINS)
        scalar_means = means[_N_CURVE_SUMS:]
        p, r = curves[_I_P], curves[_I_R]
        if self.protocol.f_aggregation == "curve_of_means":
            f = f_of(p, r, self.protocol.beta2)
        else:
            f = curves[_I_F]
        e, iou, dice = curves[_I_E], curves[_I_IOU], curves[_I_DICE]

        def scalar(key):
            i = SCALARS.index(key)
            return float(scalar_means[i]) if self._scalar_counts[i] else None

        return {
            "protocol": self.protocol.name,
            "protocol_details": self.protocol.to_dict(),
            "count": int(self.count),
            "mae": scalar("mae"),
            "max_f": float(f.max()),
            "mean_f": float(f.mean()),
            "adp_f": scalar("adp_f"),
            "s_measure": scalar("s_measure"),
            "max_e": float(e.max()),
            "mean_e": float(e.mean()),
            "adp_e": scalar("adp_e"),
            "weighted_f": scalar("weighted_f"),
            "max_iou": float(iou.max()),
            "mean_iou": float(iou.mean()),
            "max_dice": float(dice.max()),
            "mean_dice": float(dice.mean()),
            "precision": p.tolist(),
            "recall": r.tolist(),
            "f_curve": f.tolist(),
            "e_curve": e.tolist(),
            "iou_curve": iou.tolist(),
            "dice_curve": dice.tolist(),
            "curve_order": "index t is threshold t (t = 0..255, ascending)",
        }
