"""A third-party pretrained saliency network as a salbench plugin.

``TinyNet`` stands for any network with its own code and weights: it is not a
salbench ``SODNet``, it was "trained" at a fixed 224×224 input with its own
normalisation, and it returns a tuple (coarse logits, fine logits). The
:class:`salbench.nn.learned.LearnedMethod` hooks declare exactly that; weights
come through ``--weights`` (or ``tiny_net.pth`` next to this file) and are read
with ``torch.load(weights_only=True)``; loading is strict.

    salbench run --plugin examples/plugins/pretrained_net/tiny_net_plugin.py \\
        --method tinynet --weights tiny_net.pth --datasets demo
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from salbench.nn.learned import LearnedMethod
from salbench.plugins.registry import register_method


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class TinyNet(nn.Module):
    """A ~100k-parameter encoder-decoder (CSNet-sized); returns (coarse, fine) logits."""

    def __init__(self, width: int = 20) -> None:
        super().__init__()
        w = width
        self.enc = nn.ModuleList([_block(3, w, 2), _block(w, 2 * w, 2), _block(2 * w, 2 * w, 2),
                                  _block(2 * w, 2 * w, 2)])
        self.coarse = nn.Conv2d(2 * w, 1, 1)
        self.dec = nn.ModuleList([_block(4 * w, 2 * w), _block(4 * w, w), _block(2 * w, w)])
        self.fine = nn.Conv2d(w, 1, 1)

    def forward(self, x):
        feats = []
        for layer in self.enc:
            x = layer(x)
            feats.append(x)
        coarse = self.coarse(x)
        for layer, skip in zip(self.dec, reversed(feats[:-1])):
            x = nn.functional.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = layer(torch.cat([x, skip], 1))
        up = lambda t: nn.functional.interpolate(t, scale_factor=2, mode="bilinear",  # noqa: E731
                                                 align_corners=False)
        return up(up(up(up(coarse)))), up(self.fine(x))


@register_method
class TinyNetMethod(LearnedMethod):
    """TinyNet: a third-party pretrained network at 224×224 (example plugin)."""

    name = "tinynet"
    paper = "salbench example plugin"
    OPTIONS = tuple(o for o in LearnedMethod.OPTIONS if o.name == "amp")  # no backbone to choose
    supports_crf = False             # its authors use no CRF
    default_crf = False
    input_size = (224, 224)          # resized in (PIL bilinear), map resized back (bilinear)
    mean = (0.5, 0.5, 0.5)           # its own normalisation
    std = (0.5, 0.5, 0.5)
    default_weights = Path(__file__).with_name("tiny_net.pth")

    def build_model(self) -> nn.Module:
        return TinyNet()

    def select_output(self, outputs) -> torch.Tensor:
        coarse, fine = outputs       # its authors average both sigmoid maps
        return (torch.sigmoid(coarse) + torch.sigmoid(fine)) / 2
