"""Salient-object-detection metrics: pure functions for one pair and an
accumulating :class:`~salbench.metrics.evaluator.Evaluator` (in
:mod:`salbench.metrics.evaluator`).

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

from dataclasses import dataclass, field

import numpy as np

from salbench.metrics.kernels import build as FP
from salbench.metrics.kernels import host
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
    #: per metric family asked for: (its per-image scores, its contribution)
    extra: dict = field(default_factory=dict)
    #: per metric family that could not score this image in full: why (a failed
    #: family's scores are NaN and it adds nothing; the other metrics are unaffected)
    family_errors: dict = field(default_factory=dict)

    def scores(self) -> dict:
        """This image's scalar scores (keys :data:`SCORE_KEYS`, then each
        family's per-image keys)."""
        f = self.curves[_I_F]
        e = self.curves[_I_E]
        out = {
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
        for scores, _ in self.extra.values():
            out.update(scores)
        return out


def _family_extra(families, pred: np.ndarray, gtb: np.ndarray, qhist: np.ndarray,
                  image: np.ndarray | None = None, val=None, hist=None) -> tuple[dict, dict]:
    """Run each metric family on one image: ``(extra, errors)`` for
    :attr:`PairStats.extra` and :attr:`PairStats.family_errors`. ``pred`` is
    the map as read (uint8) or already normalised (float64 in [0, 1]); it is
    normalised as PySODMetrics prepares it. ``image``: the photo (H x W x 3
    uint8 RGB) for families that need it; one of another size than the map is
    not used."""
    from salbench.metrics.families.base import ImageInput, reference_normalise

    if image is not None and tuple(np.shape(image)) != tuple(gtb.shape) + (3,):
        image = None
    gtb = np.ascontiguousarray(gtb)
    if val is not None:  # 8-bit map: the float map is val[pred], made only if a family reads it
        x = ImageInput(None, gtb, qhist, None, image, raw=pred, val=val, hist=hist)
    else:
        x = ImageInput(reference_normalise(pred), gtb, qhist, None, image)
    extra, errors = {}, {}
    for fam in families:
        try:
            extra[fam.name] = fam.image(x)
        except Exception as exc:  # one family's failure must not cost the image's other metrics
            extra[fam.name] = ({k: float("nan") for k in fam.image_keys}, {})
            errors[fam.name] = f"failed ({type(exc).__name__}: {exc}): its scores of this image are undefined"
    return extra, errors


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
              weighted: bool = True, share: list | None = None, families=(), image=None) -> PairStats:
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
        s = host.s_measure_from_hist(kern, qhist, val, info, pred.shape)
        if weighted:  # False only when warming the kernels up (prepare_kernels)
            # a Python int keeps the comparison in uint8 (an np.int64 would promote
            # the whole GT to int64 first: ~25x slower)
            mask = gt >= int(proto.gt_min_fg)
            wf = _shared_weighted_f(share, pred, val, mask)
            if wf is None:
                wf = host.weighted_f_u8(kern, pred, val, mask)
                if share is not None:
                    share.append((pred, val.copy(), mask, wf))
    extra, errors = (_family_extra(families, pred, gt >= int(proto.gt_min_fg), outs[4], image,
                                   val=val if proto.minmax else None, hist=hist) if families else ({}, {}))
    return PairStats(curves, float(mae), float(adp_f), float(adp_e), s, wf, extra, errors)




def _levels_strict(p: np.ndarray) -> np.ndarray:
    """Level k = #{t in 0..255 : t/255 < p}, so that ``p > t/255`` iff ``k > t``
    (the comparison R3Net's code makes), exact for any float p in [0, 1]."""
    k = np.clip(np.floor(p * numeric.U8_MAX), 0, numeric.U8_MAX).astype(np.int64)
    up = (k < numeric.U8_MAX) & (k / float(numeric.U8_MAX) < p)
    k = k + up
    down = (k > 0) & ((k - 1) / float(numeric.U8_MAX) >= p)
    return k - down


def _stats_general(pred: np.ndarray, gt: np.ndarray, proto: Protocol, structural: bool,
                   families=(), image=None) -> PairStats:
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
    extra, errors = _family_extra(families, p, gtb, qhist, image) if families else ({}, {})
    return PairStats(curves, mae, float(adp_f), float(adp_e), s, wf, extra, errors)


def image_stats(pred, gt, protocol: str | Protocol = DEFAULT_PROTOCOL, structural: bool = True,
                share: list | None = None, families=(), image=None) -> PairStats:
    """Validate one pair and compute all its curves and scalars.

    Thread-safe; the kernels release the GIL. ``structural=False`` skips the
    S-measure and weighted F (their fields are then ``None``). ``share``: one
    list per map, passed to the calls of each protocol on that map; the
    weighted F is then computed once where two protocols give it identical
    inputs (8-bit maps; the values are bit-identical either way).
    ``families``: :class:`~salbench.metrics.families.base.Family` instances
    to run on the pair too (their results land in :attr:`PairStats.extra`);
    the caller checks that the protocol defines them
    (:func:`salbench.metrics.table.check_protocol`). ``image``: the photo
    (H x W x 3 uint8 RGB), for families that need it (the camouflage context
    measure)."""
    proto = get_protocol(protocol)
    p, g = _prepare(pred, gt)
    if p.dtype == np.uint8 and g.dtype == np.uint8:
        return _stats_u8(p, g, proto, structural, share=share, families=families, image=image)
    return _stats_general(p, g, proto, structural, families=families, image=image)


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


