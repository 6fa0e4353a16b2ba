"""salbench: a benchmark and evaluation suite for salient object detection.

Importing the package is cheap (no numpy, numba or torch): the CLI imports only
what the chosen sub-command needs. The Python API (``salbench.run``,
``salbench.evaluate_folder``, ``salbench.results``, ``salbench.build_report``,
``salbench.RunSpec`` / ``salbench.Runner``) is imported on first use; see
:mod:`salbench.api`.
"""

__version__ = "0.1.0"

#: the Python API (imported on first use, so ``import salbench`` stays cheap)
_API = {"run": "salbench.api", "evaluate_folder": "salbench.api", "results": "salbench.api",
        "build_report": "salbench.api", "RunSpec": "salbench.run.spec", "Runner": "salbench.run.runner"}


def __getattr__(name: str):
    """The API names, imported on first use."""
    if name in _API:
        import importlib
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'salbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_API))
