"""Build hook: compile the 8-bit metric kernels ahead of time (numba.pycc).

Everything else is in pyproject.toml. See salbench/metrics/kernels/aot_build.py: the extension
is optional, so an install without a C compiler (or with numba.pycc failing)
still succeeds and salbench compiles the kernels on first use instead.
``SALBENCH_NO_AOT=1`` skips it.
"""

import os
import sys

from setuptools import setup


def _ext_modules():
    if os.environ.get("SALBENCH_NO_AOT"):
        return [], {}
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        from salbench.metrics.kernels.aot_build import extension
        from setuptools.command import build_ext

        ext = extension()  # patches setuptools' build_ext to compile it
        return [ext], {"build_ext": build_ext.build_ext}
    except Exception as exc:  # no numba in the build environment, numba.pycc gone, ...
        print(f"salbench: kernels not compiled ahead of time ({exc!r}); "
              "they will be compiled on first use", file=sys.stderr)
        return [], {}
    finally:
        sys.path.pop(0)


_EXT, _CMDS = _ext_modules()
setup(ext_modules=_EXT, cmdclass=_CMDS)
