"""Checkpoint files of the learned methods, shared by training and inference.

``salbench train`` writes, and :class:`salbench.nn.learned.LearnedMethod`
reads, dicts of this shape (loadable with ``torch.load(weights_only=True)``)::

    {"format": CHECKPOINT_FORMAT, "method": "r3net", "options": {...},
     "model": <state dict>, "optimizer": ..., "iteration": N, "rng": ..., ...}

under ``<root>/<method>/<dataset>/{last,final}.pt``, where the root is
:func:`checkpoint_root`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from salbench.data.paths import atomic_file
from salbench.errors import SalbenchError
from salbench.nn.weights import load_error

__all__ = ["CHECKPOINT_FORMAT", "checkpoint_root", "find_checkpoint", "safe_name", "save_atomic",
           "load_checkpoint", "plain", "state_dict_cpu"]

#: the ``"format"`` value of checkpoints written by ``salbench train``.
CHECKPOINT_FORMAT = "salbench-checkpoint-v1"


def checkpoint_root(out: str | Path | None = None) -> Path:
    """``out`` when given, else ``$SALBENCH_CHECKPOINTS``, else ``./checkpoints``."""
    if out:
        return Path(out)
    env = os.environ.get("SALBENCH_CHECKPOINTS")
    return Path(env) if env else Path("checkpoints")


def find_checkpoint(method: str, root: Path | None = None) -> Path | None:
    """Newest ``<root>/<method>/*/final.pt``, else newest ``last.pt``; None if neither."""
    base = (root or checkpoint_root()) / method
    if not base.is_dir():
        return None
    for fname in ("final.pt", "last.pt"):
        found = [p for p in base.glob(f"*/{fname}") if p.is_file()]
        if found:
            return max(found, key=lambda p: (p.stat().st_mtime, str(p)))
    return None


def safe_name(name: str) -> str:
    """``name`` as one path component: characters other than letters, digits
    and ``+-_.`` become ``_``."""
    return "".join(ch if (ch.isalnum() or ch in "+-_.") else "_" for ch in name)


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` through a temporary file next to ``path``, renamed onto it
    when complete (:func:`salbench.data.paths.atomic_file`)."""
    with atomic_file(path, "wb") as fh:
        torch.save(obj, fh)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a salbench checkpoint with ``weights_only=True`` and check its format."""
    path = Path(path)
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SalbenchError(f"{path}: checkpoint does not exist") from None
    except Exception as exc:  # truncated / foreign pickle / text
        raise SalbenchError(load_error(path, exc, "salbench checkpoint")) from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise SalbenchError(f"{path}: not a {CHECKPOINT_FORMAT} file")
    return ck


def plain(v: Any) -> Any:
    """``v`` as plain JSON-like types (dicts, lists, str, numbers, bool, None),
    so that a checkpoint holding it loads with ``weights_only=True``."""
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def state_dict_cpu(sd: dict[str, Any]) -> dict[str, Any]:
    """A state dict with every tensor detached, on the CPU and contiguous."""
    return {k: (v.detach().cpu().contiguous() if isinstance(v, torch.Tensor) else v)
            for k, v in sd.items()}
