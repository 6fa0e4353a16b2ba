"""DSS+ : Deeply Supervised Salient object detection with short connections
(Hou et al., CVPR 2017 / TPAMI 2019), retrained on R3Net's backbone and trainer
as the "DSS+" row of Table 2 of Deng et al., IJCAI 2018.

Only the head and the loss live here; the backbone, weight loading, data
pipeline, trainer, checkpointing and inference path are the shared ones of
:mod:`salbench.nn.learned`.

What follows the paper and the authors' released Caffe model
(``Andrew-Qibin/DSS``), and where this differs:

* **Side outputs.** DSS puts a side output on six VGG-16 stages
  (conv1_2, conv2_2, conv3_3, conv4_3, conv5_3, pool5, strides 1..32), each
  two convolutions and a 1x1 score; widths / kernels (128,3) (128,3) (256,5)
  (256,5) (512,5) (512,7). The shared backbone gives five levels F1..F5 at
  strides 4, 4, 8, 16, 32, so the five side outputs here are DSS's sides 2..6
  counted from the deep end (F5 <-> pool5, F4 <-> conv5_3, ..., F1 <-> conv2_2);
  DSS's stride-1 side 1 has no counterpart. Widths / kernels are those of the
  mapped DSS sides: (128,3) (256,5) (256,5) (512,5) (512,7).
* **Short connections.** The paper's final pattern (its Fig. 3 / the released
  prototxt): side 6 takes nothing, side 5 takes 6, sides 4 and 3 take 5 and 6,
  sides 2 and 1 take 3, 4, 5 and 6. Mapped to our numbering (1..5 = DSS 2..6):
  ``SHORT_CONNECTIONS`` below. Each receiving side concatenates its own score
  with the (upsampled) raw scores of the sides it connects from and mixes them
  with a learned 1x1 convolution, as in the prototxt.
* **Fusion and inference.** A learned 1x1 convolution fuses the five
  connected side outputs. Deep supervision: a sigmoid cross-entropy on each
  side output and on the fusion, equal weights (loss_weight 1 in the
  prototxt). At inference the authors average the fused map with side
  outputs 2, 3 and 4 (the ``[1, 2, 3, 6]`` selection of their test script);
  mapped, that is our sides 1, 2, 3 plus the fusion (``INFERENCE_SIDES``).
* **Differences.** Convolutions are conv-BN-PReLU (R3Net's head style, which
  the retrained baselines share) instead of VGG's conv-ReLU; upsampling is
  bilinear instead of learned deconvolutions; everything is computed at the
  input size. With ``aspp=True`` (the default, see below) the deepest side
  reads a 256-channel ASPP context of F5 instead of F5 itself.

ASPP default: R3Net's released ``model.py`` says of its ``_ASPP`` module that it
is used "in all of our baselines", i.e. the "+" retraining of Table 2 had it.
So ``aspp`` defaults to True here, applied where R3Net applies it: on the
deepest features, after a 256-channel reduction. ``dss+`` with ``aspp=False``
is the head as the DSS paper describes it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from salbench.nn.learned import LearnedMethod, SODNet
from salbench.plugins.options import Option
from salbench.nn.modules import ASPP_CONTEXT_WIDTH, ConvBNPReLU, aspp_context
from salbench.plugins.registry import register_method

#: (channels, kernel) of the two convolutions of each side output, F1..F5
#: (DSS sides 2..6).
SIDE_SPECS: tuple[tuple[int, int], ...] = ((128, 3), (256, 5), (256, 5), (512, 5), (512, 7))

#: short connections, 0-based: side i receives the raw scores of these deeper sides
#: (DSS: sides 1,2 <- 3,4,5,6; sides 3,4 <- 5,6; side 5 <- 6; side 6 <- none;
#: our sides 0..4 are DSS sides 2..6).
SHORT_CONNECTIONS: tuple[tuple[int, ...], ...] = ((1, 2, 3, 4), (3, 4), (3, 4), (4,), ())

#: the outputs averaged at inference (0-based sides; "fuse" is the fusion) —
#: the authors average the fusion with DSS sides 2, 3, 4.
INFERENCE_SIDES: tuple[int, ...] = (0, 1, 2)


class DSSNet(SODNet):
    """The DSS head on the shared backbone. ``forward`` returns the five
    connected side outputs (shallow to deep) and the fusion, all logits at the
    input size. The loss is :meth:`SODNet.loss`: deep supervision, sigmoid
    cross-entropy on every side output and on the fusion, equal weights
    (summed, as Caffe sums weighted losses)."""

    def __init__(self, backbone: str = "resnext101_32x4d", aspp: bool = True, **opts: Any) -> None:
        super().__init__(backbone=backbone, **opts)
        chans = list(self.backbone.channels)
        if len(chans) != len(SIDE_SPECS):
            raise ValueError(f"DSS+ needs a backbone with {len(SIDE_SPECS)} levels, got {len(chans)}")
        self.use_aspp = bool(aspp)
        if self.use_aspp:
            self.context = aspp_context(chans[-1])
            chans[-1] = ASPP_CONTEXT_WIDTH
        self.sides = nn.ModuleList(
            nn.Sequential(ConvBNPReLU(c, w, k), ConvBNPReLU(w, w, k), nn.Conv2d(w, 1, 1))
            for c, (w, k) in zip(chans, SIDE_SPECS))
        # a learned 1x1 mix of own score + connected deeper scores (sides with connections only)
        self.connect = nn.ModuleList(
            nn.Conv2d(1 + len(src), 1, 1) if src else nn.Identity() for src in SHORT_CONNECTIONS)
        self.fuse = nn.Conv2d(len(SIDE_SPECS), 1, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Five connected side outputs, shallow to deep, then the fusion."""
        size = x.shape[2:]
        feats = list(self.backbone(x))
        if self.use_aspp:
            feats[-1] = self.context(feats[-1])
        raw = [side(f) for side, f in zip(self.sides, feats)]
        sides = []
        for i, src in enumerate(SHORT_CONNECTIONS):
            if src:
                own = raw[i]
                stacked = torch.cat([own] + [self.upsample(raw[j], own.shape[2:]) for j in src], 1)
                sides.append(self.connect[i](stacked))
            else:
                sides.append(raw[i])
        sides = [self.upsample(s, size) for s in sides]
        fused = self.fuse(torch.cat(sides, 1))
        return sides + [fused]

    def final(self, outputs: list[torch.Tensor]) -> torch.Tensor:
        """The authors' inference map: the mean of the fused probability and
        the probabilities of the middle side outputs (``INFERENCE_SIDES``)."""
        picked = [outputs[i] for i in INFERENCE_SIDES] + [outputs[-1]]
        return torch.stack([torch.sigmoid(o) for o in picked], 0).mean(0)


@register_method
class DSSPlus(LearnedMethod):
    """DSS with short connections, retrained on R3Net's backbone (DSS+)."""

    name = "dss+"
    paper = "Hou et al., CVPR 2017 (retrained as DSS+ in Deng et al., IJCAI 2018)"
    OPTIONS = (*LearnedMethod.OPTIONS,
               Option("aspp", bool, True, "256-channel ASPP context on the deepest features (R3Net's baselines had it)"))
    #: trained exactly like R3Net (the trainer's defaults: SGD lr 1e-3 poly 0.9, batch 14,
    #: 6000 iterations, 300x300 crops): the paper retrains the "+" baselines with R3Net's
    #: backbone and training set, and no method here needs a different schedule.
    train_defaults: dict = {}

    def build_model(self) -> DSSNet:
        """The DSS head on the chosen backbone, freshly initialised."""
        return DSSNet(backbone=self.options["backbone"], aspp=self.options["aspp"])
