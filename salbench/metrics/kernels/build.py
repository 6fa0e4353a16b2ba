"""The 8-bit path's kernels, ahead-of-time compiled or JIT, and the NumPy glue
around them. Importing this module imports no numba.

``salbench eval`` reads 8-bit maps and GT; for them the metrics core needs six
kernels, plus the Evaluator's exact accumulation. :data:`KERNEL_TABLE` is the
one list of them (module, function, numba signature), read by both builds:

* **ahead of time** (``aot``): ``pip install`` compiles them with ``numba.pycc``
  into the extension module ``salbench.metrics.kernels._aot`` (see
  :mod:`salbench.metrics.kernels.aot_build` and ``setup.py``). Loading it takes ~1 ms and
  needs no numba at run time, so neither the first run after install nor any
  later run compiles anything, and a warm run does not pay numba's import and
  set-up (~0.3-0.5 s on a 2-core machine);
* **just in time** (``jit``): the ``@njit(cache=True)`` functions of
  :mod:`.counts`, :mod:`.smeasure` and :mod:`.wfmeasure`, compiled on
  first use and then loaded from numba's on-disk cache.

The extension records a hash of the sources it was compiled from
(:data:`SOURCES`); it is used only while that hash equals the current sources'
(an edited checkout falls back to the JIT build until ``python -m
salbench.metrics.kernels.aot_build`` rebuilds it). ``SALBENCH_KERNELS=jit`` forces the JIT
build, ``SALBENCH_KERNELS=aot`` makes a missing or stale extension an error.
Both builds give the same values (tests compare them on random and real maps).

The numba-free helpers both builds share are in :mod:`.host`.
"""

from __future__ import annotations

import hashlib
import os
import importlib
import threading
from pathlib import Path

#: environment variable choosing the build: ``auto`` (default), ``aot`` or ``jit``
ENV_VAR = "SALBENCH_KERNELS"
#: the extension module's name inside the ``salbench`` package
AOT_MODULE = "_aot"
_C2, _C3 = "[:, ::1]", "[:, :, ::1]"
#: the 8-bit path's kernels: name (an attribute of :class:`Kernels`) ->
#: (module in this package, ``@njit`` function, numba signature of the types the
#: metrics core passes, C-contiguous arrays). The one source of each signature.
KERNEL_TABLE: dict[str, tuple[str, str, str]] = {
    "quadrant_hist_u8": ("counts", "quadrant_hist_u8",
                         f"i8(u1{_C2}, u1{_C2}, i8, b1, i8[::1], i8{_C3}, i8{_C2}, i8[::1])"),
    "hist_u8": ("counts", "hist_u8", "i8(u1[::1], u1[::1], i8, b1, i8[::1], i8[:, ::1])"),
    "u8_summary": ("counts", "u8_summary",
                   f"void(i8{_C2}, i8, b1, b1, b1, f8, f8, f8, f8, f8, f8, f8, "
                   f"f8{_C2}, f8[::1], f8[::1], i8[::1], i8{_C2})"),
    "s_measure_hist": ("smeasure", "_s_measure_hist_kernel",
                       f"f8(i8{_C3}, f8[::1], i8, i8, i8, i8, f8[::1], i8[::1])"),
    "lookup": ("wfmeasure", "_lookup", f"void(u1{_C2}, f8[::1], u1{_C2}, f8{_C2}, i8[::1])"),
    "weighted_f": ("wfmeasure", "_weighted_f_kernel",
                   f"f8(f8{_C2}, u1{_C2}, f8[::1], f8[::1], i4{_C2}, i8{_C2}, i4{_C2}, b1{_C2}, "
                   f"f8{_C2}, b1)"),
    "exact_add": ("counts", "exact_add", f"i8(f8[::1], i8{_C2}, f8, f8)"),
}
#: the kernel names, in table order
KERNELS: tuple[str, ...] = tuple(KERNEL_TABLE)
#: files whose content decides the compiled code (the hash the extension records)
SOURCES: tuple[str, ...] = ("counts.py", "smeasure.py", "wfmeasure.py", "host.py", "numba_internals.py",
                            "../numeric.py", "build.py", "aot_build.py")

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


class Kernels:
    """One build of the 8-bit path's kernels, each an attribute named as in
    :data:`KERNEL_TABLE`. ``backend`` is ``"aot"`` or ``"jit"``; ``note`` says
    why the AOT build is not used (empty if it is)."""

    def __init__(self, backend: str, note: str, functions: dict) -> None:
        missing = [name for name in KERNELS if name not in functions]
        if missing:
            raise ValueError(f"kernel build {backend!r} lacks {', '.join(missing)}")
        self.backend = backend
        self.note = note
        for name in KERNELS:
            setattr(self, name, functions[name])

    def __repr__(self) -> str:
        return f"Kernels(backend={self.backend!r}, note={self.note!r})"


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
    return Kernels("aot", "", {name: getattr(mod, name) for name in KERNELS}), ""


def jit_kernels(note: str = "") -> Kernels:
    """The JIT build (imports numba)."""
    return Kernels("jit", note, {name: jit_function(name) for name in KERNELS})


def jit_function(name: str):
    """The ``@njit`` function of kernel ``name`` (imports numba)."""
    module, attr, _ = KERNEL_TABLE[name]
    return getattr(importlib.import_module(f"{__package__}.{module}"), attr)


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
