"""The 8-bit path's kernels, ahead-of-time compiled or JIT, and the NumPy glue
around them. Importing this module imports no numba.

``salbench eval`` reads 8-bit maps and GT; for them the metrics core needs six
kernels, plus the Evaluator's exact accumulation (:data:`KERNELS`). They exist in two builds of the same source:

* **ahead of time** (``aot``): ``pip install`` compiles them with ``numba.pycc``
  into the extension module ``salbench.metrics.kernels._aot`` (see
  :mod:`salbench.metrics.kernels.aot_build` and ``setup.py``). Loading it takes ~1 ms and
  needs no numba at run time, so neither the first run after install nor any
  later run compiles anything, and a warm run does not pay numba's import and
  set-up (~0.3-0.5 s on the dev box);
* **just in time** (``jit``): the ``@njit(cache=True)`` functions of
  :mod:`salbench.metrics.kernels.counts` and :mod:`salbench.metrics.kernels.structure`, compiled on
  first use and then loaded from numba's on-disk cache.

The extension records a hash of the sources it was compiled from
(:data:`SOURCES`); it is used only while that hash equals the current sources'
(an edited checkout falls back to the JIT build until ``python -m
salbench.metrics.kernels.aot_build`` rebuilds it). ``SALBENCH_KERNELS=jit`` forces the JIT
build, ``SALBENCH_KERNELS=aot`` makes a missing or stale extension an error.
Both builds give the same values (tests compare them on random and real maps).

The numba-free helpers of the weighted F (Gaussian taps, importance table,
per-thread scratch) live here too, shared by both builds.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from salbench.metrics import numeric

#: environment variable choosing the build: ``auto`` (default), ``aot`` or ``jit``
ENV_VAR = "SALBENCH_KERNELS"
#: the extension module's name inside the ``salbench`` package
AOT_MODULE = "_aot"
#: the kernels of the 8-bit path, as attributes of :class:`Kernels`
KERNELS: tuple[str, ...] = ("quadrant_hist_u8", "hist_u8", "u8_summary",
                            "s_measure_hist", "lookup", "weighted_f", "exact_add")
#: files whose content decides the compiled code (the hash the extension records)
SOURCES: tuple[str, ...] = ("counts.py", "structure.py", "../numeric.py",
                            "build.py", "aot_build.py")

_HERE = Path(__file__).resolve().parent


def cpu_tag() -> int:
    """63-bit fingerprint of this machine's CPU (model name and feature flags of
    the first processor in ``/proc/cpuinfo``), 0 where that is not readable.
    The AOT build is compiled for the build machine's CPU and records its
    fingerprint; another CPU (a copied installation) falls back to JIT instead
    of meeting instructions it may lack."""
    model = flags = b""
    try:
        with open("/proc/cpuinfo", "rb") as fh:
            for line in fh:
                key = line.split(b":", 1)[0].strip()
                if key == b"model name" and not model:
                    model = line
                elif key in (b"flags", b"Features") and not flags:
                    flags = line
                if model and flags:
                    break
    except OSError:
        return 0
    if not flags:
        return 0
    return int.from_bytes(hashlib.sha256(model + flags).digest()[:8], "little") & ((1 << 63) - 1)


def source_hash() -> int:
    """63-bit hash of :data:`SOURCES` (their bytes, in order)."""
    h = hashlib.sha256()
    for name in SOURCES:
        h.update(name.encode())
        h.update((_HERE / name).read_bytes())
    return int.from_bytes(h.digest()[:8], "little") & ((1 << 63) - 1)


@dataclass(frozen=True)
class Kernels:
    """One build of the 8-bit path's kernels. ``backend`` is ``"aot"`` or
    ``"jit"``; ``note`` says why the AOT build is not used (empty if it is)."""

    backend: str
    note: str
    quadrant_hist_u8: Callable
    hist_u8: Callable
    u8_summary: Callable
    s_measure_hist: Callable
    lookup: Callable
    weighted_f: Callable
    exact_add: Callable


_LOCK = threading.Lock()
_ACTIVE: Kernels | None = None


def _aot_kernels() -> tuple[Kernels | None, str]:
    try:
        from salbench.metrics.kernels import _aot as mod  # type: ignore[attr-defined]
    except ImportError as exc:
        return None, f"the compiled kernels are not built ({exc})"
    try:
        built = int(mod.source_hash())
    except Exception as exc:  # pragma: no cover - a foreign or broken module
        return None, f"the compiled kernels are unreadable ({exc})"
    if built != source_hash():
        return None, ("the compiled kernels are older than the sources "
                      "(rebuild: python -m salbench.metrics.kernels.aot_build)")
    if int(mod.cpu_tag()) != cpu_tag():
        return None, ("the compiled kernels were built for another CPU "
                      "(rebuild: python -m salbench.metrics.kernels.aot_build)")
    return Kernels("aot", "", *(getattr(mod, name) for name in KERNELS)), ""


def jit_kernels(note: str = "") -> Kernels:
    """The JIT build (imports numba)."""
    from salbench.metrics.kernels import counts as K
    from salbench.metrics.kernels import structure as S

    return Kernels("jit", note, K.quadrant_hist_u8, K.hist_u8, K.u8_summary,
                   S._s_measure_hist_kernel, S._lookup, S._weighted_f_kernel, K.exact_add)


def load(mode: str | None = None) -> Kernels:
    """The build ``mode`` asks for (default: ``$SALBENCH_KERNELS`` or ``auto``):
    ``auto`` = the AOT build when it is there and current, else JIT."""
    mode = (mode or os.environ.get(ENV_VAR) or "auto").strip().lower()
    if mode not in ("auto", "aot", "jit"):
        raise ValueError(f"{ENV_VAR}={mode!r}: expected auto, aot or jit")
    if mode == "jit":
        return jit_kernels(f"{ENV_VAR}=jit")
    kern, why = _aot_kernels()
    if kern is not None:
        return kern
    if mode == "aot":
        raise RuntimeError(f"{ENV_VAR}=aot but {why}")
    return jit_kernels(why)


def active() -> Kernels:
    """The kernels this process uses (chosen once, on first call)."""
    global _ACTIVE
    kern = _ACTIVE
    if kern is None:
        with _LOCK:
            if _ACTIVE is None:
                _ACTIVE = load()
            kern = _ACTIVE
    return kern


def use(kern: Kernels | str | None) -> Kernels | None:
    """Switch this process to ``kern`` (a :class:`Kernels`, a mode for
    :func:`load`, or None to choose again on next use); returns the previous
    choice. For tests and benchmarks comparing the two builds."""
    global _ACTIVE
    with _LOCK:
        prev = _ACTIVE
        _ACTIVE = load(kern) if isinstance(kern, str) else kern
    return prev


# ---------------------------------------------------------------------------
# weighted F: constants, importance table, scratch
# ---------------------------------------------------------------------------

def _gauss_1d() -> np.ndarray:
    """Normalised 1-D factor of ``fspecial('gaussian', WFM_GAUSS_SIZE, WFM_GAUSS_SIGMA)``."""
    half = (numeric.WFM_GAUSS_SIZE - 1) / 2
    x = np.arange(-half, half + 1, dtype=np.float64)
    g = np.exp(-(x * x) / (2 * numeric.WFM_GAUSS_SIGMA * numeric.WFM_GAUSS_SIGMA))
    # fspecial zeroes values below eps * max; none are for a 7x7 window with sigma 5
    g[g < np.finfo(np.float64).eps * g.max()] = 0
    return g / g.sum()


GAUSS = _gauss_1d()
#: columns of sentinels on each side of the weighted F's ``near`` buffer, so the
#: 9-column search around a pixel needs no bounds test
PAD = 4

_B_LOCK = threading.Lock()
_B_TABLE = np.empty(0, dtype=np.float64)
#: ``log(0.5) / 5`` in PySODMetrics' spelling (``np.log(0.5) / 5``).
_B_DECAY = float(np.log(0.5) / numeric.WFM_IMPORTANCE_HALF_DIST)


def _b_saturation_d2() -> int:
    """A squared distance from which on B is exactly 2.0 in float64 (about 1.01 · 265²).

    ``exp(decay·d)`` then lies below half an ulp of 2, so ``2 - exp(...)`` rounds to 2
    in NumPy as anywhere; found by bisection on NumPy's own values, with a margin."""
    lo, hi = 0, 1 << 40
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if 2 - np.exp(_B_DECAY * np.sqrt(np.float64(mid))) == 2.0:
            hi = mid
        else:
            lo = mid
    return int(hi * 1.01) + 1


