"""The contract of a metric family beyond the classic set, and the exact
accumulator every family shares.

A family (FmeasureV2 counts, size-invariant metrics, MSIoU, HCE, context
measure, relaxed boundary F) sees each image once as an :class:`ImageInput`
and returns two things:

* its **per-image scores** (``dict[str, float]``, keys :attr:`Family.image_keys`;
  ``nan`` where a score is undefined for that image), stored per image and
  written to the per-image CSV;
* its **contribution** to the dataset state (``dict[str, np.ndarray]``): float64
  arrays are summed exactly (:class:`SignedExactSum`), integer arrays in int64.
  Every dataset value is a function of the summed contributions and the image
  count (:meth:`Family.finish`), so shards merge bit for bit by addition and
  memory is constant in the number of images.

Families are pure: no I/O, no protocol lookup. The caller (the Evaluator)
normalises the inputs as the protocol says and refuses families the protocol
does not define.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from salbench.metrics import numeric
from salbench.metrics.exactsum import ExactSum


class ImageInput:
    """One image, as every family sees it.

    ``pred``: float64 map in [0, 1], normalised exactly as the protocol's
    reference normalises it (PySODMetrics: ``pred / 255``, then min-max
    rescaled when max > min). ``gt``: bool foreground mask (PySODMetrics:
    ``gt > 128``). ``qhist``: int64 (2, 256) histogram of the normalised map at
    the reference's 256 levels (``(pred * 255).astype(uint8)``), row 0 over
    background pixels, row 1 over foreground pixels; the per-threshold
    TP / FP / TN / FN of every curve metric follow from it without another
    pass. ``adaptive_threshold``: the protocol's adaptive threshold of this map
    (``min(2 * mean(pred), 1)``). ``image``: the photo (H x W x 3 uint8, RGB)
    where the caller has it (families with :attr:`Family.needs_image`), else
    None. ``cache``: per-image work shared between families.

    8-bit maps may come as ``raw`` (the uint8 map), ``val`` (its value table:
    raw level -> normalised value, bit for bit the reference's) and ``hist``
    (int64 (2, 256) histogram of the raw levels, background / foreground):
    ``pred`` is then made only when a family reads it, and
    :meth:`counts_at` needs no pass over the pixels.
    """

    def __init__(self, pred=None, gt=None, qhist=None, adaptive_threshold=None, image=None, *,
                 raw=None, val=None, hist=None) -> None:
        self._pred = pred
        self.gt = gt
        self.qhist = qhist
        self.image = image
        self.raw, self.val, self.hist = raw, val, hist
        self._thr = None if adaptive_threshold is None else float(adaptive_threshold)
        self.cache: dict = {}

    @property
    def pred(self) -> np.ndarray:
        """The normalised float64 map (made from ``val[raw]`` on first use)."""
        if self._pred is None:
            self._pred = self.val[self.raw]
        return self._pred

    @property
    def adaptive_threshold(self) -> float:
        """``min(2 * mean(pred), 1)`` as the reference computes it (NumPy's
        pairwise mean of the float map). From the histogram when no map value
        lies within :data:`~salbench.metrics.numeric.ADAPTIVE_TIE_TOL` of it
        (comparisons with it are then the same), else from the float map."""
        if self._thr is None:
            thr = None
            if self.hist is not None and self.val is not None and self._pred is None:
                n = self.hist.sum(axis=0)
                t = min(numeric.ADAPTIVE_FACTOR * float(n @ self.val) / float(n.sum()),
                        numeric.ADAPTIVE_CAP)
                occupied = self.val[n > 0]
                if not np.any(np.abs(occupied - t) <= numeric.ADAPTIVE_TIE_TOL):
                    thr = t
            if thr is None:
                thr = min(numeric.ADAPTIVE_FACTOR * float(self.pred.mean()), numeric.ADAPTIVE_CAP)
            self._thr = thr
        return self._thr

    def counts_at(self, thr: float, inclusive: bool) -> tuple[int, int]:
        """``(TP, FP)``: foreground / background pixels with ``pred >= thr``
        (``inclusive``) or ``pred > thr``; from the raw histogram when there is
        one (exact: the same comparisons on the value table), else one pass."""
        if self.hist is not None and self.val is not None:
            sel = self.val >= thr if inclusive else self.val > thr
            return int(self.hist[1, sel].sum()), int(self.hist[0, sel].sum())
        b = self.pred >= thr if inclusive else self.pred > thr
        tp = int(np.count_nonzero(b & self.gt))
        return tp, int(np.count_nonzero(b)) - tp


@dataclass(frozen=True)
class MetricSpec:
    """One row of the metric table: what a result key means and how to show it.

    ``key`` is the result key (JSON, store, CSV column); ``per_image`` says
    whether the key is also a per-image score; ``curve`` marks 256-point
    curves (JSON only). ``protocols`` names the protocols that define it."""

    key: str
    family: str
    definition: str
    reference: str
    higher_is_better: bool
    header_md: str
    header_tex: str
    per_image: bool = True
    curve: bool = False
    protocols: tuple[str, ...] = ("pysodmetrics",)


def reference_normalise(pred: np.ndarray) -> np.ndarray:
    """The map as PySODMetrics 1.6.2 prepares it: ``pred / 255`` (a float map
    is taken as already divided), then min-max rescaled when max > min."""
    p = pred / numeric.U8_MAX if pred.dtype == np.uint8 else pred
    lo, hi = p.min(), p.max()
    if hi != lo:
        p = (p - lo) / (hi - lo)
    return p


def image_input(pred, gt) -> ImageInput:
    """The :class:`ImageInput` of a uint8 map and a uint8 (or bool) GT under
    the ``pysodmetrics`` protocol, built with NumPy exactly as PySODMetrics
    1.6.2 prepares its inputs (the reference construction; the Evaluator's
    fast path builds the same values from its histogram pass)."""
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.dtype != np.uint8:
        raise ValueError(f"image_input: map dtype {pred.dtype}, expected uint8")
    gtb = gt if gt.dtype == np.bool_ else gt > 128
    p = reference_normalise(pred)
    levels = (p * 255).astype(np.uint8)
    qhist = np.stack([np.bincount(levels[~gtb].ravel(), minlength=256),
                      np.bincount(levels[gtb].ravel(), minlength=256)]).astype(np.int64)
    return ImageInput(p, np.ascontiguousarray(gtb), qhist)


class Family:
    """One metric family. Subclasses set the class attributes and implement
    :meth:`image` and :meth:`finish`."""

    #: short name used by ``--metrics`` (e.g. ``"fmv2"``)
    name: str = ""
    #: per-image score keys, in output order
    image_keys: tuple[str, ...] = ()
    #: per-image keys whose dataset value is the mean of the per-image values
    #: (so bootstrap intervals, paired tests and subsets resample those values)
    image_mean_keys: tuple[str, ...] = ()
    #: dataset-level scalar keys, in output order
    keys: tuple[str, ...] = ()
    #: dataset-level curve keys (256-point arrays), in output order
    curve_keys: tuple[str, ...] = ()
    #: whether some keys need the photo (:attr:`ImageInput.image`); without it
    #: those keys are NaN for the image and left out of its contribution
    needs_image: bool = False

    def specs(self) -> tuple[MetricSpec, ...]:
        """One :class:`MetricSpec` per key this family reports (per-image
        scores, dataset scalars and curves)."""
        raise NotImplementedError

    def image(self, x: ImageInput) -> tuple[dict[str, float], dict[str, np.ndarray]]:
        """Per-image scores and this image's additive contribution."""
        raise NotImplementedError

    def finish(self, state: dict[str, np.ndarray], n_images: int) -> dict:
        """Dataset-level values (scalars as float, curves as float64 arrays)
        from the summed contributions: ``state`` holds each float key as the
        correctly rounded mean over the images that gave it, each int key as
        its exact sum, and ``_count:<key>`` the number of images that gave
        ``key`` (see :meth:`Accumulator.state`)."""
        raise NotImplementedError


class SignedExactSum:
    """Exact running sum of float64 arrays whose values may be negative
    (Cohen's kappa): positive and negative parts in two :class:`ExactSum` and
    one correctly rounded difference at the end."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(shape)
        inner = self.shape or (1,)  # a scalar is summed as a 1-element array
        self.pos = ExactSum(inner)
        self.neg = ExactSum(inner)

    def add(self, x) -> None:
        """Add one float64 array of :attr:`shape` (a scalar for shape ``()``)
        exactly; NaN raises ``ValueError``."""
        x = np.asarray(x, dtype=np.float64).reshape(self.shape or (1,))
        if np.isnan(x).any():
            raise ValueError("SignedExactSum.add: NaN value")
        self.pos.add(np.where(x > 0, x, 0.0))
        self.neg.add(np.where(x < 0, -x, 0.0))

    def merge(self, other: "SignedExactSum") -> None:
        """Add ``other``'s sum (exactly)."""
        self.pos.merge(other.pos)
        self.neg.merge(other.neg)

    def means(self, count: int) -> np.ndarray:
        """Correctly rounded ``sum / count``."""
        from salbench.metrics.exactsum import LIMB_BITS, _INT_LIMBS

        used = max(self.pos.used, self.neg.used)
        out = np.empty(int(np.prod(self.shape)) if self.shape else 1, np.float64)
        pos, neg = self.pos._exact(), self.neg._exact()
        shift_p = LIMB_BITS * (self.pos.used - _INT_LIMBS)
        shift_n = LIMB_BITS * (self.neg.used - _INT_LIMBS)
        shift = LIMB_BITS * (used - _INT_LIMBS)
        for j in range(out.shape[0]):
            total = (pos[j] << (shift - shift_p)) - (neg[j] << (shift - shift_n))
            out[j] = total / (int(count) << shift) if count > 0 else np.nan
        return out.reshape(self.shape)

    def to_json(self) -> dict:
        """Plain JSON: the positive and negative parts' limbs."""
        return {"pos": self.pos.to_json(), "neg": self.neg.to_json()}

    @classmethod
    def from_json(cls, shape, d: dict) -> "SignedExactSum":
        """Rebuild from :meth:`to_json`."""
        s = cls(shape)
        s.pos = ExactSum.from_json(tuple(shape) or (1,), d["pos"])
        s.neg = ExactSum.from_json(tuple(shape) or (1,), d["neg"])
        return s


class Accumulator:
    """The dataset state of one family: exact sums of its contributions plus
    per-key counts of the images that contributed (a contribution may leave a
    key out for an image where it is undefined, as NaN scores are left out of
    PySODMetrics' means)."""

    def __init__(self, family: Family) -> None:
        self.family = family
        self.floats: dict[str, SignedExactSum] = {}
        self.ints: dict[str, np.ndarray] = {}
        self.counts: dict[str, int] = {}
        self.n_images = 0

    def add(self, contribution: dict[str, np.ndarray]) -> None:
        """Add one image's contribution (exactly)."""
        for key, value in contribution.items():
            a = np.asarray(value)
            if np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
                cur = self.ints.get(key)
                self.ints[key] = a.astype(np.int64) if cur is None else cur + a
            else:
                acc = self.floats.get(key)
                if acc is None:
                    acc = self.floats[key] = SignedExactSum(a.shape)
                acc.add(a)
            self.counts[key] = self.counts.get(key, 0) + 1
        self.n_images += 1

    def merge(self, other: "Accumulator") -> None:
        """Add another accumulator's state (exactly: equal to one pass)."""
        for key, acc in other.floats.items():
            if key in self.floats:
                self.floats[key].merge(acc)
            else:
                mine = self.floats[key] = SignedExactSum(acc.shape)
                mine.merge(acc)
        for key, a in other.ints.items():
            self.ints[key] = a.copy() if key not in self.ints else self.ints[key] + a
        for key, c in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + c
        self.n_images += other.n_images

    def state(self) -> dict[str, np.ndarray]:
        """Float keys as correctly rounded means over the images that gave the
        key; int keys as exact int64 sums. ``_count:<key>`` holds each count."""
        out: dict[str, np.ndarray] = {}
        for key, acc in self.floats.items():
            out[key] = acc.means(self.counts[key])
        out.update(self.ints)
        for key, c in self.counts.items():
            out[f"_count:{key}"] = np.int64(c)
        return out

    def compute(self) -> dict:
        """The family's dataset-level values."""
        return self.family.finish(self.state(), self.n_images)

    def state_dict(self) -> dict:
        """Plain JSON state (exact)."""
        return {"n_images": self.n_images,
                "floats": {k: {"shape": list(v.shape), **v.to_json()} for k, v in self.floats.items()},
                "ints": {k: {"shape": list(v.shape), "values": v.reshape(-1).tolist()}
                         for k, v in self.ints.items()},
                "counts": dict(self.counts)}

    def load_state_dict(self, d: dict) -> None:
        """Replace the state by ``d`` (from :meth:`state_dict`)."""
        self.n_images = int(d["n_images"])
        self.floats = {k: SignedExactSum.from_json(tuple(v["shape"]), v) for k, v in d["floats"].items()}
        self.ints = {k: np.asarray(v["values"], np.int64).reshape(v["shape"]) for k, v in d["ints"].items()}
        self.counts = {k: int(c) for k, c in d["counts"].items()}
