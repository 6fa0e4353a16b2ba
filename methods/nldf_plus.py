"""NLDF+ : Non-Local Deep Features for salient object detection (Luo et al.,
CVPR 2017), retrained on R3Net's backbone and trainer as the "NLDF+" row of
Table 2 of Deng et al., IJCAI 2018.

Only the head and the loss live here; backbone, data, trainer, checkpoints and
inference are the shared ones of :mod:`salbench.nn.learned`.

What follows the paper and the authors' released TensorFlow code
(``zhimingluo/NLDF``, ``NLDF.py``), and where this differs:

* **Local features.** Every level gets a 3x3 convolution to 128 channels
  (``fea_dim``) and its *local contrast* feature: the feature minus its 3x3
  average, computed with edge-replicating padding (TensorFlow's ``SYMMETRIC``
  padding of width 1 repeats the border, which is what ``replicate`` does).
* **Top-down path.** From the deepest level up, ``[X_i, contrast(X_i), U_{i+1}]``
  goes through a 5x5 deconvolution (stride 2) with 128 * (6 - i) output
  channels, as in the code (128, 256, 384, 512). The shared backbone's F1 and
  F2 are both at stride 4 (VGG's pool1 / pool2 are at 2 and 4), so the step F2
  -> F1 is a stride-1 5x5 deconvolution; odd sizes are matched by a bilinear
  resize. The local score is a 1x1 convolution to 640 channels and a 1x1
  convolution to the score, at F1's resolution (stride 4; the paper's output
  is at stride 2).
* **Global branch.** On the deepest level: 5x5, 5x5, 3x3 convolutions of 128
  channels and a 1x1 score, added to every pixel of the local score. The code
  uses VALID convolutions that end at 1x1 for its fixed 352x352 input; to take
  any input size, the convolutions here are padded and followed by a global
  average pool.
* **Loss.** Cross-entropy plus the boundary IoU loss with weight 1 each (the
  code's ``Loss_Mean``; its ``contour_weight`` is unused). The boundary IoU loss
  is ``1 - 2 (sum(B_p B_g) + 1) / (sum(B_p^2) + sum(B_g^2) + 1)`` where B_p is
  ``tanh`` of the Sobel gradient magnitude of the predicted saliency and B_g
  the GT's Sobel magnitude thresholded at 1.5. The code takes both over the
  two softmax channels (p and 1-p) and sums them, i.e. twice the one-channel
  magnitude; with our single logit that factor 2 is applied explicitly
  (``GRAD_CHANNELS``). The code's 2-class softmax is a single logit with a
  sigmoid here (the same model). The loss is taken per image at the input
  size (the code: one image per batch, at half size) and averaged.
* Convolutions are conv-BN-PReLU (R3Net's head style) rather than conv-ReLU.

ASPP default (``aspp=True``): R3Net's released ``model.py`` says its ``_ASPP``
is used "in all of our baselines", so the "+" retraining had it; here it
gives the 256-channel context of F5 that both the local path and the global
branch read at the deepest level. ``aspp=False`` is NLDF as published.
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

#: NLDF's feature width (``fea_dim`` in the code).
FEA_DIM = 128
#: GT boundary threshold on the summed two-channel Sobel magnitude (``contour_th``).
CONTOUR_TH = 1.5
#: the code's boundary maps sum the gradient magnitudes of the two softmax
#: channels p and 1-p, which are equal: twice the single-channel magnitude.
GRAD_CHANNELS = 2.0
#: weights of cross-entropy and boundary IoU loss (``Loss_Mean`` in the code).
CE_WEIGHT = 1.0
IOU_WEIGHT = 1.0
#: smoothing term of the IoU loss (the code's ``+1``).
IOU_SMOOTH = 1.0
#: floor under the squared gradient so that sqrt stays differentiable on flat regions
SQRT_FLOOR = 1e-12


def local_contrast(x: torch.Tensor) -> torch.Tensor:
    """Feature minus its 3x3 mean (edge-replicating padding)."""
    return x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def sobel_magnitude(p: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of a (B,1,H,W) map, edge-replicating padding."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
                      dtype=p.dtype, device=p.device)
    k = torch.stack([kx, kx.t()]).unsqueeze(1)  # (2,1,3,3): d/dx, d/dy
    g = F.conv2d(F.pad(p, (1, 1, 1, 1), mode="replicate"), k)
    return torch.sqrt((g * g).sum(1, keepdim=True) + SQRT_FLOOR)


def boundary_iou_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """NLDF's boundary IoU loss, per image, averaged over the batch."""
    prob = torch.sigmoid(logits)
    bp = torch.tanh(GRAD_CHANNELS * sobel_magnitude(prob))
    with torch.no_grad():
        bg = (GRAD_CHANNELS * sobel_magnitude(target.to(prob.dtype)) > CONTOUR_TH).to(prob.dtype)
    inter = (bp * bg).flatten(1).sum(1)
    union = (bp * bp).flatten(1).sum(1) + (bg * bg).flatten(1).sum(1)
    return (1.0 - 2.0 * (inter + IOU_SMOOTH) / (union + IOU_SMOOTH)).mean()


