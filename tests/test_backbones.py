"""Backbones (five levels, channels, strides, parameter counts) and the
ImageNet weight-file key mapping of every supported format.

The weight files are synthetic: key names and shapes are generated here from
the published layouts (torchvision's, the Torch7-converted ResNeXt of R3Net's
``resnext_101_32x4d_.py``, Cadene's ``pretrainedmodels``), every tensor filled
with its own index so that each value can be traced to where it landed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from salbench.nn.backbones import build_backbone
from salbench.nn.weights import (WeightsError, detect_format, load_backbone_state_dict,
                                 load_backbone_weights)
from salbench.nn.modules import ASPP, upsample

torch.set_num_threads(1)  # 2 shared cores: more threads only spin


# -- layouts -------------------------------------------------------------------

def _bn(name: str, c: int, tracked: bool = True) -> dict[str, tuple]:
    d = {f"{name}.weight": (c,), f"{name}.bias": (c,), f"{name}.running_mean": (c,),
         f"{name}.running_var": (c,)}
    if tracked:
        d[f"{name}.num_batches_tracked"] = ()
    return d


def resnet_layout(layers, bottleneck: bool, groups: int = 1, wpg: int = 64, tracked=True):
    """torchvision ResNet/ResNeXt keys → shapes, with a per-block tag list
    ``(stage, block, part, torchvision_name)`` for the Torch7 renaming."""
    shapes: dict[str, tuple] = {"conv1.weight": (64, 3, 7, 7), **_bn("bn1", 64, tracked)}
    parts = []
    inpl = 64
    for s, n in enumerate(layers, start=1):
        planes = 64 * 2 ** (s - 1)
        out = planes * (4 if bottleneck else 1)
        width = planes * wpg // 64 * groups if bottleneck else planes
        for j in range(n):
            p = f"layer{s}.{j}"
            if bottleneck:
                convs = [("conv1", (width, inpl, 1, 1)), ("bn1", width),
                         ("conv2", (width, width // groups, 3, 3)), ("bn2", width),
                         ("conv3", (out, width, 1, 1)), ("bn3", out)]
            else:
                convs = [("conv1", (planes, inpl, 3, 3)), ("bn1", planes),
                         ("conv2", (planes, planes, 3, 3)), ("bn2", planes)]
            if j == 0 and (s > 1 or inpl != out):
                convs += [("downsample.0", (out, inpl, 1, 1)), ("downsample.1", out)]
            for part, shp in convs:
                if isinstance(shp, tuple):
                    shapes[f"{p}.{part}.weight"] = shp
                else:
                    shapes.update(_bn(f"{p}.{part}", shp, tracked))
                parts.append((s, j, part))
            inpl = out
    return shapes, parts


#: where each bottleneck part sits in the Torch7 sequential block (resnext_101_32x4d_.py)
T7_PART = {"conv1": "0.0.0", "bn1": "0.0.1", "conv2": "0.0.3", "bn2": "0.0.4",
           "conv3": "0.1", "bn3": "0.2", "downsample.0": "1.0", "downsample.1": "1.1"}


def torch7_resnext_layout(prefix: str = "") -> tuple[dict[str, tuple], dict[str, str]]:
    """R3Net's resnext_101_32x4d.pth: keys → shapes, and key → torchvision name."""
    tv, parts = resnet_layout([3, 4, 23, 3], True, 32, 4, tracked=False)
    shapes, to_tv = {}, {}
    for k, shp in tv.items():
        if k.startswith("conv1."):
            t7 = "0." + k.split(".", 1)[1]
        elif k.startswith("bn1."):
            t7 = "1." + k.split(".", 1)[1]
        else:
            layer, j, rest = k.split(".", 2)
            part, param = rest.rsplit(".", 1)
            t7 = f"{int(layer[5:]) + 3}.{j}.0.{T7_PART[part]}.{param}"
        shapes[prefix + t7] = shp
        to_tv[prefix + t7] = k
    return shapes, to_tv


