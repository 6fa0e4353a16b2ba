"""Building blocks shared by the learned methods.

* :class:`ConvBNPReLU` — conv, BatchNorm, PReLU, the unit R3Net and the "+"
  baselines of its paper use everywhere (authors' ``model.py``).
* :class:`ASPP` — atrous spatial pyramid pooling (Chen et al., DeepLab v3) as
  R3Net uses it: five branches of ``in/2`` channels (1×1; 3×3 with dilation
  2, 4, 6; global average pooling → 1×1, broadcast back), each conv-BN-PReLU,
  concatenated and fused by a 1×1 conv-BN-PReLU back to ``in`` channels.
  The paper cites DeepLab v3, whose dilations are 6/12/18 at output stride 16;
  R3Net's code uses 2/4/6, reproduced here.
* :func:`aspp_context` — the "+" baselines' context on the deepest backbone
  level: a 3×3 conv-BN-PReLU to :data:`ASPP_CONTEXT_WIDTH` channels, then
  :class:`ASPP` (R3Net's ``reduce_high`` ends in the same ASPP, spliced into
  its own flat ``nn.Sequential`` after two reductions).
* :func:`upsample` — the one bilinear resize (``align_corners=True``, as the
  PyTorch 0.3-era ``F.upsample(mode="bilinear")`` of the authors' code behaved).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ConvBNPReLU", "ASPP", "ASPP_CONTEXT_WIDTH", "aspp_context", "upsample", "conv_bn_prelu"]

#: width of the ASPP context the "+" baselines put on the deepest backbone level
#: (R3Net's ``reduce_high`` width).
ASPP_CONTEXT_WIDTH = 256


def upsample(x: Tensor, size) -> Tensor:
    """Bilinear resize to ``size`` (H, W) with ``align_corners=True``; a no-op
    when the size already matches."""
    size = tuple(int(s) for s in size)
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


def conv_bn_prelu(cin: int, cout: int, kernel_size: int = 3, dilation: int = 1) -> list[nn.Module]:
    """``[Conv2d(bias), BatchNorm2d, PReLU]`` with "same" padding, as a list so that a
    caller can splice several into one flat ``nn.Sequential`` (flat indices
    0, 1, 2, 3, … as in the authors' checkpoints)."""
    pad = dilation * (kernel_size - 1) // 2
    return [nn.Conv2d(cin, cout, kernel_size, padding=pad, dilation=dilation),
            nn.BatchNorm2d(cout), nn.PReLU()]


class ConvBNPReLU(nn.Sequential):
    """Conv2d (with bias) → BatchNorm2d → PReLU (one shared slope), "same" padding."""

    def __init__(self, cin: int, cout: int, kernel_size: int = 3, dilation: int = 1) -> None:
        super().__init__(*conv_bn_prelu(cin, cout, kernel_size, dilation))


class ASPP(nn.Module):
    """R3Net's ASPP (see the module docstring); ``in_ch`` → ``in_ch`` channels."""

    def __init__(self, in_ch: int, branch_ch: int | None = None, dilations=(2, 4, 6)) -> None:
        super().__init__()
        b = branch_ch or in_ch // 2
        self.conv1 = ConvBNPReLU(in_ch, b, 1)
        self.conv2 = ConvBNPReLU(in_ch, b, 3, dilations[0])
        self.conv3 = ConvBNPReLU(in_ch, b, 3, dilations[1])
        self.conv4 = ConvBNPReLU(in_ch, b, 3, dilations[2])
        self.conv5 = ConvBNPReLU(in_ch, b, 1)  # on the globally pooled input
        self.fuse = ConvBNPReLU(5 * b, in_ch, 1)

    def forward(self, x: Tensor) -> Tensor:
        """The five branches on ``x``, concatenated and fused to ``in_ch`` channels."""
        size = x.shape[-2:]
        pooled = F.adaptive_avg_pool2d(x, 1)
        if self.training and x.shape[0] == 1:
            # BatchNorm cannot take batch statistics of a single value per channel:
            # with a batch of one, this branch normalises with its running statistics
            # (the authors trained with batches of 14 and never met this case).
            conv, bn, act = self.conv5
            g = act(F.batch_norm(conv(pooled), bn.running_mean, bn.running_var, bn.weight,
                                 bn.bias, False, 0.0, bn.eps))
        else:
            g = self.conv5(pooled)
        # a 1×1 map "upsampled" with align_corners=True is a broadcast
        g = g.expand(-1, -1, size[0], size[1])
        return self.fuse(torch.cat([self.conv1(x), self.conv2(x), self.conv3(x),
                                    self.conv4(x), g], 1))


def aspp_context(cin: int, width: int = ASPP_CONTEXT_WIDTH) -> nn.Sequential:
    """``Sequential(ConvBNPReLU(cin, width, 3), ASPP(width))``: the context the
    "+" baselines read instead of the deepest backbone level when their
    ``aspp`` option is on (state-dict keys ``0.*`` and ``1.*``)."""
    return nn.Sequential(ConvBNPReLU(cin, width, 3), ASPP(width))
