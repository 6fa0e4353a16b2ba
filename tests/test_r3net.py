"""R3Net: outputs of every Table 1 variant, the residual, the L/H order, the
checkpoint handling of LearnedMethod.prepare (which files fit which variant),
size-grouped prediction with the authors' truncation, the loss and a real
training step, and the size figures (params, GMACs)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from salbench.nn.learned import CHECKPOINT_FORMAT, LearnedMethod, SODNet
from salbench.nn.modules import upsample
from salbench.plugins.registry import MethodNotReady, create, get_spec

torch.set_num_threads(1)  # 2 shared cores: more threads only spin

LIGHT = "resnet18"
SIZE = 32


def _model(name: str, **opts):
    torch.manual_seed(0)
    return create(name, **opts).build_model()


VARIANTS = {  # name -> (options for a light build, expected number of outputs)
    **{f"r3net-{n}": ({"backbone": LIGHT}, n + 1) for n in range(8)},
    "r3net": ({"backbone": LIGHT}, 7),
    "r3net-wo-r": ({"backbone": LIGHT}, 7),
    "r3net-ws": ({"backbone": LIGHT}, 7),
    "r3net-ll": ({"backbone": LIGHT}, 7),
    "r3net-hh": ({"backbone": LIGHT}, 7),
    "r3net-d": ({}, 7),
    "r3net-v": ({}, 7),
}
#: DenseNet-161 / VGG-16 variants run once, at batch 1 (their F5 is then 2×2)
HEAVY = {"r3net-d", "r3net-v"}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_outputs_train_and_eval(name):
    opts, n_out = VARIANTS[name]
    m = create(name, **opts)
    assert m.name == name and m.kind == "learned" and m.needs_weights and m.supports_crf
    net = _model(name, **opts)
    assert isinstance(net, SODNet)
    b, h, w = (1, 64, 64) if name in HEAVY else (2, SIZE, SIZE + 16)
    x = torch.randn(b, 3, h, w)
    net.train()
    outs = net(x)
    assert len(outs) == n_out
    assert all(o.shape == (b, 1, h, w) for o in outs)
    net.eval()
    with torch.no_grad():
        outs = net(x)
        p = net.final(outs)
    assert len(outs) == n_out and p.shape == (b, 1, h, w)
    assert float(p.min()) >= 0 and float(p.max()) <= 1
    torch.testing.assert_close(p, torch.sigmoid(outs[-1]))


def test_variant_options_and_structure():
    assert get_spec("r3net-ws").cls.default_options["shared"] is True
    full, ws, hh, r0 = (_model(n, backbone=LIGHT) for n in ("r3net", "r3net-ws", "r3net-hh", "r3net-0"))
    assert len(full.refine) == 6 and len(ws.refine) == 1 and len(r0.refine) == 0
    rrb = sum(p.numel() for p in full.refine[0].parameters())
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(full) - n(ws) == 5 * rrb
    assert hh.reduce_low is None and r0.reduce_low is None  # L unused there
    assert full.backbone.name == LIGHT
    assert _model("r3net-d").backbone.name == "densenet161"
    assert _model("r3net-v").backbone.name == "vgg16"
    assert not _model("r3net-wo-r", backbone=LIGHT).residual


def test_residual_is_really_added():
    net = _model("r3net", backbone=LIGHT).eval()
    x = torch.randn(1, 3, SIZE, SIZE)
    with torch.no_grad():
        last = net.refine[3][-1]
        last.weight.zero_()
        last.bias.zero_()
        outs = net(x)
    torch.testing.assert_close(outs[4], outs[3])   # RRB 4 adds nothing
    assert not torch.allclose(outs[3], outs[2])    # RRB 3 does
    # without residual the same zeroed block predicts a zero map
    wo = _model("r3net-wo-r", backbone=LIGHT).eval()
    with torch.no_grad():
        wo.refine[3][-1].weight.zero_()
        wo.refine[3][-1].bias.fill_(0.25)
        outs = wo(x)
    torch.testing.assert_close(outs[4], torch.full_like(outs[4], 0.25))
    # and with residual, the same constant is added to the previous map
    with torch.no_grad():
        net.refine[3][-1].bias.fill_(0.25)
        outs = net(x)
    torch.testing.assert_close(outs[4], outs[3] + 0.25)


@pytest.mark.parametrize("name,order", [("r3net", "LHLHLH"), ("r3net-ll", "LLLLLL"),
                                        ("r3net-hh", "HHHHHH"), ("r3net-ws", "LHLHLH"),
                                        ("r3net-3", "LHL")])
def test_feature_order_seen_by_rrbs(name, order):
    net = _model(name, backbone=LIGHT).eval()
    seen: dict[str, torch.Tensor] = {}
    inputs: list[torch.Tensor] = []
    hooks = [net.reduce_high.register_forward_hook(lambda m, i, o: seen.__setitem__("H", o))]
    if net.reduce_low is not None:
        hooks.append(net.reduce_low.register_forward_hook(lambda m, i, o: seen.__setitem__("L", o)))
    for blk in net.refine:
        hooks.append(blk.register_forward_pre_hook(lambda m, i: inputs.append(i[0])))
    with torch.no_grad():
        net(torch.randn(1, 3, SIZE, SIZE))
    for h in hooks:
        h.remove()
    feats = {"H": upsample(seen["H"], inputs[0].shape[-2:])}
    if "L" in seen:
        feats["L"] = seen["L"]
    got = ""
    for inp in inputs:
        assert inp.shape[1] == 257
        match = [k for k, f in feats.items() if torch.equal(inp[:, 1:], f)]
        assert len(match) == 1
        got += match[0]
    assert got == order


def test_loss_and_a_real_training_step():
    net = _model("r3net", backbone=LIGHT).train()
    x = torch.randn(2, 3, SIZE, SIZE)
    y = torch.zeros(2, 1, SIZE, SIZE)
    y[:, :, 8:24, 8:24] = 1
    outs = net(x)
    loss = net.loss(outs, y)
    expect = sum(torch.nn.functional.binary_cross_entropy_with_logits(o, y) for o in outs)
    torch.testing.assert_close(loss, expect)
    opt = torch.optim.SGD(net.parameters(), lr=1e-2, momentum=0.9)
    w0 = net.refine[5][0].weight.detach().clone()
    b0 = net.backbone.conv1.weight.detach().clone()
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = net.loss(net(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert not torch.equal(w0, net.refine[5][0].weight)
    assert not torch.equal(b0, net.backbone.conv1.weight)
    assert losses[-1] < losses[0]


# -- prepare / weights ----------------------------------------------------------

@pytest.fixture
def ckroot(tmp_path, monkeypatch):
    root = tmp_path / "checkpoints"
    monkeypatch.setenv("SALBENCH_CHECKPOINTS", str(root))
    return root


def _checkpoint(path, name="r3net", **opts):
    m = create(name, **opts)
    torch.manual_seed(1)
    net = m.build_model()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": CHECKPOINT_FORMAT, "method": name, "options": dict(m.options),
                "model": net.state_dict(), "iteration": 10}, path)
    return net


def test_not_ready_without_weights(ckroot):
    m = create("r3net")
    with pytest.raises(MethodNotReady) as ei:
        m.prepare()
    msg = str(ei.value)
    assert "salbench train --method r3net --dataset MSRA10K" in msg
    assert "resnext_101_32x4d.pth" in msg and "--weights" in msg and str(ckroot) in msg
    with pytest.raises(MethodNotReady, match="r3net-ll"):
        create("r3net-ll").prepare()
    with pytest.raises(MethodNotReady, match="does not exist"):
        create("r3net", weights=ckroot / "nope.pt").prepare()


def test_checkpoint_options_win_and_newest_final_is_found(ckroot):
    _checkpoint(ckroot / "r3net" / "run-b" / "last.pt", backbone=LIGHT, steps=2)
    net = _checkpoint(ckroot / "r3net" / "run-a" / "final.pt", backbone=LIGHT, steps=3)
    m = create("r3net")  # default options say resnext101_32x4d, 6 steps
    m.prepare()
    assert m.weights == ckroot / "r3net" / "run-a" / "final.pt"
    assert m.options["backbone"] == LIGHT and m.options["steps"] == 3
    assert m.checkpoint_info["iteration"] == 10
    for k, v in net.state_dict().items():
        assert torch.equal(m.model.state_dict()[k], v), k
    os.remove(ckroot / "r3net" / "run-a" / "final.pt")
    m2 = create("r3net")
    m2.prepare()
    assert m2.weights.name == "last.pt" and m2.options["steps"] == 2


def test_plain_state_dict_and_mismatch(tmp_path):
    net = _model("r3net", backbone=LIGHT)
    p = tmp_path / "plain.pth"
    torch.save(net.state_dict(), p)
    m = create("r3net", backbone=LIGHT, weights=p)
    m.prepare()
    assert torch.equal(m.model.predict0.weight, net.predict0.weight)
    # a state dict of another architecture is refused before any image, naming file and keys
    bad = tmp_path / "other.pth"
    torch.save(_model("r3net-3", backbone=LIGHT).state_dict(), bad)
    with pytest.raises(MethodNotReady) as ei:
        create("r3net", backbone=LIGHT, weights=bad).prepare()
    assert "other.pth" in str(ei.value) and "missing keys (" in str(ei.value)
    assert "refine.5.* (16)" in str(ei.value) and "refine.3.* (16)" in str(ei.value)
    ck = tmp_path / "ck.pt"
    _checkpoint(ck, backbone=LIGHT, steps=1)
    obj = torch.load(ck, weights_only=True)
    obj["method"] = "dss+"
    torch.save(obj, ck)
    with pytest.raises(MethodNotReady, match="checkpoint of method 'dss\\+'"):
        create("r3net", weights=ck).prepare()
    obj["method"] = "r3net-ll"  # a variant's checkpoint is fine for the family
    torch.save(obj, ck)
    create("r3net", weights=ck).prepare()
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(MethodNotReady, match="junk.pt"):
        create("r3net", weights=junk).prepare()


def test_checkpoint_refused_where_options_were_set_explicitly(tmp_path, ckroot):
    ck = tmp_path / "ck.pt"
    _checkpoint(ck, backbone=LIGHT, steps=3)  # shared=False, features=LH
    # a variant's preset is explicit: r3net-ws never silently becomes unshared
    with pytest.raises(MethodNotReady) as ei:
        create("r3net-ws", weights=ck).prepare()
    msg = str(ei.value)
    assert "ck.pt" in msg and "shared=False (here True)" in msg and "\n" not in msg
    with pytest.raises(MethodNotReady, match="backbone='resnet18' \\(here 'densenet161'\\)"):
        create("r3net-d", weights=ck).prepare()
    # so is an option passed by the caller
    with pytest.raises(MethodNotReady, match="steps=3 \\(here 6\\)"):
        create("r3net", steps=6, backbone=LIGHT, weights=ck).prepare()
    # options left at the base default follow the checkpoint; amp / bn_init never clash
    m = create("r3net", backbone=LIGHT, amp=True, bn_init="ones", weights=ck)
    m.prepare()
    assert m.options["steps"] == 3 and m.options["amp"] is True
    assert m.model_options() == {"backbone": LIGHT, "steps": 3, "residual": True, "shared": False,
                                 "features": "LH", "aspp": True}
    # the automatic checkpoint is held to the same rule, and its sha256 is in identity()
    _checkpoint(ckroot / "r3net-ws" / "run" / "final.pt", "r3net-ws", backbone=LIGHT, steps=2)
    ws = create("r3net-ws")
    ws.prepare()
    assert ws.options["shared"] is True and len(ws.model.refine) == 1
    import hashlib
    assert ws.identity()["weights_sha256"] == hashlib.sha256(
        (ckroot / "r3net-ws" / "run" / "final.pt").read_bytes()).hexdigest()


def _fake_authors_file(path, blocks):
    """Just enough of the authors' key layout for the refinement-block check."""
    sd = {"layer0.0.weight": torch.zeros(1), "predict0.weight": torch.zeros(1)}
    for i in blocks:
        sd[f"predict{i}.0.weight"] = torch.zeros(1)
        sd[f"predict{i}.6.bias"] = torch.zeros(1)
    torch.save(sd, path)
    return path


