"""Runs: a :class:`~salbench.run.spec.RunSpec` becomes stored results.
:mod:`.runner` (the :class:`~salbench.run.runner.Runner`) prepares every
method, checks each results folder (:mod:`.folders`, :mod:`.identity`: run
identity, fingerprints, folder locks), predicts missing maps (:mod:`.predict`
over :mod:`.pools`) and evaluates all map sets under all protocols in one
pass (:mod:`.engine`); :mod:`.evaluate` is one folder under one protocol."""

import sys as _sys
import types as _types


class _RunPackage(_types.ModuleType):
    """This package is also the attribute ``salbench.run`` that the Python API
    documents as a function: calling it is :func:`salbench.api.run`."""

    def __call__(self, *args, **kwargs):
        from salbench.api import run
        return run(*args, **kwargs)


_sys.modules[__name__].__class__ = _RunPackage
