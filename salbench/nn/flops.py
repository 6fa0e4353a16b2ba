"""Counting multiply-accumulates (MACs) of any network with PyTorch's
``torch.utils.flop_counter.FlopCounterMode``.

The network runs once on zeros (eval mode, no grad) under the flop counter,
which sees every ATen operator it has a formula for, whatever module issues
it: convolutions and transposed convolutions (``aten.convolution``), matrix
products (``mm``, ``addmm``, ``bmm``, ``baddbmm``; ``nn.Linear``, ``@``,
``einsum`` and the math path of attention decompose into these) and fused
attention kernels (``scaled_dot_product_attention``; the CPU flash kernel,
which PyTorch's table lacks, is added here with the same formula).
FlopCounterMode counts 2 FLOPs per multiply-add; MACs = FLOPs / 2.

Conventions (those of most papers' "GMACs" tables, ptflops / fvcore):

* ``Conv2d``: ``H_out · W_out · C_out · (C_in / groups) · k_h · k_w``;
  ``ConvTranspose2d``: ``H_in · W_in · C_in · (C_out / groups) · k_h · k_w``;
  ``Linear``: ``in · out`` per row; attention: ``Q·Kᵀ`` plus ``A·V``.
* Not counted: bias additions, BatchNorm, activations, pooling, resizing,
  element-wise additions and concatenations (no formula; under 1 % for the
  convolutional networks here).

Shapes are all the counter needs, so it also runs on the ``meta`` device
(``salbench list`` builds networks there); counts are per image (the batch
divides out).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
from torch import nn

__all__ = ["count_macs"]

#: op-name prefixes of each reported category (the rest goes to "other").
_CATEGORIES = {
    "conv": ("aten.convolution", "aten._convolution", "aten.cudnn_convolution",
             "aten._slow_conv2d", "aten.convolution_overrideable", "aten.mkldnn_convolution"),
    "matmul": ("aten.mm", "aten.addmm", "aten.bmm", "aten.baddbmm", "aten._scaled_mm"),
    "attention": ("aten._scaled_dot_product", "aten._flash_attention", "aten._efficient_attention",
                  "flex_attention"),
}


def _custom_formulas() -> dict[Any, Any]:
    """Formulas PyTorch's table lacks (added by op, when the op exists)."""
    from torch.utils import flop_counter as fc
    out: dict[Any, Any] = {}

    def sdpa(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
        return fc.sdpa_flop_count(query_shape, key_shape, value_shape)

    for name in ("_scaled_dot_product_flash_attention_for_cpu",
                 "_scaled_dot_product_fused_attention_overrideable"):
        op = getattr(torch.ops.aten, name, None)
        if op is not None:
            out[op] = sdpa
    return out


def _category(op: str) -> str:
    for cat, prefixes in _CATEGORIES.items():
        if op.startswith(prefixes):
            return cat
    return "other"


def count_macs(model: nn.Module, input_shape=(1, 3, 300, 300)) -> dict[str, Any]:
    """Run ``model`` once on zeros of ``input_shape`` (on the device of its
    parameters, ``meta`` included) and return MACs per image::

        {"total": int, "conv": int, "matmul": int, "attention": int, "other": int,
         "by_op": {"aten.convolution": int, ...},
         "by_module": {"backbone.layer1": int, ...}}   # inclusive, "" = whole model

    ``other`` holds ops with a formula outside the three categories."""
    from torch.utils.flop_counter import FlopCounterMode

    b = int(input_shape[0]) if len(input_shape) else 1
    was_training = model.training
    model.eval()
    p = next(model.parameters(), None)
    x = torch.zeros(*input_shape, device=p.device if p is not None else "cpu",
                    dtype=p.dtype if p is not None and p.is_floating_point() else torch.float32)
    counter = FlopCounterMode(display=False, custom_mapping=_custom_formulas())
    try:
        with torch.inference_mode(), counter:
            model(x)
    finally:
        model.train(was_training)
    flops = counter.get_flop_counts()
    root = type(model).__name__
    by_op: dict[str, int] = defaultdict(int)
    for op, n in flops.get("Global", {}).items():
        by_op[str(op).replace(".default", "")] += int(n)
    by_module: dict[str, int] = {}
    for name, ops in flops.items():
        if name == "Global":
            continue
        rel = "" if name == root else name[len(root) + 1:] if name.startswith(root + ".") else name
        by_module[rel] = sum(int(n) for n in ops.values()) // 2 // b
    by_op_macs = {op: n // 2 // b for op, n in by_op.items()}
    cats = {c: 0 for c in ("conv", "matmul", "attention", "other")}
    for op, n in by_op_macs.items():
        cats[_category(op)] += n
    total = counter.get_total_flops() // 2 // b
    return {"total": total, **cats, "by_op": by_op_macs, "by_module": by_module}
