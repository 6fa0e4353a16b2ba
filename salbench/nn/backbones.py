"""ImageNet backbones written from scratch, as five-level feature extractors.

Every backbone is an :class:`nn.Module` whose ``forward(x)`` returns the list
``[F1, F2, F3, F4, F5]`` of feature maps, in the manner of timm's
``features_only=True``; no classifier layers are built. ``channels`` and
``strides`` describe the five levels.

ResNet / ResNeXt (He et al. 2016, Xie et al. 2017; the torchvision "v1.5"
layout, stride on the 3×3 convolution, which is also the layout of the
Torch7-converted ResNeXt file used by R3Net):

* F1 = stem: conv 7×7 stride 2, BN, ReLU, max-pool 3×3 stride 2 (1/4)
* F2..F5 = ``layer1`` .. ``layer4`` (1/4, 1/8, 1/16, 1/32)

DenseNet-161 (Huang et al. 2017) — the five levels are the outputs just
before each transition, so that the strides match the ResNets:

* F1 = ``conv0, norm0, relu0, pool0`` (96 ch, 1/4)
* F2 = ``denseblock1`` (384 ch, 1/4)
* F3 = ``transition1, denseblock2`` (768 ch, 1/8)
* F4 = ``transition2, denseblock3`` (2112 ch, 1/16)
* F5 = ``transition3, denseblock4, norm5`` + ReLU (2208 ch, 1/32)

VGG-16 (Simonyan & Zisserman 2015; no BN) — grouped so that F1 plays the
role of a stem at 1/4 like the ResNets (R3Net-V works at F1's size; a full
resolution F1 would make its low-level branch about 10× dearer):

* F1 = ``conv1_1 .. conv2_2`` with ``pool1`` and ``pool2`` (128 ch, 1/4)
* F2 = ``conv3_1 .. conv3_3`` (256 ch, 1/4)
* F3 = ``pool3, conv4_1 .. conv4_3`` (512 ch, 1/8)
* F4 = ``pool4, conv5_1 .. conv5_3`` (512 ch, 1/16)
* F5 = ``pool5`` (512 ch, 1/32; parameter-free, as DSS's sixth side output)

Parameter names follow torchvision (``conv1``, ``layer1.0.conv1``,
``features.denseblock1.denselayer1.norm1``, ``features.0``), so torchvision
files load directly; :mod:`salbench.nn.weights` maps the other formats.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor, nn

__all__ = ["Backbone", "ResNet", "DenseNet", "VGG", "build_backbone", "BACKBONES"]


class Backbone(nn.Module):
    """Base of the five-level feature extractors."""

    #: name it was built under (``build_backbone``'s argument).
    name: str = ""
    #: channels of F1..F5.
    channels: list[int]
    #: downsampling factor of F1..F5 relative to the input.
    strides: list[int]

    def forward(self, x: Tensor) -> list[Tensor]:  # pragma: no cover - abstract
        """The five feature maps F1..F5 of ``x``."""
        raise NotImplementedError


# -- ResNet / ResNeXt ---------------------------------------------------------

class BasicBlock(nn.Module):
    """torchvision's ResNet basic block (two 3×3 convs); ``groups`` and
    ``base_width`` are accepted for :meth:`ResNet._make_layer` and unused."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, groups: int = 1, base_width: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        """ReLU of the block's convolutions of ``x`` plus the (downsampled) ``x``."""
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + idt)


class Bottleneck(nn.Module):
    """torchvision's ResNet / ResNeXt bottleneck (1×1, grouped 3×3, 1×1)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None, groups: int = 1, base_width: int = 64) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        """ReLU of the block's convolutions of ``x`` plus the (downsampled) ``x``."""
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + idt)


class ResNet(Backbone):
    """ResNet / ResNeXt trunk without ``avgpool``/``fc``."""

    def __init__(self, block: type[nn.Module], layers: list[int], groups: int = 1,
                 width_per_group: int = 64) -> None:
        super().__init__()
        self.groups, self.base_width = groups, width_per_group
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0], 1)
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        e = block.expansion  # type: ignore[attr-defined]
        self.channels = [64, 64 * e, 128 * e, 256 * e, 512 * e]
        self.strides = [4, 4, 8, 16, 32]
        _init_weights(self)

    def _make_layer(self, block, planes: int, n: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        blocks = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width)]
        self.inplanes = planes * block.expansion
        blocks += [block(self.inplanes, planes, 1, None, self.groups, self.base_width)
                   for _ in range(1, n)]
        return nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> list[Tensor]:
        """F1 (stem after max-pool) and the outputs of ``layer1``..``layer4``."""
        f1 = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        f2 = self.layer1(f1)
        f3 = self.layer2(f2)
        f4 = self.layer3(f3)
        f5 = self.layer4(f4)
        return [f1, f2, f3, f4, f5]


# -- DenseNet -----------------------------------------------------------------

class _DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int, bn_size: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, 1, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """The input with this layer's new feature maps appended (DenseNet)."""
        y = self.conv1(self.relu1(self.norm1(x)))
        y = self.conv2(self.relu2(self.norm2(y)))
        return torch.cat([x, y], 1)