@pytest.mark.parametrize("name,expect", [
    ("r3net-ws", "file has predict1..predict6 (6 refinement blocks); r3net-ws has one shared block"),
    ("r3net-3", "file has predict1..predict6 (6 refinement blocks); r3net-3 has 3 (steps=3)"),
    ("r3net-7", "file has predict1..predict6 (6 refinement blocks); r3net-7 has 7 (steps=7)"),
    ("r3net-0", "file has predict1..predict6 (6 refinement blocks); r3net-0 has 0 (steps=0)"),
])
def test_authors_file_with_other_refinement_blocks_is_refused(tmp_path, name, expect):
    p = _fake_authors_file(tmp_path / "6000.pth", range(1, 7))
    with pytest.raises(MethodNotReady) as ei:
        create(name, weights=p).prepare()
    msg = str(ei.value)
    assert expect in msg and str(p) in msg and "\n" not in msg


#: the authors' R3Net module: stages as Torch7 sequentials (resnext_101_32x4d_.py)
_T7 = {"conv1": "0.0.0", "bn1": "0.0.1", "conv2": "0.0.3", "bn2": "0.0.4", "conv3": "0.1",
       "bn3": "0.2", "downsample.0": "1.0", "downsample.1": "1.1"}


def _to_authors_key(k: str) -> str | None:
    if k.endswith("num_batches_tracked"):
        return None  # their PyTorch 0.3 file has none
    if k.startswith("backbone.conv1."):
        return "layer0.0." + k.rsplit(".", 1)[1]
    if k.startswith("backbone.bn1."):
        return "layer0.1." + k.rsplit(".", 1)[1]
    if k.startswith("backbone.layer"):
        _, layer, j, rest = k.split(".", 3)
        part, param = rest.rsplit(".", 1)
        return f"{layer}.{j}.0.{_T7[part]}.{param}"
    if k.startswith("refine."):
        _, i, rest = k.split(".", 2)
        return f"predict{int(i) + 1}.{rest}"
    return k  # reduce_low / reduce_high (ASPP as .6.conv1..conv5/.fuse) / predict0


