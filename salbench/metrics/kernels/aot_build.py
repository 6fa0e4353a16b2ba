"""Ahead-of-time compilation of the 8-bit path's kernels (``numba.pycc``).

``pip install`` runs this through ``setup.py``: the six kernels that
``salbench eval`` needs (:data:`salbench.metrics.kernels.build.KERNELS`) are compiled into
the extension module ``salbench.metrics.kernels._aot`` (with the Evaluator's exact
accumulation, :func:`salbench.metrics.kernels.counts.exact_add`), so the first ``salbench eval``
after install compiles nothing and no run imports numba for them. Without a C
compiler, or if anything here fails, the install goes on without the module
and the kernels are compiled on first use (JIT), as before.

By hand (e.g. after editing a kernel in a development checkout, which makes the
installed module stale: :mod:`salbench.metrics.kernels.build` then falls back to JIT)::

    python -m salbench.metrics.kernels.aot_build [--output-dir DIR]

Each exported function is a one-line wrapper that calls the ``@njit`` kernel,
so the kernel is compiled with its own options (``fastmath`` flags, inlined
helpers) exactly as the JIT build compiles it; the signatures below are the
argument types the metrics core passes (C-contiguous arrays). ``numba.pycc``
does not release the GIL by default; the build turns that on (the evaluator
runs pairs in threads), as ``@njit(nogil=True)`` does for the JIT build. The
code is compiled for the build machine's CPU (like ``-march=native``; the
generic target was ~1.7x slower) and records its fingerprint
(:func:`salbench.metrics.kernels.build.cpu_tag`): a copy of the installation on another
CPU uses the JIT build. ``numba.pycc`` is pending deprecation in numba (since
0.57, still present in 0.68); when it goes, the install falls back to JIT.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

from salbench.metrics.kernels import build as FP

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # numba.pycc's pending-deprecation warning
    from numba.pycc import CC
    from numba.pycc import compiler as _pycc_compiler

from salbench.metrics.kernels import counts as K
from salbench.metrics.kernels import structure as S

_C2, _C3 = "[:, ::1]", "[:, :, ::1]"
#: exported name -> numba signature (the types the metrics core passes)
SIGNATURES: dict[str, str] = {
    "quadrant_hist_u8": f"i8(u1{_C2}, u1{_C2}, i8, b1, i8[::1], i8{_C3}, i8{_C2}, i8[::1])",
    "hist_u8": "i8(u1[::1], u1[::1], i8, b1, i8[::1], i8[:, ::1])",
    "u8_summary": (f"void(i8{_C2}, i8, b1, b1, b1, f8, f8, f8, f8, f8, f8, f8, "
                   f"f8{_C2}, f8[::1], f8[::1], i8[::1], i8{_C2})"),
    "s_measure_hist": f"f8(i8{_C3}, f8[::1], i8, i8, i8, i8, f8[::1], i8[::1])",
    "lookup": f"void(u1{_C2}, f8[::1], u1{_C2}, f8{_C2}, i8[::1])",
    "weighted_f": f"f8(f8{_C2}, u1{_C2}, f8[::1], f8[::1], i4{_C2}, i8{_C2}, i4{_C2}, b1{_C2}, f8{_C2}, b1)",
    "exact_add": f"i8(f8[::1], i8{_C2}, f8, f8)",
}


# one-line wrappers: the @njit kernels compile inside them with their own options
def _quadrant_hist_u8(pred, gt, gt_min_fg, want_absdiff, part, qhist, hist, info):
    return K.quadrant_hist_u8(pred, gt, gt_min_fg, want_absdiff, part, qhist, hist, info)


def _hist_u8(pred, gt, gt_min_fg, want_absdiff, part, hist):
    return K.hist_u8(pred, gt, gt_min_fg, want_absdiff, part, hist)


def _u8_summary(hist, absdiff, minmax, soft_mae, strict, pr_eps, beta2, em_eps, thr,
                tie_tol, factor, cap, curves, sc, val, lev, counts):
    K.u8_summary(hist, absdiff, minmax, soft_mae, strict, pr_eps, beta2, em_eps, thr,
                 tie_tol, factor, cap, curves, sc, val, lev, counts)


def _s_measure_hist(qhist, val, cy, cx, h, w, x_exact, info):
    return S._s_measure_hist_kernel(qhist, val, cy, cx, h, w, x_exact, info)


def _lookup(raw, val, gt, out, n_nz):
    S._lookup(raw, val, gt, out, n_nz)


def _weighted_f(pred, gt, b_table, gauss, near, ibuf, cbuf, bbuf, fbuf, have_nz):
    return S._weighted_f_kernel(pred, gt, b_table, gauss, near, ibuf, cbuf, bbuf, fbuf, have_nz)


def _exact_add(x, limbs, scale, max_value):
    return K.exact_add(x, limbs, scale, max_value)


_WRAPPERS = {"quadrant_hist_u8": _quadrant_hist_u8, "hist_u8": _hist_u8, "u8_summary": _u8_summary,
             "s_measure_hist": _s_measure_hist, "lookup": _lookup, "weighted_f": _weighted_f,
             "exact_add": _exact_add}


class _NoGILFlags(_pycc_compiler.Flags):
    """numba.pycc's compile flags with the GIL released in the Python wrappers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.release_gil = True


def make_cc(output_dir: str | Path | None = None) -> CC:
    """The ``numba.pycc.CC`` of ``salbench.metrics.kernels._aot`` (all of :data:`SIGNATURES`
    plus ``source_hash()``, the hash of :data:`salbench.metrics.kernels.build.SOURCES`)."""
    assert set(SIGNATURES) == set(FP.KERNELS) == set(_WRAPPERS)
    _pycc_compiler.Flags = _NoGILFlags  # read by ModuleCompiler when it compiles
    cc = CC(FP.AOT_MODULE, source_module=sys.modules[__name__])
    if output_dir is not None:
        cc.output_dir = str(output_dir)
    for name in FP.KERNELS:
        cc.export(name, SIGNATURES[name])(_WRAPPERS[name])
    digest = FP.source_hash()
    tag = FP.cpu_tag()
    # this CPU's instructions (popcnt, SSE4, AVX2 ...): the generic x86-64 target
    # made the kernels ~1.7x slower on SOD pairs (2026-11-26). Where the CPU
    # cannot be fingerprinted the module is built for the generic target.
    cc.target_cpu = "host" if tag else ""

    def source_hash():
        return digest

    def cpu_tag():
        return tag

    cc.export("source_hash", "i8()")(source_hash)
    cc.export("cpu_tag", "i8()")(cpu_tag)
    return cc


def extension():
    """A setuptools ``Extension`` for ``setup.py`` that never fails the install:
    a compile error is reported as an optional extension's failure."""
    from setuptools.errors import CompileError

    ext = make_cc().distutils_extension()
    prepare = ext._prepare_object_files

    def _prepare(build_ext):
        try:
            prepare(build_ext)
        except Exception as exc:  # numba / LLVM errors: skip the module, keep the install
            raise CompileError(f"numba.pycc could not compile salbench's kernels: {exc}") from exc

    ext._prepare_object_files = _prepare
    ext.optional = True
    return ext


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m salbench.metrics.kernels.aot_build",
                                 description="Compile salbench's 8-bit kernels ahead of time (numba.pycc).")
    ap.add_argument("--output-dir", default=str(Path(__file__).resolve().parent),
                    help="where to write the extension module (default: the salbench package)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cc = make_cc(args.output_dir)
        cc.compile()
    print(f"compiled {Path(args.output_dir) / cc.output_file} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