class _DenseBlock(nn.Sequential):
    def __init__(self, n: int, cin: int, growth: int, bn_size: int) -> None:
        super().__init__()
        for i in range(n):
            self.add_module(f"denselayer{i + 1}", _DenseLayer(cin + i * growth, growth, bn_size))


class _Transition(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(cin)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.pool = nn.AvgPool2d(2, 2)


class DenseNet(Backbone):
    """DenseNet-BC trunk (torchvision names under ``features.``) without ``classifier``."""

    def __init__(self, growth: int = 48, block_config=(6, 12, 36, 24), init_features: int = 96,
                 bn_size: int = 4) -> None:
        super().__init__()
        f = nn.Sequential()
        f.add_module("conv0", nn.Conv2d(3, init_features, 7, 2, 3, bias=False))
        f.add_module("norm0", nn.BatchNorm2d(init_features))
        f.add_module("relu0", nn.ReLU(inplace=True))
        f.add_module("pool0", nn.MaxPool2d(3, 2, 1))
        c = init_features
        channels = [c]
        for i, n in enumerate(block_config):
            f.add_module(f"denseblock{i + 1}", _DenseBlock(n, c, growth, bn_size))
            c += n * growth
            channels.append(c)
            if i != len(block_config) - 1:
                f.add_module(f"transition{i + 1}", _Transition(c, c // 2))
                c //= 2
        f.add_module("norm5", nn.BatchNorm2d(c))
        self.features = f
        self.channels = channels
        self.strides = [4, 4, 8, 16, 32]
        self.relu5 = nn.ReLU(inplace=False)
        _init_weights(self)

    def forward(self, x: Tensor) -> list[Tensor]:
        """F1 (stem after pool0) and the outputs of the four dense blocks."""
        f = self.features
        f1 = f.pool0(f.relu0(f.norm0(f.conv0(x))))
        f2 = f.denseblock1(f1)
        f3 = f.denseblock2(f.transition1(f2))
        f4 = f.denseblock3(f.transition2(f3))
        f5 = self.relu5(f.norm5(f.denseblock4(f.transition3(f4))))
        return [f1, f2, f3, f4, f5]


# -- VGG ----------------------------------------------------------------------

#: VGG-16 configuration: output channels, "M" = max-pool (torchvision's indices follow).
_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG(Backbone):
    """VGG-16 convolutional part (torchvision ``features.<i>`` indices) without ``classifier``."""

    #: torchvision ``features`` index ranges of F1..F5 (see the module docstring).
    LEVELS = [(0, 10), (10, 16), (16, 23), (23, 30), (30, 31)]

    def __init__(self, cfg=_VGG16) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, 1, 1), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.channels = [128, 256, 512, 512, 512]
        self.strides = [4, 4, 8, 16, 32]
        _init_weights(self)

    def forward(self, x: Tensor) -> list[Tensor]:
        """The outputs of the ``LEVELS`` ranges of ``features``."""
        out = []
        for a, b in self.LEVELS:
            for i in range(a, b):
                x = self.features[i](x)
            out.append(x)
        return out


# -- factory ------------------------------------------------------------------

def _init_weights(m: nn.Module) -> None:
    """He initialisation for convs, BN to identity (used when no ImageNet file is loaded)."""
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
            if mod.bias is not None:
                nn.init.zeros_(mod.bias)
        elif isinstance(mod, nn.BatchNorm2d):
            nn.init.ones_(mod.weight)
            nn.init.zeros_(mod.bias)


BACKBONES: dict[str, Callable[[], Backbone]] = {
    "resnet18": lambda: ResNet(BasicBlock, [2, 2, 2, 2]),
    "resnet34": lambda: ResNet(BasicBlock, [3, 4, 6, 3]),
    "resnet50": lambda: ResNet(Bottleneck, [3, 4, 6, 3]),
    "resnet101": lambda: ResNet(Bottleneck, [3, 4, 23, 3]),
    "resnext50_32x4d": lambda: ResNet(Bottleneck, [3, 4, 6, 3], groups=32, width_per_group=4),
    "resnext101_32x4d": lambda: ResNet(Bottleneck, [3, 4, 23, 3], groups=32, width_per_group=4),
    "resnext101_32x8d": lambda: ResNet(Bottleneck, [3, 4, 23, 3], groups=32, width_per_group=8),
    "densenet161": lambda: DenseNet(48, (6, 12, 36, 24), 96, 4),
    "vgg16": lambda: VGG(),
}


def build_backbone(name: str) -> Backbone:
    """Build a backbone by name (randomly initialised; load ImageNet weights with
    :func:`salbench.nn.weights.load_backbone_weights`)."""
    key = name.lower().replace("-", "_")
    if key not in BACKBONES:
        from salbench.errors import SalbenchError
        raise SalbenchError(f"unknown backbone {name!r}; known: {', '.join(sorted(BACKBONES))}")
    bb = BACKBONES[key]()
    bb.name = key
    return bb