@pytest.mark.slow
def test_authors_released_state_dict_loads(tmp_path):
    torch.manual_seed(2)
    net = create("r3net").build_model()
    theirs = {}
    for k, v in net.state_dict().items():
        ak = _to_authors_key(k)
        if ak is not None:
            theirs[ak] = v
    for probe in ("layer0.0.weight", "layer4.2.0.0.1.weight", "reduce_high.6.fuse.0.weight",
                  "predict6.6.bias", "predict0.weight", "layer3.22.0.0.0.4.running_var"):
        assert probe in theirs, probe
    p = tmp_path / "6000.pth"
    torch.save(theirs, p)
    del net
    m = create("r3net", weights=p)
    m.prepare()
    own = m.model.state_dict()
    for k, v in own.items():
        ak = _to_authors_key(k)
        if ak is not None:
            assert torch.equal(v, theirs[ak]), (k, ak)
    assert torch.equal(own["refine.5.6.bias"], theirs["predict6.6.bias"])
    assert torch.equal(own["backbone.layer4.2.conv3.weight"], theirs["layer4.2.0.0.1.weight"])
    assert torch.equal(own["backbone.conv1.weight"], theirs["layer0.0.weight"])
    del m, own
    # the same keys fit R3Net w/o R (the residual has no weights): strict loading accepts it
    wo = create("r3net-wo-r", weights=p)
    wo.prepare()
    assert torch.equal(wo.model.state_dict()["refine.5.6.bias"], theirs["predict6.6.bias"])
    del wo
    # R3Net-HH has no L branch: strict loading refuses, naming the file and the keys compactly
    with pytest.raises(MethodNotReady) as ei:
        create("r3net-hh", weights=p).prepare()
    msg = str(ei.value)
    assert "6000.pth" in msg and "unexpected keys" in msg and "reduce_low.0.* (" in msg
    assert len(msg.splitlines()) <= 4 and len(msg) < 1000
    with pytest.raises(MethodNotReady, match="r3net-ws has one shared block"):
        create("r3net-ws", weights=p).prepare()


