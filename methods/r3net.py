"""R3Net: Recurrent Residual Refinement Network (Deng et al., IJCAI 2018).

Follows the authors' PyTorch code (zijundeng/R3Net ``model.py``), written anew:

* backbone ResNeXt-101 32×4d, F1 = stem (64 ch, 1/4), F2..F5 = stages;
* low-level integrated features **L** = concat(F1, up(F2), up(F3)) → 3×3 conv
  256 → 3×3 conv 256 → 1×1 conv 256 (each BN + PReLU), at F1's size;
* high-level integrated features **H** = concat(F4, up(F5)) → 3×3 conv 256 →
  3×3 conv 256 → ASPP (dilations 2, 4, 6, see :mod:`salbench.nn.modules`),
  then upsampled to F1's size;
* S0 = 1×1 conv (256 → 1) on H; residual refinement blocks (RRBs)
  ``S_i = S_{i-1} + RRB_i(concat(S_{i-1}, feature_i))`` with features
  alternating L, H, L, H, L, H; an RRB is 3×3 conv 257 → 128, 3×3 conv
  128 → 128 (BN + PReLU each), 1×1 conv → 1;
* all maps are upsampled to the input size (bilinear, ``align_corners=True``);
  training sums BCE-with-logits over all of them (weight 1), inference takes
  the sigmoid of the last.

Differences from the paper / code: the paper's Figure 1 shows no ASPP (the
code has it and so do we; option ``aspp=False`` removes it); the code's
``F.upsample`` of PyTorch 0.3 is ``align_corners=True``, made explicit here.
The Table 1 variants are options: ``steps`` (R3Net-0 … R3Net-7), ``residual``
(R3Net w/o R: each RRB predicts the map directly), ``shared`` (R3Net-WS: one
RRB's weights for all steps), ``features`` (``"LH"`` alternating, ``"LL"``,
``"HH"``), and ``backbone`` (``densenet161`` = R3Net-D, ``vgg16`` = R3Net-V;
``resnet18``/``resnet50`` for CPU experiments). The authors' released
``6000.pth`` (a state dict of their ``R3Net`` module) loads through
:meth:`R3Net.convert_state_dict`.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from salbench.nn.learned import LearnedMethod, SODNet
from salbench.nn.modules import ASPP, conv_bn_prelu
from salbench.nn.weights import torch7_block_key
from salbench.plugins.options import Option
from salbench.plugins.registry import MethodNotReady, register_method

__all__ = ["R3NetModel", "R3Net", "make_rrb"]

_FEATURES = ("LH", "LL", "HH")


def make_rrb(feat_ch: int = 256, mid_ch: int = 128) -> nn.Sequential:
    """One residual refinement block: (1 + ``feat_ch``) → ``mid_ch`` → ``mid_ch`` → 1."""
    return nn.Sequential(*conv_bn_prelu(1 + feat_ch, mid_ch, 3), *conv_bn_prelu(mid_ch, mid_ch, 3),
                         nn.Conv2d(mid_ch, 1, 1))


class R3NetModel(SODNet):
    """The R3Net network (see the module docstring). Output: ``steps + 1`` logit maps."""

    def __init__(self, backbone: str = "resnext101_32x4d", steps: int = 6, residual: bool = True,
                 shared: bool = False, features: str = "LH", aspp: bool = True, **opts: Any) -> None:
        super().__init__(backbone, **opts)
        features = str(features).upper()
        if features not in _FEATURES:
            raise ValueError(f"r3net: features must be one of {_FEATURES}, got {features!r}")
        steps = int(steps)
        if steps < 0:
            raise ValueError(f"r3net: steps must be >= 0, got {steps}")
        self.steps, self.residual, self.shared = steps, bool(residual), bool(shared)
        self.features, self.use_aspp = features, bool(aspp)
        c = self.backbone.channels
        d = 256
        # L is not needed when no RRB reads it (R3Net-0, R3Net-HH)
        if steps > 0 and any(self.feature_kind(i) == "L" for i in range(steps)):
            self.reduce_low = nn.Sequential(*conv_bn_prelu(c[0] + c[1] + c[2], d, 3),
                                            *conv_bn_prelu(d, d, 3), *conv_bn_prelu(d, d, 1))
        else:
            self.reduce_low = None
        high: list[nn.Module] = [*conv_bn_prelu(c[3] + c[4], d, 3), *conv_bn_prelu(d, d, 3)]
        if self.use_aspp:  # not aspp_context: ASPP sits flat in reduce_high (the authors' key layout)
            high.append(ASPP(d))
        self.reduce_high = nn.Sequential(*high)
        self.predict0 = nn.Conv2d(d, 1, 1)
        n_blocks = min(steps, 1) if self.shared else steps
        self.refine = nn.ModuleList(make_rrb(d) for _ in range(n_blocks))

    def feature_kind(self, i: int) -> str:
        """``"L"`` or ``"H"``: the integrated features RRB ``i`` (0-based) reads."""
        if self.features == "LH":
            return "L" if i % 2 == 0 else "H"
        return self.features[0]

    def forward(self, x: Tensor) -> list[Tensor]:
        """S0 and the ``steps`` refined maps, logits at the input size."""
        f1, f2, f3, f4, f5 = self.backbone(x)
        s1 = f1.shape[-2:]
        up = self.upsample
        low = None
        if self.reduce_low is not None:
            low = self.reduce_low(torch.cat([f1, up(f2, s1), up(f3, s1)], 1))
        high = self.reduce_high(torch.cat([f4, up(f5, f4.shape[-2:])], 1))
        high = up(high, s1)
        maps = [self.predict0(high)]
        for i in range(self.steps):
            feat = low if self.feature_kind(i) == "L" else high
            block = self.refine[0 if self.shared else i]
            prev = maps[-1]
            out = block(torch.cat([prev, feat], 1))
            maps.append(out + prev if self.residual else out)
        size = x.shape[-2:]
        return [up(m, size) for m in maps]


#: the authors' released-model key prefixes → ours (``6000.pth``)
_AUTHORS_PREDICT = re.compile(r"^predict([1-9])\.(.*)$")


class R3Net(LearnedMethod):
    """R3Net (Deng et al., IJCAI 2018): recurrent residual refinement on ResNeXt-101."""

    name: ClassVar[str] = "r3net"
    paper: ClassVar[str] = "Deng et al., IJCAI 2018"
    family: ClassVar[str] = "r3net"
    OPTIONS: ClassVar[tuple[Option, ...]] = (
        *LearnedMethod.OPTIONS,
        Option("steps", int, 6, "number of recurrent residual refinement steps (R3Net-0 ... R3Net-7)"),
        Option("residual", bool, True, "RRBs add to the previous map (False = R3Net w/o R)"),
        Option("shared", bool, False, "one RRB's weights for every step (R3Net-WS)"),
        Option("features", str, "LH", "integrated features the RRBs read: alternating LH, LL or HH",
               choices=_FEATURES),
        Option("aspp", bool, True, "ASPP on the high-level features (the authors' code has it)"),
    )
    #: the trainer's defaults are R3Net's own (lr 1e-3, batch 14, 6000 iterations).
    train_defaults: ClassVar[dict[str, Any]] = {}

    def build_model(self) -> R3NetModel:
        """The network of the chosen variant, freshly initialised."""
        o = self.options
        return R3NetModel(o["backbone"], steps=o["steps"], residual=o["residual"],
                          shared=o["shared"], features=o["features"], aspp=o["aspp"])

    def convert_state_dict(self, sd: dict[str, Tensor]) -> dict[str, Tensor]:
        """Map the authors' ``R3Net`` state dict (``layer0.0.weight`` … ``predict6.*``,
        their ResNeXt in Torch7 sequential numbering) to our names; other dicts
        pass through unchanged."""
        if "layer0.0.weight" not in sd:
            return sd
        self._check_authors_blocks(sd)
        out: dict[str, Tensor] = {}
        for k, v in sd.items():
            nk = k
            if k.startswith("layer0.0."):
                nk = "backbone.conv1." + k[len("layer0.0."):]
            elif k.startswith("layer0.1."):
                nk = "backbone.bn1." + k[len("layer0.1."):]
            else:
                m = re.match(r"^layer([1-4])\.(.*)$", k)
                if m:
                    sub = torch7_block_key(m.group(2))
                    nk = f"backbone.layer{m.group(1)}.{sub}" if sub else k
                else:
                    m = _AUTHORS_PREDICT.match(k)
                    if m:
                        idx = int(m.group(1)) - 1
                        nk = f"refine.{0 if self.options.get('shared') else idx}.{m.group(2)}"
            out[nk] = v
        return out

    def _check_authors_blocks(self, sd: dict[str, Tensor]) -> None:
        """Refuse (one line) an authors' file whose refinement blocks
        ``predict1..predictN`` do not match this variant's: six distinct blocks
        never go into R3Net-WS's one shared block, nor into R3Net-3's three."""
        idx = sorted({int(m.group(1)) for k in sd if (m := _AUTHORS_PREDICT.match(k))})
        if not idx:
            return
        shared, steps = bool(self.options.get("shared")), int(self.options.get("steps", 6))
        want = min(steps, 1) if shared else steps
        have = f"predict{idx[0]}..predict{idx[-1]}" if len(idx) > 1 else f"predict{idx[0]}"
        what = f"file has {have} ({len(idx)} refinement block{'s' if len(idx) != 1 else ''})"
        if shared and len(idx) > 1:
            raise MethodNotReady(f"{what}; {self.name} has one shared block (shared=True)")
        if len(idx) != want or idx != list(range(1, want + 1)):
            raise MethodNotReady(f"{what}; {self.name} has {want} (steps={steps}"
                                 f"{', shared=True' if shared else ''})")


register_method(R3Net)
for _n in range(0, 8):
    register_method(R3Net, name=f"r3net-{_n}", description=f"R3Net with {_n} recurrent steps (Table 1)",
                    steps=_n)
register_method(R3Net, name="r3net-wo-r", description="R3Net without residual learning (Table 1)",
                residual=False)
register_method(R3Net, name="r3net-ws", description="R3Net with shared RRB weights (Table 1)",
                shared=True)
register_method(R3Net, name="r3net-ll", description="R3Net, every RRB on low-level features (Table 1)",
                features="LL")
register_method(R3Net, name="r3net-hh", description="R3Net, every RRB on high-level features (Table 1)",
                features="HH")
register_method(R3Net, name="r3net-d", description="R3Net on DenseNet-161 (Table 1)",
                backbone="densenet161")
register_method(R3Net, name="r3net-v", description="R3Net on VGG-16 (Table 1)", backbone="vgg16")
