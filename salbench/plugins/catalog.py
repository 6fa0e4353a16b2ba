"""What the registered methods are: one description row per method (kind,
paper, options, CRF, parallelism, and for learned methods parameters and
GMACs counted without weights), for ``salbench list methods`` and the run's
``methods`` table."""

from __future__ import annotations

import sys
from typing import Any


def method_rows(with_cost: bool = True) -> list[dict[str, Any]]:
    """One row per registered method (every plugin imported; one that fails
    is a warning on stderr). ``with_cost``: count the parameters and GMACs
    of learned methods."""
    from salbench.plugins import registry
    rows = []
    for name, spec in registry.load_all().items():
        cls = spec.cls
        row: dict[str, Any] = {"name": name, "kind": cls.kind, "paper": cls.paper,
                               "family": cls.family or None, "needs_weights": cls.needs_weights,
                               "supports_crf": cls.supports_crf, "default_crf": cls.default_crf,
                               "parallel": cls.parallel, "presets": spec.options or None,
                               "options": [o.to_dict() for o in cls.options_schema()],
                               "description": spec.description, "params": None, "gmacs": None,
                               "gmacs_size": list(getattr(cls, "cost_size", (300, 300)))}
        if cls.kind == "learned":
            row["precision"] = ("fp32 on CPU; on CUDA --amp (bf16 autocast + channels-last) is "
                                "opt-in at inference; training on CUDA defaults to bf16, the "
                                "authors' fp32 is --amp none")
        if with_cost and cls.kind == "learned":
            try:
                row["params"], row["gmacs"] = method_cost(spec)
            except Exception as exc:  # describe, never crash the listing
                row["error"] = f"{type(exc).__name__}: {exc}"
                print(f"warning: {name}: params/GMACs unavailable ({row['error']})", file=sys.stderr)
        rows.append(row)
    return rows


def method_cost(spec, options: dict | None = None,
                size: tuple[int, int] | None = None) -> tuple[int | None, float | None]:
    """(parameters, GMACs for one image of ``size``, default the method's
    ``cost_size``) of a learned method, without weights.

    The network is built on PyTorch's ``meta`` device (shapes only, no memory,
    no arithmetic), which makes listing 25 networks take seconds rather than
    minutes; if a model cannot be built there, it is built for real."""
    def measure():
        m = spec.create(**(options or {}))
        p = m.count_params()
        g = m.gmacs(tuple(size or getattr(m, "cost_size", (300, 300))))
        return (int(p) if p is not None else None,
                float(g) if g is not None else None)
    if spec.cls.kind != "learned":
        return None, None
    try:
        import torch
        with torch.device("meta"):
            return measure()
    except Exception:
        return measure()
