"""Amulet+ : Aggregating Multi-level Convolutional Features (Zhang et al.,
ICCV 2017), retrained on R3Net's backbone and trainer as the "Amulet+" row of
Table 2 of Deng et al., IJCAI 2018.

Only the head and the loss live here; backbone, data, trainer, checkpoints and
inference are the shared ones of :mod:`salbench.nn.learned`.

The paper's pipeline (its Fig. 1; the authors' Caffe release, ``Pchank/caffe-sal``),
and how it is reproduced on the five shared levels F1..F5:

* **Resolution-based feature combination (RFC).** Every level is first shrunk
  by a convolution to ``RFC_WIDTH`` channels; then, for *each* target
  resolution (the resolutions of F1..F5), all five shrunk levels are resized
  to it and concatenated (5 x 64 channels) and integrated by a convolution
  to ``INT_WIDTH`` channels. Amulet resizes with learned strided convolutions
  (down) and deconvolutions (up); here the resizing is fixed (average pooling
  down, bilinear up) and the learning happens in the shrink and integration
  convolutions — cheaper, and it takes any input size.
* **Deep recursive supervision (DRS), coarse to fine.** The prediction at the
  coarsest resolution (F5's) is made first; at every finer resolution the
  upsampled prediction of the previous (coarser) one is concatenated to that
  resolution's integrated features before predicting, and every prediction is
  supervised.
* **Boundary preserved refinement (BPR), option ``bpr`` (default True, the
  full model of the paper).** Amulet feeds edge-aware feature maps of the
  lowest layers into every prediction. Here a ``EDGE_WIDTH``-channel
  convolution of F1 (the finest, most edge-aware level) is resized to each
  resolution and concatenated into each prediction's input. This is the
  paper's idea (low-level edge-aware features embedded in every
  prediction), not its exact layer layout.
* **Fusion.** A learned 1x1 convolution over all five predictions (at the input
  size) gives the final map; it is supervised too. Loss: sigmoid
  cross-entropy on the five predictions and the fusion, equal weights (the
  paper's two-class softmax is a single logit with a sigmoid here).
* Convolutions are conv-BN-PReLU (R3Net's head style) rather than conv-ReLU.

ASPP default (``aspp=True``): R3Net's released ``model.py`` says its ``_ASPP``
is used "in all of our baselines", so the "+" retraining had it; here a
256-channel ASPP context of F5 replaces F5 as the deepest input of the RFC.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from salbench.nn.learned import LearnedMethod, SODNet
from salbench.plugins.options import Option
from salbench.nn.modules import ASPP_CONTEXT_WIDTH, ConvBNPReLU, aspp_context
from salbench.plugins.registry import register_method

#: channels each level is shrunk to before the resolution-based combination.
RFC_WIDTH = 64
#: channels of the integrated features at each resolution.
INT_WIDTH = 256
#: channels of the prediction convolution at each resolution.
PRED_WIDTH = 128
#: channels of the edge-aware low-level features of the BPR.
EDGE_WIDTH = 32


def _resize(x: torch.Tensor, size, upsample) -> torch.Tensor:
    """Average-pool down or bilinear up to ``size``."""
    h, w = x.shape[2:]
    if (h, w) == tuple(size):
        return x
    if h >= size[0] and w >= size[1]:
        return F.adaptive_avg_pool2d(x, tuple(size))
    return upsample(x, size)


class AmuletNet(SODNet):
    """The Amulet head on the shared backbone. ``forward`` returns the five
    recursive predictions, coarse (F5's resolution) to fine (F1's), and the
    fusion, all logits at the input size. Loss and map are
    :class:`SODNet`'s: recursive deep supervision (cross-entropy on every
    prediction and the fusion, summed); the sigmoid of the fusion at inference."""

    def __init__(self, backbone: str = "resnext101_32x4d", aspp: bool = True, bpr: bool = True,
                 **opts: Any) -> None:
        super().__init__(backbone=backbone, **opts)
        chans = list(self.backbone.channels)
        n = len(chans)
        self.use_aspp, self.use_bpr = bool(aspp), bool(bpr)
        if self.use_aspp:
            self.context = aspp_context(chans[-1])
            chans[-1] = ASPP_CONTEXT_WIDTH
        self.shrink = nn.ModuleList(ConvBNPReLU(c, RFC_WIDTH, 3) for c in chans)
        self.integrate = nn.ModuleList(ConvBNPReLU(n * RFC_WIDTH, INT_WIDTH, 3) for _ in range(n))
        if self.use_bpr:
            self.edge = ConvBNPReLU(chans[0], EDGE_WIDTH, 3)
        extra = EDGE_WIDTH if self.use_bpr else 0
        # index j = resolution of level j; the coarsest has no previous prediction
        self.predict = nn.ModuleList(
            nn.Sequential(ConvBNPReLU(INT_WIDTH + extra + (0 if j == n - 1 else 1), PRED_WIDTH, 3),
                          nn.Conv2d(PRED_WIDTH, 1, 1))
            for j in range(n))
        self.fuse = nn.Conv2d(n, 1, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Five predictions, coarse to fine, then the fusion."""
        size = x.shape[2:]
        feats = list(self.backbone(x))
        if self.use_aspp:
            feats[-1] = self.context(feats[-1])
        small = [s(f) for s, f in zip(self.shrink, feats)]
        edge = self.edge(feats[0]) if self.use_bpr else None
        preds: list[torch.Tensor] = []
        prev = None
        for j in range(len(feats) - 1, -1, -1):  # coarse to fine
            tsize = feats[j].shape[2:]
            rfc = torch.cat([_resize(s, tsize, self.upsample) for s in small], 1)
            parts = [self.integrate[j](rfc)]
            if edge is not None:
                parts.append(_resize(edge, tsize, self.upsample))
            if prev is not None:
                parts.append(self.upsample(prev, tsize))
            prev = self.predict[j](torch.cat(parts, 1))
            preds.append(prev)
        preds = [self.upsample(p, size) for p in preds]
        return preds + [self.fuse(torch.cat(preds, 1))]


@register_method
class AmuletPlus(LearnedMethod):
    """Amulet (multi-resolution feature aggregation, recursive supervision), retrained on R3Net's backbone (Amulet+)."""

    name = "amulet+"
    paper = "Zhang et al., ICCV 2017 (retrained as Amulet+ in Deng et al., IJCAI 2018)"
    OPTIONS = (*LearnedMethod.OPTIONS,
               Option("aspp", bool, True, "256-channel ASPP context on the deepest features (R3Net's baselines had it)"),
               Option("bpr", bool, True, "boundary preserved refinement: edge-aware F1 features in every prediction"))
    #: trained exactly like R3Net (the trainer's defaults: SGD lr 1e-3 poly 0.9, batch 14,
    #: 6000 iterations, 300x300 crops): the paper retrains the "+" baselines with R3Net's
    #: backbone and training set, and no method here needs a different schedule.
    train_defaults: dict = {}

    def build_model(self) -> AmuletNet:
        """The Amulet head on the chosen backbone, freshly initialised."""
        return AmuletNet(backbone=self.options["backbone"], aspp=self.options["aspp"],
                         bpr=self.options["bpr"])
