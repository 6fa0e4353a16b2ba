"""The metrics core: pure functions for one pair, the accumulating
:class:`Evaluator`, the protocols that name each community convention, and the
numeric policy. The numba kernels live in :mod:`salbench.metrics.kernels`.

Public API (re-exported from :mod:`salbench.metrics.core`)::

    from salbench.metrics import Evaluator, image_stats, evaluate_pair
"""

from salbench.metrics.core import (CURVES, SCALARS, SCORE_KEYS, Evaluator, PairStats,
                                   emeasure, evaluate_pair, f_of, fmeasure, image_stats,
                                   iou_dice, kernels_cached, mae, prepare_kernels, smeasure,
                                   warm_kernels, weighted_fmeasure)
from salbench.metrics.protocols import DEFAULT_PROTOCOL, PROTOCOLS, Protocol, get_protocol

__all__ = ["CURVES", "SCALARS", "SCORE_KEYS", "Evaluator", "PairStats", "emeasure",
           "evaluate_pair", "f_of", "fmeasure", "image_stats", "iou_dice", "kernels_cached",
           "mae", "prepare_kernels", "smeasure", "warm_kernels", "weighted_fmeasure",
           "DEFAULT_PROTOCOL", "PROTOCOLS", "Protocol", "get_protocol"]
