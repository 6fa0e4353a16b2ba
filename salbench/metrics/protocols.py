"""Named evaluation protocols.

A protocol pins every convention that changes a score: how a map file is read
and normalised, how the GT is binarised, the threshold direction, the eps of
precision / recall, how the MAE's GT is formed and how per-image curves are
aggregated. Every result carries ``protocol.to_dict()``.

Adding a protocol is a local change: build one more :class:`Protocol` (usually
``dataclasses.replace`` of an existing one) and put it in :data:`PROTOCOLS`.

``pysodmetrics`` (default)
    PySODMetrics 1.6.2 and Fan et al.'s MATLAB toolbox: files read as
    ``cv2.imread(path, cv2.IMREAD_GRAYSCALE)``; GT > 128; the map is
    ``mapminmax(im2double(map))`` (per-image min-max, constant maps left at
    v/255), quantised by truncation ``uint8(p * 255)``; foreground at threshold
    t iff level >= t; P = TP/P (0/0 -> 0), R = TP/max(T, 1); per-image curves
    averaged over images, then max / mean over the 256 thresholds.

``r3net``
    Hou et al. 2017's evaluation code as carried by R3Net (Deng et al. IJCAI
    2018, ``misc.py`` ``cal_precision_recall_mae`` / ``cal_fmeasure`` and
    ``infer.py``, zijundeng/R3Net): raw map /255 (no normalisation);
    foreground at threshold t/255 (t = 0..255) iff map > t/255, i.e. 8-bit
    level > t; hard GT = gt/255 > 0.5 (gt >= 128); P = (TP + 1e-4)/(P + 1e-4),
    R = (TP + 1e-4)/(T + 1e-4) (so an empty GT gives a recall of up to
    TP/1e-4, exactly as the reference does); P and R averaged over images
    (``AvgMeter``), F computed from the averaged curves, max over thresholds
    (``mean_f`` is the mean of that same curve); MAE against the soft GT
    gt/255. Files are read as PIL ``Image.open(path).convert('L')`` (the
    reference's reader); 16-bit files, which PIL would clip, are shifted to
    8 bits instead.

    Conventions for what R3Net's code does not define (recorded in
    ``extras``): S-measure, E-measure and weighted F use the toolbox
    (PySODMetrics) definitions and eps on this protocol's inputs (map v/255,
    hard GT); the E curve uses this protocol's ``>`` thresholds and is
    averaged per image; adaptive F / E binarise at ``map >= min(2 mean, 1)``
    (Achanta et al. 2009) and adaptive F uses this protocol's eps-smoothed
    P / R; IoU / Dice curves use ``>`` thresholds, 0 where 0/0, averaged per
    image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from salbench.metrics import numeric
from salbench.errors import SalbenchError

DEFAULT_PROTOCOL = "pysodmetrics"


@dataclass(frozen=True)
class Protocol:
    """One community convention, complete enough to reproduce its numbers."""

    name: str
    description: str
    reference: str
    #: file reader for maps and GT: "cv2" (IMREAD_GRAYSCALE) or "pil" (convert('L'))
    reader: str
    #: per-image min-max normalisation of the map (MATLAB ``mapminmax``)
    minmax: bool
    #: 8-bit GT: foreground iff gt >= gt_min_fg
    gt_min_fg: int
    #: float GT in [0, 1]: foreground iff gt > gt_float_threshold
    gt_float_threshold: float
    #: threshold direction of the 256-point curves: ">=" or ">"
    threshold_cmp: str
    #: eps in P and R, ``(tp+eps)/(p+eps)``; None: PySODMetrics' zero guards
    pr_eps: float | None
    #: eps of the E-measure (and of S / wF, which use numeric.EPS_PYSOD)
    em_eps: float
    #: "hard": MAE against the binarised GT; "soft": against gt/255
    mae_gt: str
    #: "mean_of_curves": per-image F averaged; "curve_of_means": F of averaged P, R
    f_aggregation: str
    #: adaptive threshold rule (documentation; the value is fixed in numeric)
    adaptive: str = "map >= min(2 * mean(map), 1) (Achanta et al. 2009)"
    #: what happens when a map and its GT differ in size
    size_mismatch: str = "map resized to GT size, bilinear (cv2.INTER_LINEAR), counted as 'resized'; --strict-size errors"
    beta2: float = numeric.BETA2
    n_thresholds: int = numeric.N_BINS
    extras: dict = field(default_factory=dict)

    @property
    def strict(self) -> bool:
        """Thresholds compare ``map > t`` (R3Net's code) rather than ``map >= t``."""
        return self.threshold_cmp == ">"

    def to_dict(self) -> dict:
        """JSON-ready record of every convention (stored with each result)."""
        return asdict(self)


PYSODMETRICS = Protocol(
    name="pysodmetrics",
    description="PySODMetrics 1.6.2 / Fan et al. MATLAB toolbox conventions",
    reference="lartpang/PySODMetrics 1.6.2 (py_sod_metrics/sod_metrics.py, fmeasurev2.py, utils.py)",
    reader="cv2",
    minmax=True,
    gt_min_fg=numeric.GT_THRESHOLD_PYSOD + 1,
    gt_float_threshold=numeric.GT_FLOAT_THRESHOLD_PYSOD,
    threshold_cmp=">=",
    pr_eps=None,
    em_eps=numeric.EPS_PYSOD,
    mae_gt="hard",
    f_aggregation="mean_of_curves",
    extras={
        "gt": "gt > 128",
        "map": "mapminmax(v/255) (constant maps: v/255), quantised int(p*255)",
        "empty_gt": "P, R, F = 0; wF = 0; E and S by their all-background branches",
        "s_measure": "Fan et al. ICCV 2017, alpha = 0.5",
        "weighted_f": "Margolin et al. CVPR 2014, beta = 1",
    },
)

R3NET = Protocol(
    name="r3net",
    description="Hou et al. 2017 evaluation code as used by R3Net (IJCAI 2018)",
    reference="zijundeng/R3Net misc.py (cal_precision_recall_mae, cal_fmeasure), infer.py",
    reader="pil",
    minmax=False,
    gt_min_fg=numeric.GT_MIN_FG_R3NET,
    gt_float_threshold=numeric.GT_FLOAT_THRESHOLD_R3NET,
    threshold_cmp=">",
    pr_eps=numeric.EPS_R3NET,
    em_eps=numeric.EPS_PYSOD,
    mae_gt="soft",
    f_aggregation="curve_of_means",
    extras={
        "gt": "hard GT gt/255 > 0.5 (gt >= 128); MAE uses soft gt/255",
        "map": "v/255, no normalisation; threshold t/255 with map > t/255",
        "empty_gt": "as misc.py: R = (TP+1e-4)/1e-4, P = (TP+1e-4)/(P+1e-4); wF = 0",
        "not_in_reference": "S, E, wF: PySODMetrics definitions on this protocol's inputs; "
                            "E, IoU, Dice curves with '>' thresholds averaged per image; "
                            "adaptive F/E at map >= min(2 mean, 1), adaptive F with eps P/R",
        "16bit": "shifted to 8 bits (PIL's convert('L') would clip)",
    },
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (PYSODMETRICS, R3NET)}


def get_protocol(name: str | Protocol) -> Protocol:
    """The protocol called ``name`` (a :class:`Protocol` passes through)."""
    if isinstance(name, Protocol):
        return name
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise SalbenchError(
            f"unknown protocol {name!r}; known protocols: {', '.join(sorted(PROTOCOLS))}") from None
