"""Bootstrap primitives over images: one ``(B, n)`` index matrix per dataset
(seeded ``numpy`` ``default_rng``), turned into per-resample image counts
with one ``bincount``; every column of values is then resampled at once by a
matrix product (missing values, NaN, excluded per resample). Percentile
intervals, the paired-bootstrap p-value and Holm's correction.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0


def resample_counts(n: int, n_boot: int = DEFAULT_RESAMPLES, seed: int | np.random.Generator = DEFAULT_SEED
                    ) -> np.ndarray:
    """``(n_boot, n)`` matrix: how often each image is drawn in each resample
    (from one seeded index matrix; no Python loop per resample)."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    flat = (idx + (np.arange(n_boot) * n)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def bootstrap_means(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Resampled means of each column of ``values`` (``(n,)`` or ``(n, k)``,
    NaN = missing) under resample ``counts`` (``(B, n)``): ``(B,)`` or ``(B, k)``."""
    v = np.asarray(values, dtype=np.float64)
    one = v.ndim == 1
    if one:
        v = v[:, None]
    mask = np.isfinite(v)
    s = counts @ np.where(mask, v, 0.0)
    c = counts @ mask.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = s / c
    return m[:, 0] if one else m


def percentile_interval(boot: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The percentile interval of bootstrap means (rows: resamples), per column."""
    a = (1 - level) / 2
    lo, hi = np.nanquantile(boot, [a, 1 - a], axis=0)
    return lo, hi


def bootstrap_ci(values: Sequence[float], n_boot: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (NaN ignored)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (math.nan, math.nan)
    lo, hi = percentile_interval(bootstrap_means(v, resample_counts(v.size, n_boot, seed)), level)
    return float(lo), float(hi)


def bootstrap_p(d_boot: np.ndarray) -> float:
    """Two-sided paired-bootstrap p-value of a difference: twice the smaller
    share of resampled differences on either side of 0 (at most 1)."""
    d = np.asarray(d_boot, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return math.nan
    if not np.any(d != 0):
        return 1.0
    return float(min(1.0, 2 * min(np.mean(d <= 0), np.mean(d >= 0))))


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN)."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.where(np.isfinite(p))[0]
    if ok.size == 0:
        return out
    order = ok[np.argsort(p[ok])]
    m = ok.size
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adj
    return out
