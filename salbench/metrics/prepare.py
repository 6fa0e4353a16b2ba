"""The first-run compile lifecycle of the 8-bit path's JIT kernels: whether
they are ready (:func:`kernels_cached`), warming them on a tiny pair
(:func:`warm_kernels`), and compiling the two groups on two cores before a run
(:func:`prepare_kernels`). With the AOT-compiled build
(:mod:`salbench.metrics.kernels.build`) there is nothing to do."""

from __future__ import annotations

import os

import numpy as np

from salbench.metrics import numeric
from salbench.metrics.exactsum import ExactSum
from salbench.metrics.kernels import build as FP
from salbench.metrics.kernels import host
from salbench.metrics.kernels.numba_internals import cache_fresh as _cache_fresh
from salbench.metrics.pair import _K, _stats_u8
from salbench.metrics.protocols import DEFAULT_PROTOCOL, get_protocol


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
        host.weighted_f_u8(FP.active(), pred, np.arange(numeric.N_BINS) / numeric.U8_MAX, gt > 0)
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
    return _cache_fresh(FP.jit_function("weighted_f")) and _cache_fresh(FP.jit_function("s_measure_hist"))


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
    child = None
    if not _cache_fresh(FP.jit_function("weighted_f")):
        try:
            # the child must build the same (JIT) kernels whatever its environment says
            env = dict(os.environ, **{FP.ENV_VAR: "jit"})
            child = subprocess.Popen([sys.executable, "-c",
                                      "from salbench.metrics.prepare import warm_kernels; warm_kernels('weighted_f')"],
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

