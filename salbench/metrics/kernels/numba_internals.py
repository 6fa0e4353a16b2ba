"""The only place salbench reaches into numba's internals, each reach guarded:

* :func:`cache_fresh` reads a JIT dispatcher's on-disk cache index (is a
  kernel compiled already?); unknown internals count as cached, so the
  kernels then compile lazily as usual;
* :func:`release_gil_in_pycc` makes ``numba.pycc`` release the GIL in the
  exported wrappers (it has no option for it), as ``@njit(nogil=True)`` does
  for the JIT build;
* :func:`optional_extension` turns a ``numba.pycc`` setuptools extension
  into an optional one whose compile errors never fail the install, with
  relative source paths (older setuptools refuse absolute ones).

Importing this module imports no numba.
"""

from __future__ import annotations


def cache_fresh(dispatcher) -> bool:
    """Whether numba's on-disk cache holds a current entry for ``dispatcher``
    (its index exists and matches the source). Unknown numba internals or a
    disabled JIT count as cached."""
    try:
        return bool(dispatcher._cache._cache_file._load_index())
    except Exception:
        return True


def release_gil_in_pycc() -> None:
    """Make ``numba.pycc`` compile its exported wrappers with the GIL released."""
    from numba.pycc import compiler as pycc_compiler

    if getattr(pycc_compiler.Flags, "_salbench_nogil", False):
        return

    class NoGILFlags(pycc_compiler.Flags):
        """numba.pycc's compile flags with the GIL released in the Python wrappers."""

        _salbench_nogil = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.release_gil = True

    pycc_compiler.Flags = NoGILFlags  # read by ModuleCompiler when it compiles


def optional_extension(ext):
    """``ext`` (from ``CC.distutils_extension()``) made optional: a numba / LLVM
    error while preparing its objects becomes setuptools' ``CompileError``,
    which skips an optional extension and keeps the install."""
    from setuptools.errors import CompileError

    prepare = ext._prepare_object_files

    def _prepare(build_ext):
        try:
            prepare(build_ext)
        except Exception as exc:  # numba / LLVM errors: skip the module, keep the install
            raise CompileError(f"numba.pycc could not compile salbench's kernels: {exc}") from exc

    ext._prepare_object_files = _prepare
    ext.optional = True
    # numba names its C helpers by absolute path; setuptools' build_py (older
    # releases, as in a --no-build-isolation install) refuses absolute paths
    import os
    ext.sources = [os.path.relpath(s) if os.path.isabs(s) else s for s in ext.sources]
    ext.depends = [os.path.relpath(s) if os.path.isabs(s) else s for s in ext.depends]
    return ext