B_SAT_D2 = _b_saturation_d2()


def importance_table(max_d2: int) -> np.ndarray:
    """``2 - exp(log(0.5)/5 * sqrt(d2))`` for d2 = 0..min(max_d2, B_SAT_D2), cached.

    The kernel reads entry ``min(d2, len - 1)``: exact, because a table shorter
    than ``max_d2 + 1`` ends at ``B_SAT_D2``, where (and beyond which) B is 2.0.
    Computed with NumPy in PySODMetrics' operation order (``np.log(0.5) / 5 * Dst``
    with ``Dst = sqrt(float(d2))``): the same bits. At most ~71 000 entries."""
    global _B_TABLE
    want = min(max_d2, B_SAT_D2) + 1
    table = _B_TABLE
    if table.shape[0] >= want:
        return table
    with _B_LOCK:
        if _B_TABLE.shape[0] < want:
            size = min(max(want, 2 * _B_TABLE.shape[0]), B_SAT_D2 + 1)
            dst = np.sqrt(np.arange(size, dtype=np.float64))
            _B_TABLE = 2 - np.exp(_B_DECAY * dst)
        return _B_TABLE


_TLS = threading.local()


def scratch(n: int, dtype) -> np.ndarray:
    """This thread's scratch of ``dtype`` with at least ``n`` elements (first ``n``
    returned).

    Reused across calls: a fresh image-sized array per image costs page faults
    (~0.1 ms per SOD image); one per thread and type keeps the kernels thread-safe."""
    key = np.dtype(dtype).char
    bufs = getattr(_TLS, "bufs", None)
    if bufs is None:
        bufs = _TLS.bufs = {}
    buf = bufs.get(key)
    if buf is None or buf.shape[0] < n:
        buf = bufs[key] = np.empty(n, dtype=dtype)
    return buf[:n]


