"""The retrained "+" baselines of R3Net's Table 2: DSS+, NLDF+, Amulet+, SRM+.

All on the light ``resnet18`` backbone and small inputs: the heads' outputs
and shapes, every head parameter receiving gradient, the papers' specific
pieces (DSS's inference average, NLDF's boundary IoU loss and local
contrast), a few real SGD steps of ``salbench train`` on demo images lowering
the loss, and ``salbench train`` -> ``salbench run`` -> ``salbench report``
end to end through the CLI.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from salbench.plugins import registry
from salbench.cli import main as cli_main

BASELINES = ("dss+", "nldf+", "amulet+", "srm+")
#: supervised outputs of each head (DSS: 5 sides + fusion; NLDF: 1; Amulet:
#: 5 recursive predictions + fusion; SRM: 3 stages)
N_OUTPUTS = {"dss+": 6, "nldf+": 1, "amulet+": 6, "srm+": 3}


def _net(name: str, **opts):
    torch.manual_seed(0)
    return registry.create(name, backbone="resnet18", **opts).build_model()


# --------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", BASELINES)
def test_registered_as_learned_with_r3net_training(name):
    spec = registry.get_spec(name)
    m = spec.create(backbone="resnet18")
    assert m.name == name and m.kind == "learned" and m.needs_weights
    assert "IJCAI 2018" in m.paper and "201" in m.paper.split("(")[0]
    # ASPP on by default (R3Net's code: ASPP "in all of our baselines")
    assert m.options["aspp"] is True and m.options["backbone"] == "resnet18"
    # trained with R3Net's schedule: no overrides of the trainer's defaults
    assert spec.cls.train_defaults == {}
    n = m.count_params()
    g = m.gmacs((64, 64))
    assert n > 11_000_000 and g > 0  # ResNet-18 alone is ~11.2 M parameters


def test_default_backbone_is_resnext101():
    for name in BASELINES:
        assert registry.get_spec(name).cls.default_options["backbone"] == "resnext101_32x4d"


# --------------------------------------------------------------------------
# heads: outputs, shapes, gradients
# --------------------------------------------------------------------------

CASES = [("dss+", {}), ("dss+", {"aspp": False}), ("nldf+", {}), ("amulet+", {}),
         ("amulet+", {"aspp": False, "bpr": False}), ("srm+", {}), ("srm+", {"aspp": False})]


@pytest.mark.parametrize("name,opts", CASES, ids=[f"{n}-{'-'.join(f'{k}{v}' for k, v in o.items()) or 'default'}"
                                                  for n, o in CASES])
def test_outputs_loss_and_gradient_reach_every_head_parameter(name, opts):
    net = _net(name, **opts)
    net.train()
    x = torch.randn(2, 3, 72, 56)  # not a multiple of 32: odd level sizes
    y = torch.zeros(2, 1, 72, 56)
    y[:, :, 20:50, 15:40] = 1.0
    outs = net(x)
    assert isinstance(outs, list) and len(outs) == N_OUTPUTS[name]
    for o in outs:
        assert o.shape == (2, 1, 72, 56) and torch.isfinite(o).all()
    prob = net.final(outs)
    assert prob.shape == (2, 1, 72, 56)
    prob = prob.detach()
    assert float(prob.min()) >= 0.0 and float(prob.max()) <= 1.0
    loss = net.loss(outs, y)
    assert loss.dim() == 0 and torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    head = [(n, p) for n, p in net.named_parameters() if not n.startswith("backbone.")]
    assert head, "no head parameters"
    dead = [n for n, p in head if p.grad is None or not torch.isfinite(p.grad).all()
            or float(p.grad.abs().sum()) == 0.0]
    assert dead == [], f"head parameters without gradient: {dead}"
    # the backbone is trained too
    assert float(net.backbone.conv1.weight.grad.abs().sum()) > 0


def test_options_change_the_architecture():
    base = sum(p.numel() for p in _net("amulet+").parameters())
    no_bpr = sum(p.numel() for p in _net("amulet+", bpr=False).parameters())
    assert no_bpr < base
    with_aspp = _net("srm+")
    without = _net("srm+", aspp=False)
    assert hasattr(with_aspp, "context") and not hasattr(without, "context")


# --------------------------------------------------------------------------
# paper-specific pieces
# --------------------------------------------------------------------------

def test_dss_inference_averages_fusion_and_middle_sides():
    from salbench_methods.dss_plus import INFERENCE_SIDES, SHORT_CONNECTIONS

    net = _net("dss+").eval()
    with torch.no_grad():
        outs = net(torch.randn(1, 3, 64, 64))
        want = torch.stack([torch.sigmoid(outs[i]) for i in (*INFERENCE_SIDES, len(outs) - 1)]).mean(0)
        assert torch.allclose(net.final(outs), want)
    # short connections only ever go from deeper to shallower sides; the deepest has none
    assert all(all(j > i for j in src) for i, src in enumerate(SHORT_CONNECTIONS))
    assert SHORT_CONNECTIONS[-1] == () and INFERENCE_SIDES == (0, 1, 2)


def test_nldf_local_contrast_and_boundary_iou_loss():
    from salbench_methods.nldf_plus import boundary_iou_loss, local_contrast

    flat = torch.full((1, 4, 9, 9), 3.0)
    assert torch.allclose(local_contrast(flat), torch.zeros_like(flat))
    spike = torch.zeros(1, 1, 5, 5)
    spike[0, 0, 2, 2] = 9.0
    assert float(local_contrast(spike)[0, 0, 2, 2]) == pytest.approx(8.0)

    gt = torch.zeros(1, 1, 48, 48)
    gt[:, :, 12:36, 10:30] = 1.0
    sharp = (gt * 2 - 1) * 20.0  # logits matching the mask
    shifted = torch.roll(sharp, shifts=6, dims=3)
    flat_logits = torch.zeros_like(gt)
    l_sharp = float(boundary_iou_loss(sharp, gt))
    l_shift = float(boundary_iou_loss(shifted, gt))
    l_flat = float(boundary_iou_loss(flat_logits, gt))
    # the code's formula dips just below 0 on a perfect match (-1 / (2 n + 1))
    assert -0.01 < l_sharp < 0.2 < l_shift <= 1.0 and l_flat > 0.9
    # the loss is CE + boundary IoU, both logged as terms
    net = _net("nldf+")
    outs = [sharp]
    ce, iou = net.loss_terms(outs, gt)
    assert float(net.loss(outs, gt)) == pytest.approx(float(ce) + float(iou))
    assert float(iou) == pytest.approx(l_sharp)


# --------------------------------------------------------------------------
# the real trainer and the CLI, on demo images
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_small(tmp_path_factory):
    """Two demo training pairs at 64x64 (so a 64 crop is the whole image: every
    batch is the same two images) and three demo test pairs at 96x72."""
    from salbench.data import demo

    root = tmp_path_factory.mktemp("demo")
    src = demo.ensure(root / "data")
    out = {}
    for split, n, size in (("train", 2, (64, 64)), ("test", 3, (96, 72))):
        dst = root / f"small-{split}"
        (dst / "images").mkdir(parents=True)
        (dst / "gt").mkdir()
        for img in sorted((src / split / "images").glob("*.jpg"))[:n]:
            gt = src / split / "gt" / (img.stem + ".png")
            Image.open(img).convert("RGB").resize(size, Image.BILINEAR).save(
                dst / "images" / img.name, quality=95)
            Image.open(gt).convert("L").resize(size, Image.NEAREST).save(dst / "gt" / gt.name)
        out[split] = dst
    return out


@pytest.mark.slow
@pytest.mark.parametrize("name", BASELINES)
def test_train_lowers_loss_then_run_and_report(name, demo_small, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SALBENCH_DATA", str(tmp_path / "data"))
    torch.set_num_threads(2)
    ck_root = tmp_path / "ck"
    rc = cli_main(["train", "--method", name, "--dataset", str(demo_small["train"]),
                   "--backbone", "resnet18", "--crop", "64", "--batch-size", "2",
                   "--iterations", "5", "--no-flip", "--rotate", "0", "--log-every", "1",
                   "--out", str(ck_root), "--no-progress", "--threads", "2"])
    assert rc == 0
    found = list(ck_root.rglob("final.pt"))  # <out>/<method>/<dataset>/final.pt
    assert len(found) == 1, found
    ck = found[0]
    saved = torch.load(ck, weights_only=True)
    assert saved["method"] == name and saved["options"]["backbone"] == "resnet18"
    assert saved["options"]["aspp"] is True and saved["iteration"] == 5
    log = [json.loads(s) for s in (ck.parent / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log]
    assert len(losses) == 5 and all(np.isfinite(losses))
    # the same two images every step: plain SGD must lower the loss
    assert losses[-1] < losses[0], losses
    if name == "nldf+":
        assert len(log[0]["losses"]) == 2  # cross-entropy and boundary IoU logged apart

    results = tmp_path / "results"
    capsys.readouterr()
    rc = cli_main(["run", "--method", name, "--datasets", str(demo_small["test"]), "--no-crf",
                   "--weights", str(ck), "--results", str(results), "-q", "--workers", "1"])
    out = capsys.readouterr()
    assert rc == 0, out.out + out.err
    report = tmp_path / "table.md"
    rc = cli_main(["report", "--results", str(results), "-o", str(report)])
    out = capsys.readouterr()
    assert rc == 0, out.out + out.err
    text = report.read_text()
    assert name in text.lower()
    shutil.rmtree(ck_root, ignore_errors=True)
