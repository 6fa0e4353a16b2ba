"""SRM+ : the Stagewise Refinement Model (Wang et al., ICCV 2017), retrained on
R3Net's backbone and trainer as the "SRM+" row of Table 2 of Deng et al.,
IJCAI 2018.

Only the head and the loss live here; backbone, data, trainer, checkpoints and
inference are the shared ones of :mod:`salbench.nn.learned`.

What follows the paper (and the authors' release, ``TiantianWang/ICCV17_SRM``),
and where this differs:

* **Stage 1.** A coarse map from the deepest level (SRM: ResNet-50's res5):
  two 3x3 convolutions of ``WIDTH`` channels and a 1x1 score.
* **Stages 2 and 3: refinement.** Each takes the next shallower level (F4,
  then F3), reduced to ``WIDTH`` channels, concatenated with the previous
  stage's features and map (upsampled), and passes them through a
  *pyramid pooling module* (PPM; Zhao et al., PSPNet) with bins 1, 2, 3 and 6
  to gather multi-scale context; the stage predicts a *residual* that is
  added to the upsampled previous map, so each stage refines the one before.
* **Loss.** Every stage is supervised (sigmoid cross-entropy, equal
  weights); the last stage is the output at inference.
* **Differences.** Convolutions are conv-BN-PReLU (R3Net's head style). The
  PPM's pooled branches are conv + PReLU without BatchNorm so that a 1x1
  bin trains with any batch size (PSPNet puts BN there; the authors trained
  with batches where that is harmless). Maps are upsampled bilinearly.

ASPP default (``aspp=True``): R3Net's released ``model.py`` says its ``_ASPP``
is used "in all of our baselines", so the "+" retraining had it; here stage
1 reads a 256-channel ASPP context of F5 instead of F5. ``aspp=False`` is
SRM's first stage as published.
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

#: channels of every stage's features.
WIDTH = 256
#: bins of the pyramid pooling modules (PSPNet's, as SRM uses them).
PPM_BINS: tuple[int, ...] = (1, 2, 3, 6)
#: backbone levels (0-based) the two refinement stages read: F4 then F3.
REFINE_LEVELS: tuple[int, ...] = (3, 2)


class PyramidPooling(nn.Module):
    """PSPNet's pyramid pooling: average-pool to b x b for each bin, a 1x1
    convolution to ``c / len(bins)`` channels, upsample, concatenate with the
    input and fuse with a 3x3 conv-BN-PReLU back to ``c`` channels."""

    def __init__(self, c: int, bins: tuple[int, ...] = PPM_BINS) -> None:
        super().__init__()
        self.bins = tuple(bins)
        b = c // len(self.bins)
        self.branches = nn.ModuleList(nn.Sequential(nn.Conv2d(c, b, 1), nn.PReLU()) for _ in self.bins)
        self.fuse = ConvBNPReLU(c + b * len(self.bins), c, 3)

    def forward(self, x: torch.Tensor, upsample) -> torch.Tensor:
        """``x`` with its pooled branches (resized by ``upsample``), fused."""
        size = x.shape[2:]
        pooled = [upsample(br(F.adaptive_avg_pool2d(x, k)), size)
                  for k, br in zip(self.bins, self.branches)]
        return self.fuse(torch.cat([x] + pooled, 1))


class SRMNet(SODNet):
    """The SRM head on the shared backbone. ``forward`` returns the three
    stage maps (coarse, refined once, refined twice), logits at the input size.
    Loss and map are :class:`SODNet`'s: stage-wise supervision (cross-entropy
    on every stage's map, summed); the sigmoid of the last stage at inference."""

    def __init__(self, backbone: str = "resnext101_32x4d", aspp: bool = True, **opts: Any) -> None:
        super().__init__(backbone=backbone, **opts)
        chans = list(self.backbone.channels)
        self.use_aspp = bool(aspp)
        if self.use_aspp:
            self.context = aspp_context(chans[-1])
            chans[-1] = ASPP_CONTEXT_WIDTH
        self.stage1 = nn.Sequential(ConvBNPReLU(chans[-1], WIDTH, 3), ConvBNPReLU(WIDTH, WIDTH, 3))
        self.score1 = nn.Conv2d(WIDTH, 1, 1)
        self.reduce = nn.ModuleList(ConvBNPReLU(chans[lvl], WIDTH, 3) for lvl in REFINE_LEVELS)
        self.merge = nn.ModuleList(ConvBNPReLU(2 * WIDTH + 1, WIDTH, 3) for _ in REFINE_LEVELS)
        self.ppm = nn.ModuleList(PyramidPooling(WIDTH) for _ in REFINE_LEVELS)
        self.residual = nn.ModuleList(nn.Conv2d(WIDTH, 1, 1) for _ in REFINE_LEVELS)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The three stage maps, coarse to refined."""
        size = x.shape[2:]
        feats = list(self.backbone(x))
        if self.use_aspp:
            feats[-1] = self.context(feats[-1])
        feat = self.stage1(feats[-1])
        maps = [self.score1(feat)]
        for k, lvl in enumerate(REFINE_LEVELS):
            tsize = feats[lvl].shape[2:]
            prev_map = self.upsample(maps[-1], tsize)
            merged = self.merge[k](torch.cat([self.reduce[k](feats[lvl]),
                                              self.upsample(feat, tsize), prev_map], 1))
            feat = self.ppm[k](merged, self.upsample)
            maps.append(prev_map + self.residual[k](feat))
        return [self.upsample(m, size) for m in maps]


@register_method
class SRMPlus(LearnedMethod):
    """SRM (stage-wise refinement with pyramid pooling), retrained on R3Net's backbone (SRM+)."""

    name = "srm+"
    paper = "Wang et al., ICCV 2017 (retrained as SRM+ in Deng et al., IJCAI 2018)"
    OPTIONS = (*LearnedMethod.OPTIONS,
               Option("aspp", bool, True, "256-channel ASPP context on the deepest features (R3Net's baselines had it)"))
    #: trained exactly like R3Net (the trainer's defaults: SGD lr 1e-3 poly 0.9, batch 14,
    #: 6000 iterations, 300x300 crops): the paper retrains the "+" baselines with R3Net's
    #: backbone and training set, and no method here needs a different schedule.
    train_defaults: dict = {}

    def build_model(self) -> SRMNet:
        """The SRM head on the chosen backbone, freshly initialised."""
        return SRMNet(backbone=self.options["backbone"], aspp=self.options["aspp"])