# -- predict ----------------------------------------------------------------------

def test_predict_groups_sizes_and_truncates_like_the_authors(tmp_path):
    net = _checkpoint(tmp_path / "ck.pt", backbone=LIGHT, steps=2).eval()
    m = create("r3net", weights=tmp_path / "ck.pt")
    m.prepare()
    rng = np.random.default_rng(0)
    shapes = ((40, 56), (64, 48), (40, 56), (33, 70), (64, 48))
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in shapes]
    maps = m.predict(images, list("abcde"))
    assert [mp.shape for mp in maps] == list(shapes)
    assert all(mp.dtype == np.uint8 for mp in maps)
    from salbench.nn.learned import normalise_images
    for img, got in zip(images, maps):
        # each map is the network on that image alone: sigmoid(last) × 255, truncated
        assert np.array_equal(m.predict([img], ["x"])[0], got)
        x, _ = normalise_images([img])
        with torch.no_grad():
            ref = torch.sigmoid(net(x)[-1])[0, 0].mul(255).byte().numpy()
        np.testing.assert_array_equal(got, ref)
    # mixed sizes never share a tensor
    from salbench.errors import SalbenchError
    with pytest.raises(SalbenchError, match="different sizes"):
        normalise_images(images[:2])
    assert m.predict([], []) == []
    with pytest.raises(SalbenchError, match="bad.jpg"):
        m.predict([np.zeros((8, 8), np.uint8)], ["bad.jpg"])
    ident = m.identity()
    import hashlib
    assert ident["weights_sha256"] == hashlib.sha256((tmp_path / "ck.pt").read_bytes()).hexdigest()
    assert ident["postprocess"] == "truncate" and ident["input_size"] is None
    assert ident["checkpoint"]["iteration"] == 10 and ident["weights"] == str(tmp_path / "ck.pt")


# -- size figures -------------------------------------------------------------------

def test_counts_of_light_model_without_weights():
    m = create("r3net", backbone=LIGHT)
    n = m.count_params()
    assert n == sum(p.numel() for p in m.build_model().parameters())
    assert 18e6 < n < 19e6
    g = m.gmacs((64, 64))
    assert 0.5 < g < 2.0


@pytest.mark.slow
def test_r3net_params_and_gmacs():
    m = create("r3net")
    # measured 2026-11-26: 56,156,126 parameters, 47.36 GMACs at 300×300 (issue: ~47)
    assert m.count_params() == 56_156_126
    assert m.gmacs((300, 300)) == pytest.approx(47.36, abs=0.05)
    assert isinstance(m, LearnedMethod)
