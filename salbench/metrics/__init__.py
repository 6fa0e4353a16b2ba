"""The metrics core: pure functions for one pair (:mod:`.pair`), the
accumulating :class:`Evaluator` (:mod:`.evaluator`), the first-run kernel
compile (:mod:`.prepare`), the protocols that name each community convention
(:mod:`.protocols`), the numeric policy (:mod:`.numeric`), exact sums
(:mod:`.exactsum`), the metric table (:mod:`.table`), the numba kernels
(:mod:`.kernels`) and the metric families beyond the classic set
(:mod:`.families`).

Public API::

    from salbench.metrics import Evaluator, image_stats, evaluate_pair
"""

from salbench.metrics.evaluator import Evaluator, f_of
from salbench.metrics.pair import (CURVES, SCALARS, SCORE_KEYS, PairStats, emeasure, evaluate_pair,
                                   fmeasure, image_stats, iou_dice, mae, smeasure,
                                   weighted_fmeasure)
from salbench.metrics.prepare import kernels_cached, prepare_kernels, warm_kernels
from salbench.metrics.protocols import DEFAULT_PROTOCOL, PROTOCOLS, Protocol, get_protocol

__all__ = ["CURVES", "SCALARS", "SCORE_KEYS", "Evaluator", "PairStats", "emeasure",
           "evaluate_pair", "f_of", "fmeasure", "image_stats", "iou_dice", "kernels_cached",
           "mae", "prepare_kernels", "smeasure", "warm_kernels", "weighted_fmeasure",
           "DEFAULT_PROTOCOL", "PROTOCOLS", "Protocol", "get_protocol"]
