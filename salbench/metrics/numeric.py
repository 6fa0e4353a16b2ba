"""The numeric policy of salbench, in one place.

Every constant that changes a metric's value lives here: kernels and protocols
import from this module and never spell a literal of their own. The one
exception is the parameters that define a metric family, which stand beside
the family's definition in :mod:`salbench.metrics.families`. These are the
reference's defaults, such as the context kernel's scale, HCE's relax steps or
the patch size. The threshold that binarises a map for those families is
policy, and it lives here.
"""

from __future__ import annotations

#: β² of the F-measure (Achanta et al. 2009), used by every protocol.
BETA2: float = 0.3

#: number of thresholds / histogram bins of the 8-bit curves.
N_BINS: int = 256

# Every per-image value and curve is float64. Dataset sums over images are not
# float64 but exact (fixed point, :mod:`salbench.metrics.exactsum`), and each
# dataset mean is rounded once, so results do not depend on the order of the images.

#: PySODMetrics 1.6.2's eps (``np.spacing(1)``), used by the ``pysodmetrics`` protocol.
EPS_PYSOD: float = 2.220446049250313e-16

#: Hou et al. 2017 / R3Net ``misc.py``: eps added to the precision and recall denominators.
EPS_R3NET: float = 1e-4

#: GT binarisation of the ``pysodmetrics`` protocol: gt > 128 (on 0..255).
GT_THRESHOLD_PYSOD: int = 128

#: S-measure balance α.
S_ALPHA: float = 0.5

#: binarisation of training masks (``salbench train``): gt >= 128 (on 0..255),
#: the shared-data README's rule for grey-level GT such as PASCAL-S.
GT_THRESHOLD_TRAIN: int = 128

#: ImageNet normalisation of the learned methods' inputs (RGB in [0, 1]): mean, std.
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: R3Net ``misc.py`` ``crf_refine`` (after Hou et al.'s dss_crf): eps inside the logs
#: of the unary, the temperature τ, and the pairwise kernels (sxy, srgb, compat).
CRF_EPS: float = 1e-8
CRF_TAU: float = 1.05
CRF_GAUSSIAN_SXY: float = 3.0
CRF_GAUSSIAN_COMPAT: float = 3.0
CRF_BILATERAL_SXY: float = 60.0
CRF_BILATERAL_SRGB: float = 5.0
CRF_BILATERAL_COMPAT: float = 5.0
CRF_ITERATIONS: int = 1

# --- metrics core (salbench.metrics.protocols / salbench.metrics.pair) -------------------

#: Largest 8-bit value: maps are read as 0..255 and scaled by 1/255.
U8_MAX: int = 255

#: ``r3net`` protocol GT binarisation: hard GT = gt/255 > 0.5, i.e. gt >= 128.
GT_MIN_FG_R3NET: int = 128

#: float GT in [0, 1]: foreground iff gt > this (``pysodmetrics``: 128/255,
#: the float image of ``gt > 128``; ``r3net``: 0.5, as ``misc.py`` writes it).
GT_FLOAT_THRESHOLD_PYSOD: float = 128 / 255
GT_FLOAT_THRESHOLD_R3NET: float = 0.5

#: binarisation of the normalised map in [0, 1] by the metric families: ``pred >
#: 0.5``, PySODMetrics' simulation of an argmax. It is used by FmeasureV2's
#: binary values, the size-invariant and MSIoU binary rows and HCE. BASNet's
#: relaxed boundary F binarises at the same value.
BIN_THRESHOLD: float = 0.5

#: adaptive threshold (Achanta et al. 2009): factor x mean saliency, capped.
ADAPTIVE_FACTOR: float = 2.0
ADAPTIVE_CAP: float = 1.0

#: the histogram-derived mean that sets the adaptive threshold is recomputed
#: with numpy's own summation when an occupied map value lies closer than this
#: to the threshold (so ``>=`` ties break exactly as in PySODMetrics).
ADAPTIVE_TIE_TOL: float = 1e-9

#: tolerance of the metric parity tests against the reference implementations.
PARITY_TOL: float = 1e-10

#: weighted F-measure (Margolin et al. 2014; PySODMetrics 1.6.2 ``WeightedFmeasure``):
#: side of the ``fspecial('gaussian', 7, 5)`` window applied to the dependency-spread error.
WFM_GAUSS_SIZE: int = 7

#: weighted F-measure: σ of that Gaussian window.
WFM_GAUSS_SIGMA: float = 5.0

#: weighted F-measure: the background importance is ``B = 2 - 0.5 ** (d / WFM_IMPORTANCE_HALF_DIST)``
#: (``2 - exp(log(1 - 0.5) / 5 * d)`` in the MATLAB code), d = distance to the nearest foreground pixel.
WFM_IMPORTANCE_HALF_DIST: float = 5.0

#: weighted F-measure: β of ``(1 + β) R P / (R + β P + eps)`` (PySODMetrics' default 1, i.e. wF1).
WFM_BETA: float = 1.0