def weighted_f_with(kernel: Callable, pred: np.ndarray, gt: np.ndarray) -> float:
    """Weighted F of a checked float64 C-contiguous map against a bool
    C-contiguous GT, with ``kernel`` (either build of the weighted-F kernel)."""
    if not gt.any():
        return 0.0
    h, w = gt.shape
    return _weighted_f_fg(kernel, pred, gt, np.empty((5, max(h, w)), dtype=np.int64), False)


def _weighted_f_fg(kernel: Callable, pred: np.ndarray, gt: np.ndarray, ibuf: np.ndarray, have_nz: bool) -> float:
    """:func:`weighted_f_with` for a GT known to have foreground; ``ibuf`` int64
    (5, max(h, w)) scratch, its row 4 filled already when ``have_nz``."""
    h, w = gt.shape
    table = importance_table((h - 1) ** 2 + (w - 1) ** 2)
    taps = GAUSS.shape[0]
    near = scratch(h * (w + 2 * PAD), np.int32).reshape(h, w + 2 * PAD)
    cbuf = np.empty((2, w), dtype=np.int32)
    bbuf = np.empty((2, (w + 2 * PAD + 7) // 8 * 8), dtype=np.bool_)  # read as 64-bit words too
    fbuf = np.empty((taps + 2, w + taps - 1), dtype=np.float64)
    return float(kernel(pred, gt.view(np.uint8), table, GAUSS, near, ibuf, cbuf, bbuf, fbuf, have_nz))


def weighted_f_u8(kern: Kernels, pred: np.ndarray, val: np.ndarray, gt: np.ndarray) -> float:
    """Weighted F of an 8-bit map (C-contiguous uint8) whose normalised values are
    ``val[level]`` (256 float64), against a C-contiguous bool GT of the same
    shape. The float map is made in a per-thread scratch buffer, with the
    per-row counts of non-zero background pixels in the same pass."""
    if not gt.any():
        return 0.0
    h, w = gt.shape
    p = scratch(pred.size, np.float64).reshape(pred.shape)
    ibuf = np.empty((5, max(h, w)), dtype=np.int64)
    g8 = gt.view(np.uint8)
    kern.lookup(pred, val, g8, p, ibuf[4])
    return _weighted_f_fg(kern.weighted_f, p, gt, ibuf, True)


def s_measure_from_hist(kern: Kernels, qhist: np.ndarray, val: np.ndarray, info: np.ndarray,
                        shape: tuple[int, int]) -> float:
    """S-measure of an 8-bit map from the quadrant histograms of
    ``quadrant_hist_u8`` (``qhist``, ``info = [cy, cx, ...]``) and its value
    table ``val`` (level -> normalised value)."""
    h, w = shape
    cy, cx = int(info[0]), int(info[1])
    x_exact = np.full(4, np.nan)
    flags = np.zeros(6, dtype=np.int64)
    sm = kern.s_measure_hist(qhist, val, cy, cx, h, w, x_exact, flags)
    if flags[2:].any():
        # constant quadrants: NumPy's mean of that slice of the float map, which is
        # the constant everywhere in the slice; the same strides give the same
        # summation order, so a full-size constant array stands in for the map
        bounds = ((0, cy, 0, cx), (0, cy, cx, w), (cy, h, 0, cx), (cy, h, cx, w))
        for q, (r0, r1, c0, c1) in enumerate(bounds):
            if flags[2 + q]:
                level = int(np.flatnonzero(qhist[q].sum(axis=0))[0])
                x_exact[q] = np.mean(np.full((h, w), val[level])[r0:r1, c0:c1])
        sm = kern.s_measure_hist(qhist, val, cy, cx, h, w, x_exact, flags)
    return float(sm)