class _Deconv(nn.Module):
    """5x5 transposed convolution (stride 2, or 1 between same-stride levels)
    + BN + PReLU, resized to the exact target size when the sizes are odd."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 5, stride=stride, padding=2,
                                     output_padding=stride - 1)
        self.post = nn.Sequential(nn.BatchNorm2d(cout), nn.PReLU())

    def forward(self, x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        """Upsample ``x`` to ``size`` (the learned step, then bilinear to the exact size)."""
        y = self.up(x)
        if y.shape[2:] != size:
            y = F.interpolate(y, size=tuple(size), mode="bilinear", align_corners=True)
        return self.post(y)


class NLDFNet(SODNet):
    """The NLDF head on the shared backbone. ``forward`` returns one logit map
    (local + global score) at the input size; its sigmoid is the map
    (:meth:`SODNet.final`)."""

    def __init__(self, backbone: str = "resnext101_32x4d", aspp: bool = True, **opts: Any) -> None:
        super().__init__(backbone=backbone, **opts)
        chans = list(self.backbone.channels)
        if len(chans) != 5:
            raise ValueError(f"NLDF+ needs a backbone with 5 levels, got {len(chans)}")
        self.use_aspp = bool(aspp)
        if self.use_aspp:
            self.context = aspp_context(chans[-1])
            chans[-1] = ASPP_CONTEXT_WIDTH
        strides = list(self.backbone.strides)
        # deconvolution stride between consecutive levels (F1 and F2 share stride 4)
        steps = [max(1, strides[i + 1] // strides[i]) for i in range(4)]
        d = FEA_DIM
        self.reduce = nn.ModuleList(ConvBNPReLU(c, d, 3) for c in chans)
        # top-down deconvolutions, deepest first: F5->F4 (d), F4->F3 (2d), F3->F2 (3d), F2->F1 (4d)
        ups = []
        for k, lvl in enumerate(range(4, 0, -1)):  # source level index 4..1 (0-based)
            cin = 2 * d + (k * d if k else 0)
            ups.append(_Deconv(cin, (k + 1) * d, steps[lvl - 1]))
        self.ups = nn.ModuleList(ups)
        self.local_fea = ConvBNPReLU(2 * d + 4 * d, 5 * d, 1)
        self.local_score = nn.Conv2d(5 * d, 1, 1)
        self.global_fea = nn.Sequential(ConvBNPReLU(chans[-1], d, 5), ConvBNPReLU(d, d, 5),
                                        nn.Conv2d(d, d, 3, padding=1))
        self.global_score = nn.Conv2d(d, 1, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One logit map: the local score plus the global score."""
        feats = list(self.backbone(x))
        if self.use_aspp:
            feats[-1] = self.context(feats[-1])
        xs = [r(f) for r, f in zip(self.reduce, feats)]
        lcs = [local_contrast(t) for t in xs]
        up = None
        for k, lvl in enumerate(range(4, 0, -1)):
            parts = [xs[lvl], lcs[lvl]] + ([up] if up is not None else [])
            up = self.ups[k](torch.cat(parts, 1), xs[lvl - 1].shape[2:])
        local = self.local_score(self.local_fea(torch.cat([xs[0], lcs[0], up], 1)))
        g = F.adaptive_avg_pool2d(self.global_fea(feats[-1]), 1)
        score = local + self.global_score(g)
        return [self.upsample(score, x.shape[2:])]

    def loss_terms(self, outputs: list[torch.Tensor], target: torch.Tensor) -> list[torch.Tensor]:
        """The two weighted terms, cross-entropy then boundary IoU (the trainer logs them)."""
        out = outputs[-1]
        return [CE_WEIGHT * F.binary_cross_entropy_with_logits(out, target),
                IOU_WEIGHT * boundary_iou_loss(out, target)]

    def loss(self, outputs: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy + boundary IoU loss (NLDF's ``Loss_Mean``)."""
        ce, iou = self.loss_terms(outputs, target)
        return ce + iou


@register_method
class NLDFPlus(LearnedMethod):
    """NLDF (local contrast + global features, boundary IoU loss), retrained on R3Net's backbone (NLDF+)."""

    name = "nldf+"
    paper = "Luo et al., CVPR 2017 (retrained as NLDF+ in Deng et al., IJCAI 2018)"
    OPTIONS = (*LearnedMethod.OPTIONS,
               Option("aspp", bool, True, "256-channel ASPP context on the deepest features (R3Net's baselines had it)"))
    #: trained exactly like R3Net (the trainer's defaults: SGD lr 1e-3 poly 0.9, batch 14,
    #: 6000 iterations, 300x300 crops): the paper retrains the "+" baselines with R3Net's
    #: backbone and training set, and no method here needs a different schedule.
    train_defaults: dict = {}

    def build_model(self) -> NLDFNet:
        """The NLDF head on the chosen backbone, freshly initialised."""
        return NLDFNet(backbone=self.options["backbone"], aspp=self.options["aspp"])
