"""The numeric policy of salbench, in one place.

Every constant that changes a metric's value lives here: kernels and protocols
import from this module and never spell a literal of their own.
"""

from __future__ import annotations

#: β² of the F-measure (Achanta et al. 2009), used by every protocol.
BETA2: float = 0.3

#: number of thresholds / histogram bins of the 8-bit curves.
N_BINS: int = 256

#: accumulation dtype of all sums and curves.
ACC_DTYPE = "float64"

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
