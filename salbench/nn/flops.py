"""Counting multiply-accumulates (MACs) of a network with forward hooks.

What is counted, per image (batch size divides out):

* ``Conv2d``: ``H_out · W_out · C_out · (C_in / groups) · k_h · k_w`` — the
  bias add is not counted;
* ``ConvTranspose2d``: ``H_in · W_in · C_in · (C_out / groups) · k_h · k_w``
  (every input pixel scatters a k_h×k_w kernel into each output channel);
* ``Linear``: ``in_features · out_features`` per output row.

Not counted (reported separately, as element counts, under ``"other"``):
BatchNorm, PReLU/ReLU, pooling, bilinear resizing, additions and
concatenations. This is the convention of most papers' "FLOPs"/"GMACs" tables
(e.g. ptflops/thop count the convolutions; thop also adds BN, which is under
1 % for these networks).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["count_macs"]


def count_macs(model: nn.Module, input_shape=(1, 3, 300, 300)) -> dict[str, Any]:
    """Run ``model`` once on zeros of ``input_shape`` (eval mode, no grad) and
    return ``{"total", "conv", "linear", "other", "by_module"}`` — MACs per image."""
    counts = {"conv": 0, "linear": 0, "other": 0}
    by_module: dict[str, int] = {}
    hooks = []

    def conv_hook(name):
        def hook(mod: nn.Conv2d, inp, out):
            b = out.shape[0]
            k = mod.kernel_size[0] * mod.kernel_size[1]
            macs = out.numel() // b * (mod.in_channels // mod.groups) * k
            counts["conv"] += macs
            by_module[name] = by_module.get(name, 0) + macs
        return hook

    def deconv_hook(name):
        def hook(mod: nn.ConvTranspose2d, inp, out):
            x = inp[0]
            k = mod.kernel_size[0] * mod.kernel_size[1]
            macs = x.numel() // x.shape[0] * (mod.out_channels // mod.groups) * k
            counts["conv"] += macs
            by_module[name] = by_module.get(name, 0) + macs
        return hook

    def linear_hook(name):
        def hook(mod: nn.Linear, inp, out):
            rows = out.numel() // out.shape[-1] // out.shape[0] if out.dim() > 1 else 1
            macs = rows * mod.in_features * mod.out_features
            counts["linear"] += macs
            by_module[name] = by_module.get(name, 0) + macs
        return hook

    def other_hook(mod, inp, out):
        if isinstance(out, torch.Tensor):
            counts["other"] += out.numel() // max(out.shape[0], 1)

    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv2d):
            hooks.append(mod.register_forward_hook(conv_hook(name)))
        elif isinstance(mod, nn.ConvTranspose2d):
            hooks.append(mod.register_forward_hook(deconv_hook(name)))
        elif isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(linear_hook(name)))
        elif isinstance(mod, (nn.BatchNorm2d, nn.PReLU, nn.ReLU, nn.MaxPool2d, nn.AvgPool2d)):
            hooks.append(mod.register_forward_hook(other_hook))
    was_training = model.training
    model.eval()
    try:
        p = next(model.parameters(), None)
        x = torch.zeros(*input_shape, device=p.device if p is not None else "cpu")
        with torch.inference_mode():
            model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return {"total": counts["conv"] + counts["linear"], **counts, "by_module": by_module}