def densenet161_layout(old_style: bool):
    shapes = {"features.conv0.weight": (96, 3, 7, 7), **_bn("features.norm0", 96, not old_style)}
    c = 96
    for b, n in enumerate((6, 12, 36, 24), start=1):
        for i in range(n):
            p = f"features.denseblock{b}.denselayer{i + 1}"
            cin = c + i * 48
            sep = "." if old_style else ""
            shapes.update(_bn(f"{p}.norm{sep}1", cin, not old_style))
            shapes[f"{p}.conv{sep}1.weight"] = (192, cin, 1, 1)
            shapes.update(_bn(f"{p}.norm{sep}2", 192, not old_style))
            shapes[f"{p}.conv{sep}2.weight"] = (48, 192, 3, 3)
        c += n * 48
        if b < 4:
            shapes.update(_bn(f"features.transition{b}.norm", c, not old_style))
            shapes[f"features.transition{b}.conv.weight"] = (c // 2, c, 1, 1)
            c //= 2
    shapes.update(_bn("features.norm5", c, not old_style))
    shapes["classifier.weight"] = (1000, 2208)
    shapes["classifier.bias"] = (1000,)
    return shapes


def vgg16_layout():
    shapes, cin = {}, 3
    convs = [(0, 64), (2, 64), (5, 128), (7, 128), (10, 256), (12, 256), (14, 256),
             (17, 512), (19, 512), (21, 512), (24, 512), (26, 512), (28, 512)]
    for idx, cout in convs:
        shapes[f"features.{idx}.weight"] = (cout, cin, 3, 3)
        shapes[f"features.{idx}.bias"] = (cout,)
        cin = cout
    shapes.update({"classifier.0.weight": (4096, 25088), "classifier.0.bias": (4096,),
                   "classifier.3.weight": (4096, 4096), "classifier.3.bias": (4096,),
                   "classifier.6.weight": (1000, 4096), "classifier.6.bias": (1000,)})
    return shapes


def synth(shapes: dict[str, tuple]) -> dict[str, torch.Tensor]:
    """Tensor ``i`` filled with ``i``; classifier-sized ones as zero-stride views."""
    out = {}
    for i, (k, shp) in enumerate(shapes.items()):
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(i, dtype=torch.long)
        elif int(torch.Size(shp).numel()) > 4_000_000:
            out[k] = torch.full((1,), float(i)).expand(*shp)
        else:
            out[k] = torch.full(shp, float(i))
    return out


def assert_landed(backbone, sd_src: dict[str, torch.Tensor], rename: dict[str, str]) -> None:
    """Every source tensor that is not a classifier landed under its mapped name."""
    own = backbone.state_dict()
    for src, dst in rename.items():
        assert dst in own, dst
        a, b = own[dst], sd_src[src]
        assert a.shape == b.shape and torch.equal(a.to(b.dtype), b), f"{src} -> {dst}"


# -- backbones -----------------------------------------------------------------

EXPECTED = {
    # channels, parameters (ImageNet models minus their classifiers)
    "resnet18": ([64, 64, 128, 256, 512], 11_176_512),
    "resnet50": ([64, 256, 512, 1024, 2048], 23_508_032),
    "resnext101_32x4d": ([64, 256, 512, 1024, 2048], 42_128_704),
    "resnext101_32x8d": ([64, 256, 512, 1024, 2048], 86_742_336),
    "densenet161": ([96, 384, 768, 2112, 2208], 26_472_000),
    "vgg16": ([128, 256, 512, 512, 512], 14_714_688),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_backbone_levels(name):
    bb = build_backbone(name).eval()
    channels, n_params = EXPECTED[name]
    assert bb.channels == channels
    assert sum(p.numel() for p in bb.parameters()) == n_params
    assert not any(isinstance(m, torch.nn.Linear) for m in bb.modules())
    with torch.no_grad():
        feats = bb(torch.randn(1, 3, 64, 96))
    assert len(feats) == 5
    for f, c, s in zip(feats, channels, bb.strides):
        assert f.shape == (1, c, 64 // s, 96 // s)
    assert bb.strides == [4, 4, 8, 16, 32]


def test_unknown_backbone_names_the_choices():
    from salbench.errors import SalbenchError
    with pytest.raises(SalbenchError, match="resnext101_32x4d"):
        build_backbone("resnet7")


def test_aspp_and_upsample():
    aspp = ASPP(32).eval()
    assert [m[0].dilation for m in (aspp.conv2, aspp.conv3, aspp.conv4)] == [(2, 2), (4, 4), (6, 6)]
    assert aspp(torch.randn(2, 32, 9, 7)).shape == (2, 32, 9, 7)
    aspp.train()
    assert aspp(torch.randn(1, 32, 5, 5)).shape == (1, 32, 5, 5)  # batch of one trains
    x = torch.arange(4.0).view(1, 1, 2, 2)
    y = upsample(x, (3, 3))
    assert y[0, 0, 1, 1] == pytest.approx(1.5) and y[0, 0, 2, 2] == 3  # align_corners=True


# -- weight files ------------------------------------------------------------

def test_torchvision_resnet18_file(tmp_path):
    shapes, _ = resnet_layout([2, 2, 2, 2], False)
    shapes.update({"fc.weight": (1000, 512), "fc.bias": (1000,)})
    sd = synth(shapes)
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(sd, path)
    bb = build_backbone("resnet18")
    rep = load_backbone_weights(bb, path)
    assert rep["format"] == "torchvision"
    assert sorted(rep["dropped"]) == ["fc.bias", "fc.weight"]
    assert_landed(bb, sd, {k: k for k in shapes if not k.startswith("fc.")})


def test_torchvision_resnet50_and_resnext32x8d():
    for name, args in (("resnet50", ([3, 4, 6, 3], True)),
                       ("resnext101_32x8d", ([3, 4, 23, 3], True, 32, 8))):
        shapes, _ = resnet_layout(*args)
        shapes.update({"fc.weight": (1000, 2048), "fc.bias": (1000,)})
        sd = synth(shapes)
        bb = build_backbone(name)
        rep = load_backbone_state_dict(bb, sd, source=f"{name}.pth")
        assert rep["format"] == "torchvision" and not rep["missing"]
        assert_landed(bb, sd, {k: k for k in shapes if not k.startswith("fc.")})


def test_r3net_torch7_resnext_file(tmp_path):
    shapes, to_tv = torch7_resnext_layout()
    shapes.update({"10.1.weight": (1000, 2048), "10.1.bias": (1000,)})
    sd = synth(shapes)
    # spot checks of the layout against resnext_101_32x4d_.py
    assert shapes["4.0.0.0.0.3.weight"] == (128, 4, 3, 3)       # layer1 grouped 3×3
    assert shapes["5.0.0.1.0.weight"] == (512, 256, 1, 1)        # layer2 projection
    assert shapes["7.2.0.0.1.weight"] == (2048, 1024, 1, 1)      # last conv3
    path = tmp_path / "resnext_101_32x4d.pth"
    torch.save(sd, path)
    bb = build_backbone("resnext101_32x4d")
    rep = load_backbone_weights(bb, path)
    assert rep["format"] == "torch7-resnext"
    assert sorted(rep["dropped"]) == ["10.1.bias", "10.1.weight"]
    assert rep["missing"] == []  # num_batches_tracked absent from the old file is fine
    assert to_tv["7.2.0.0.1.weight"] == "layer4.2.conv3.weight"
    assert to_tv["4.0.0.1.1.running_var"] == "layer1.0.downsample.1.running_var"
    assert_landed(bb, sd, to_tv)


def test_cadene_resnext_state_dict():
    shapes, to_tv = torch7_resnext_layout(prefix="features.")
    shapes.update({"last_linear.weight": (1000, 2048), "last_linear.bias": (1000,)})
    sd = synth(shapes)
    assert detect_format(sd) == "cadene-resnext"
    bb = build_backbone("resnext101_32x4d")
    rep = load_backbone_state_dict(bb, sd, source="resnext101_32x4d-3f87e46b.pth")
    assert sorted(rep["dropped"]) == ["last_linear.bias", "last_linear.weight"]
    assert_landed(bb, sd, to_tv)


@pytest.mark.parametrize("old_style", [False, True])
def test_torchvision_densenet161(old_style):
    shapes = densenet161_layout(old_style)
    sd = synth(shapes)
    bb = build_backbone("densenet161")
    rep = load_backbone_state_dict(bb, sd, source="densenet161-8d451a50.pth")
    assert rep["format"] == ("torchvision-densenet-old" if old_style else "torchvision")
    assert sorted(rep["dropped"]) == ["classifier.bias", "classifier.weight"]
    rename = {}
    for k in shapes:
        if k.startswith("classifier"):
            continue
        rename[k] = (k.replace("norm.1", "norm1").replace("norm.2", "norm2")
                     .replace("conv.1", "conv1").replace("conv.2", "conv2"))
    assert rename.get("features.denseblock4.denselayer24.conv.2.weight",
                      "features.denseblock4.denselayer24.conv2.weight") == \
        "features.denseblock4.denselayer24.conv2.weight"
    assert_landed(bb, sd, rename)


def test_torchvision_vgg16():
    shapes = vgg16_layout()
    sd = synth(shapes)
    bb = build_backbone("vgg16")
    rep = load_backbone_state_dict(bb, sd, source="vgg16-397923af.pth")
    assert rep["format"] == "torchvision"
    assert len(rep["dropped"]) == 6
    assert_landed(bb, sd, {k: k for k in shapes if k.startswith("features.")})


def test_strict_errors_name_file_and_keys(tmp_path):
    shapes, _ = resnet_layout([2, 2, 2, 2], False)
    sd = synth(shapes)
    del sd["layer3.1.conv2.weight"]
    sd["layer5.0.conv1.weight"] = torch.zeros(3)
    sd["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    path = tmp_path / "broken.pth"
    torch.save(sd, path)
    bb = build_backbone("resnet18")
    with pytest.raises(WeightsError) as ei:
        load_backbone_weights(bb, path)
    msg = str(ei.value)
    assert str(path) in msg
    assert "missing keys (1): layer3.1.conv2.weight" in msg
    assert "unexpected keys (1): layer5.0.conv1.weight" in msg
    assert "layer1.0.conv1.weight: file (64, 64, 1, 1) vs backbone resnet18 (64, 64, 3, 3)" in msg
    # the wrong backbone for a file
    with pytest.raises(WeightsError, match="missing keys"):
        load_backbone_weights(build_backbone("resnet50"), path)
    # non-strict loads what fits and reports the rest
    before = bb.layer1[0].conv1.weight.clone()
    rep = load_backbone_weights(bb, path, strict=False)
    assert rep["missing"] == ["layer3.1.conv2.weight"]
    torch.testing.assert_close(bb.layer1[0].conv1.weight, before)
    torch.testing.assert_close(bb.conv1.weight, sd["conv1.weight"])


def test_unreadable_files(tmp_path):
    bad = tmp_path / "notweights.pth"
    bad.write_bytes(b"this is not a torch file")
    with pytest.raises(WeightsError, match="notweights.pth"):
        load_backbone_weights(build_backbone("resnet18"), bad)
    with pytest.raises(WeightsError, match="does not exist"):
        load_backbone_weights(build_backbone("resnet18"), tmp_path / "absent.pth")


# -- the Torch7 layout, executed ----------------------------------------------------

class _T7Block(nn.Module):
    """One block as resnext_101_32x4d_.py nests it: child ``0`` is the ConcatTable
    (``0`` main path, ``1`` projection or nothing), summed, then ReLU."""

    def __init__(self, cin: int, width: int, cout: int, stride: int) -> None:
        super().__init__()
        main = nn.Sequential(
            nn.Sequential(nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                          nn.Conv2d(width, width, 3, stride, 1, groups=32, bias=False),
                          nn.BatchNorm2d(width), nn.ReLU()),
            nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout))
        table = nn.Module()
        table.add_module("0", main)
        if stride != 1 or cin != cout:
            table.add_module("1", nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout)))
        self.add_module("0", table)

    def forward(self, x):
        table = getattr(self, "0")
        short = getattr(table, "1")(x) if hasattr(table, "1") else x
        return torch.relu(getattr(table, "0")(x) + short)


def _t7_resnext(layers):
    mods = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for s, n in enumerate(layers):
        width, cout = 128 * 2 ** s, 256 * 2 ** s
        blocks = []
        for j in range(n):
            blocks.append(_T7Block(cin, width, cout, 2 if (j == 0 and s > 0) else 1))
            cin = cout
        mods.append(nn.Sequential(*blocks))
    return nn.Sequential(*mods)


def test_torch7_layout_runs_identically_after_mapping():
    """A (shallow) network built with the Torch7 file's nesting, randomised, then
    loaded into our ResNeXt by key mapping: the same function (F5 equal)."""
    from salbench.nn.backbones import Bottleneck, ResNet
    torch.manual_seed(0)
    t7 = _t7_resnext([2, 1, 2, 1])
    for m in t7.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.2, 0.2)
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    t7.eval()
    sd = t7.state_dict()
    assert "4.0.0.0.0.3.weight" in sd and "5.0.0.1.0.weight" in sd and "4.1.0.1.0.weight" not in sd
    ours = ResNet(Bottleneck, [2, 1, 2, 1], groups=32, width_per_group=4).eval()
    rep = load_backbone_state_dict(ours, sd, source="t7")
    assert rep["format"] == "torch7-resnext"
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[-1], t7(x), rtol=1e-4, atol=1e-5)
