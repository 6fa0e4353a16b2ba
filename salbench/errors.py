"""Errors a user can fix. The CLI prints them as one clear line (no traceback)."""

from __future__ import annotations

from pathlib import Path


class SalbenchError(Exception):
    """Bad input, missing data or weights: printed as one clear message."""


class InputError(SalbenchError, ValueError):
    """A problem with one input file; the message always names the file."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")
