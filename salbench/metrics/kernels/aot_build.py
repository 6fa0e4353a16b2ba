"""Ahead-of-time compilation of the 8-bit path's kernels (``numba.pycc``).

``pip install`` runs this through ``setup.py``: the kernels that
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
import inspect
import sys
import time
import warnings
from pathlib import Path

from salbench.metrics.kernels import build as FP

from salbench.metrics.kernels import numba_internals

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # numba.pycc's pending-deprecation warning
    from numba.pycc import CC


def _wrapper(name: str):
    """A one-line Python function calling kernel ``name``'s ``@njit`` function
    with the same parameters, for ``numba.pycc`` to export: the kernel then
    compiles inside it with its own options (``fastmath``, inlined helpers),
    exactly as the JIT build compiles it."""
    kernel = FP.jit_function(name)
    params = ", ".join(inspect.signature(kernel.py_func).parameters)
    namespace = {"_kernel": kernel}
    exec(f"def {name}({params}):\n    return _kernel({params})\n", namespace)
    return namespace[name]


def make_cc(output_dir: str | Path | None = None) -> CC:
    """The ``numba.pycc.CC`` of ``salbench.metrics.kernels._aot``: every kernel of
    :data:`salbench.metrics.kernels.build.KERNEL_TABLE` with its signature, plus
    ``source_hash()`` (the hash of :data:`~salbench.metrics.kernels.build.SOURCES`)
    and ``cpu_tag()``."""
    numba_internals.release_gil_in_pycc()
    cc = CC(FP.AOT_MODULE, source_module=sys.modules[__name__])
    if output_dir is not None:
        cc.output_dir = str(output_dir)
    for name, (_, _, signature) in FP.KERNEL_TABLE.items():
        cc.export(name, signature)(_wrapper(name))
    digest = FP.source_hash()
    tag = FP.cpu_tag()
    # this CPU's instructions (popcnt, SSE4, AVX2 ...): the generic x86-64 target
    # made the kernels ~1.7x slower on SOD pairs). Where the CPU
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
    return numba_internals.optional_extension(make_cc().distutils_extension())


def main(argv=None) -> int:
    """``python -m salbench.metrics.kernels.aot_build``: compile the extension module."""
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
