"""``salbench train``: optimiser groups and poly schedule, exact resume, the
joint augmentation on real JPEG/PNG files, the deterministic sample stream,
bad input, the CLI end to end (train → run → report) and the GPU-check script's
CPU smoke mode.

Fast tests use a tiny two-output network registered from a plugin file (the
trainer is method-agnostic); the end-to-end test trains the real ``r3net``
with a ResNet-18 backbone for a few iterations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import cli, make_set
from salbench.errors import InputError, SalbenchError
from salbench.nn import data as D
from salbench.nn import train as T

REPO = Path(__file__).resolve().parents[1]

#: a tiny method: conv-BN backbone, two logit outputs at input size
#: tiny learned methods (``tiny-train-test``, ``tiny-ddp-test``), loaded with --plugin
TINY_PLUGIN = Path(__file__).parent / "plugins" / "tiny_learned.py"


@pytest.fixture(scope="module")
def tiny_plugin() -> Path:
    from salbench.plugins.registry import load_plugin
    load_plugin(TINY_PLUGIN)
    return TINY_PLUGIN


def make_pairs(folder: Path, n: int = 6, size: tuple[int, int] = (72, 60), seed: int = 0,
               grey_gt: bool = False) -> Path:
    """``folder/images/im00.jpg`` ... and ``gt/im00.png`` ...: real JPEG images with a
    red ellipse on a blue background and PNG masks of the ellipse (grey level 200
    instead of 255 when ``grey_gt``), by :func:`helpers.make_set`. Returns ``folder``."""
    make_set(folder, n, size=size, source="ellipse", seed=seed, prefix="im", digits=2, quality=95,
             grey_gt=200 if grey_gt else None)
    return folder


# --------------------------------------------------------------------------
# optimiser and schedule
# --------------------------------------------------------------------------

def test_poly_schedule_values():
    assert T.poly_factor(0, 6000) == 1.0
    assert T.poly_factor(3000, 6000) == pytest.approx(0.5 ** 0.9, rel=1e-12)
    assert T.poly_factor(5999, 6000) == pytest.approx((1 / 6000) ** 0.9, rel=1e-12)
    net = torch.nn.Conv2d(3, 4, 3)
    opt = T.build_optimizer(net, lr=1e-3)
    f = T.set_poly_lr(opt, 1500, 6000)
    assert f == pytest.approx(0.75 ** 0.9)
    bias_g, weight_g = opt.param_groups
    assert bias_g["lr"] == pytest.approx(2e-3 * 0.75 ** 0.9, rel=1e-12)  # the ×2 is kept
    assert weight_g["lr"] == pytest.approx(1e-3 * 0.75 ** 0.9, rel=1e-12)
    with pytest.raises(ValueError):
        T.poly_factor(0, 0)


def test_one_step_uses_group_learning_rates_and_decay(tiny_plugin):
    """One SGD step from zero momentum: biases move by 2·lr·grad (no decay),
    all other parameters by lr·(grad + 5e-4·p); checked against the formula."""
    from salbench.plugins.registry import create
    torch.manual_seed(0)
    net = create("tiny-train-test").build_model().train()
    lr = 0.05
    opt = T.build_optimizer(net, lr=lr, momentum=0.9, weight_decay=5e-4)
    names = dict(net.named_parameters())
    bias_ids = {id(p) for p in opt.param_groups[0]["params"]}
    assert {n for n, p in names.items() if id(p) in bias_ids} == {n for n in names if n.endswith("bias")}
    assert opt.param_groups[0]["weight_decay"] == 0.0 and opt.param_groups[1]["weight_decay"] == 5e-4
    assert opt.param_groups[0]["momentum"] == opt.param_groups[1]["momentum"] == 0.9
    T.set_poly_lr(opt, 0, 100)
    x = torch.randn(2, 3, 16, 16)
    y = (torch.rand(2, 1, 16, 16) > 0.5).float()
    opt.zero_grad()
    net.loss(net(x), y).backward()
    before = {n: p.detach().clone() for n, p in names.items()}
    grads = {n: p.grad.detach().clone() for n, p in names.items()}
    opt.step()
    for n, p in names.items():
        if n.endswith("bias"):
            expect = before[n] - 2 * lr * grads[n]
        else:
            expect = before[n] - lr * (grads[n] + 5e-4 * before[n])
        if n in ("head1.bias", "head2.weight", "head2.bias", "backbone.0.weight"):
            assert not torch.equal(p.detach(), before[n]), n  # (a conv bias before BN has no gradient)
        torch.testing.assert_close(p.detach(), expect, rtol=0, atol=1e-7)


def test_r3net_parameter_groups():
    """On the real R3Net (ResNet-18 backbone), the bias group is exactly the
    parameters named ``*.bias`` (R3Net's ``name[-4:] == 'bias'``)."""
    from salbench.plugins.registry import create
    net = create("r3net", backbone="resnet18").build_model()
    groups = T.param_groups(net, 1e-3, 5e-4)
    named = list(net.named_parameters())
    n_bias = sum(1 for n, _ in named if n[-4:] == "bias")
    assert n_bias > 0
    assert len(groups[0]["params"]) == n_bias
    assert len(groups[1]["params"]) == len(named) - n_bias
    assert groups[0]["lr"] == pytest.approx(2e-3) and groups[1]["lr"] == pytest.approx(1e-3)


# --------------------------------------------------------------------------
# augmentation and sample stream
# --------------------------------------------------------------------------

def _augment_arrays(pair, aug, seed):
    img, mask = D.load_pair(pair)
    img, mask = aug(img, mask, np.random.default_rng(seed))
    return np.asarray(img), np.asarray(mask)


def test_augmentation_joint_binary_deterministic(tmp_path):
    folder = make_pairs(tmp_path / "ds", n=1, size=(120, 90))
    pair = D.folder_pairs(folder)[0]
    aug = D.Augment(crop=64, flip=True, rotate=10.0)
    outs = [_augment_arrays(pair, aug, s) for s in range(12)]
    flips = 0
    for img, mask in outs:
        assert img.shape == (64, 64, 3) and mask.shape == (64, 64)
        assert set(np.unique(mask)) <= {0, 255}  # nearest resampling keeps it binary
        # joint geometry: the mask covers the red pixels and nothing else
        red = (img[..., 0].astype(int) > 128) & (img[..., 2].astype(int) < 128)
        agree = np.mean(red == (mask == 255))
        assert agree > 0.95, agree
    # deterministic under the seed, different across seeds
    a1, m1 = _augment_arrays(pair, aug, 3)
    a2, m2 = _augment_arrays(pair, aug, 3)
    assert np.array_equal(a1, a2) and np.array_equal(m1, m2)
    assert len({outs[i][0].tobytes() for i in range(12)}) == 12
    # a flip is a flip: with rotate 0 and a crop of the full width, flipped
    # outputs mirror the unflipped one
    aug0 = D.Augment(crop=90, flip=True, rotate=0.0)
    small = make_pairs(tmp_path / "sq", n=1, size=(90, 90), seed=5)
    p2 = D.folder_pairs(small)[0]
    base_img, base_mask = D.load_pair(p2)
    base_mask = np.asarray(base_mask)
    for s in range(8):
        _, m = _augment_arrays(p2, aug0, s)
        if np.array_equal(m, base_mask[:, ::-1]) and not np.array_equal(m, base_mask):
            flips += 1
        else:
            assert np.array_equal(m, base_mask)
    assert 0 < flips < 8


def test_augmentation_resizes_small_images_and_binarises_grey_gt(tmp_path):
    folder = make_pairs(tmp_path / "ds", n=1, size=(50, 40), grey_gt=True)
    pair = D.folder_pairs(folder)[0]
    img, mask = D.load_pair(pair)
    assert set(np.unique(np.asarray(mask))) == {0, 255}  # 200 >= 128 -> foreground
    img, mask = D.Augment(crop=64, rotate=0.0)(img, mask, np.random.default_rng(0))
    assert img.size == (64, 64) and mask.size == (64, 64)
    x, y = D.to_tensors(img, mask)
    assert x.shape == (3, 64, 64) and y.shape == (1, 64, 64)
    assert set(torch.unique(y).tolist()) == {0.0, 1.0}
    # ImageNet normalisation: the blue background's blue channel is high, red low
    assert float(x[2, 0, 0]) > 1.0 and float(x[0, 0, 0]) < -1.0
    # grey level just below the threshold is background
    g = np.full((40, 50), 127, np.uint8)
    g[:10] = 128
    Image.fromarray(g).save(pair.gt)
    _, m = D.load_pair(pair)
    assert np.asarray(m)[:10].min() == 255 and np.asarray(m)[10:].max() == 0


def test_stream_is_deterministic_and_sharded(tmp_path):
    folder = make_pairs(tmp_path / "ds", n=5)
    pairs = D.folder_pairs(folder)
    aug = D.Augment(crop=32)
    a, b = D.StreamDataset(pairs, aug, 7), D.StreamDataset(pairs, aug, 7)
    # every epoch is a permutation; epochs differ
    epochs = [[a.index_of(p) for p in range(5 * e, 5 * e + 5)] for e in range(4)]
    assert all(sorted(e) == list(range(5)) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1
    for p in (0, 3, 9, 12):  # a fresh instance (another worker or process) agrees
        xa, ya = a[p]
        xb, yb = b[p]
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    # ranks split each global batch into contiguous, disjoint shares
    full = list(D.ShardedBatchSampler(6, 2, 4))
    r0 = list(D.ShardedBatchSampler(6, 2, 4, rank=0, world=2))
    r1 = list(D.ShardedBatchSampler(6, 2, 4, rank=1, world=2))
    assert full == [list(range(12, 18)), list(range(18, 24))]
    assert [x + y for x, y in zip(r0, r1)] == full
    with pytest.raises(SalbenchError, match="divisible"):
        D.ShardedBatchSampler(5, 0, 1, rank=0, world=2)


def test_bad_training_files_are_named(tmp_path):
    folder = make_pairs(tmp_path / "ds", n=3)
    pairs = D.folder_pairs(folder)
    D.check_pairs(pairs)
    (folder / "images" / "im01.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(InputError, match="im01.jpg"):
        D.check_pairs(pairs)
    folder2 = make_pairs(tmp_path / "ds2", n=2)
    Image.new("L", (10, 10)).save(folder2 / "gt" / "im00.png")
    with pytest.raises(InputError, match=r"im00.png.*10x10"):
        D.check_pairs(D.folder_pairs(folder2))
    (folder2 / "gt" / "im01.png").unlink()
    with pytest.raises(InputError, match="im01.jpg"):
        D.folder_pairs(folder2)


# --------------------------------------------------------------------------
# trainer: exact resume, config checks, checkpoint format
# --------------------------------------------------------------------------

def _train(folder, out, **kw):
    kw.setdefault("iterations", 6)
    t = T.Trainer("tiny-train-test", str(folder), out=out, device="cpu", log_every=1,
                  save_every=100, progress=False, **kw)
    return t, t.run()


def _log(out, folder):
    lines = (Path(out) / "tiny-train-test" / folder.name / "train_log.jsonl").read_text().splitlines()
    return [json.loads(s) for s in lines]


def test_resume_is_exact(tiny_plugin, tmp_path):
    folder = make_pairs(tmp_path / "ds", n=7)
    # straight: 6 iterations (7 images, batch 4: batches straddle epochs)
    _, s_straight = _train(folder, tmp_path / "A")
    # interrupted: 3 iterations, stop, then resume (a fresh Trainer, default resume)
    _, s_first = _train(folder, tmp_path / "B", stop_after=3)
    assert s_first["iteration"] == 3 and not s_first["done"]
    ck_mid = T.load_checkpoint(tmp_path / "B" / "tiny-train-test" / "ds" / "last.pt")
    assert ck_mid["iteration"] == 3 and not (tmp_path / "B" / "tiny-train-test" / "ds" / "final.pt").exists()
    # scramble the global RNGs: a resume must restore them
    torch.manual_seed(1234)
    np.random.seed(99)
    _, s_resumed = _train(folder, tmp_path / "B")
    assert s_resumed["done"] and s_resumed["iteration"] == 6
    a = T.load_checkpoint(tmp_path / "A" / "tiny-train-test" / "ds" / "final.pt")
    b = T.load_checkpoint(tmp_path / "B" / "tiny-train-test" / "ds" / "final.pt")
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert torch.equal(sa["momentum_buffer"], sb["momentum_buffer"])
    la, lb = _log(tmp_path / "A", folder), _log(tmp_path / "B", folder)
    assert [r["iteration"] for r in lb] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in la] == [r["loss"] for r in lb]
    assert [r["lr"] for r in la] == [r["lr"] for r in lb]
    # the schedule reached the poly values and the log has what the report plots
    assert la[0]["lr"] == pytest.approx(1e-3) and la[0]["lr_bias"] == pytest.approx(2e-3)
    assert la[5]["lr"] == pytest.approx(1e-3 * (1 / 6) ** 0.9)
    assert len(la[0]["losses"]) == 2 and la[0]["images_per_s"] > 0 and "wall_s" in la[0]
    # the checkpoint format of the contract, loadable with weights_only=True
    raw = torch.load(tmp_path / "A" / "tiny-train-test" / "ds" / "final.pt", weights_only=True)
    assert raw["format"] == "salbench-checkpoint-v1" and raw["method"] == "tiny-train-test"
    assert raw["options"] == {"width": 6} and raw["dataset"] == "ds" and raw["iteration"] == 6
    assert set(raw["rng"]) >= {"torch", "numpy", "python"}
    assert raw["config"]["crop"] == 48 and raw["config"]["batch_size"] == 4  # method's train_defaults
    # running again when complete does nothing
    _, again = _train(folder, tmp_path / "A")
    assert again["note"] == "already complete"


def test_resume_refuses_other_config_and_restart_works(tiny_plugin, tmp_path):
    folder = make_pairs(tmp_path / "ds", n=4)
    _train(folder, tmp_path / "C", stop_after=1, iterations=3)
    with pytest.raises(SalbenchError, match=r"lr: checkpoint 0.001 vs now 0.01.*--restart"):
        _train(folder, tmp_path / "C", iterations=3, lr=0.01)
    _, s = _train(folder, tmp_path / "C", iterations=3, lr=0.01, resume="restart")
    assert s["done"] and s["iteration"] == 3


def test_cli_errors_are_clear(tiny_plugin, tmp_path):
    from salbench.cli import main
    folder = make_pairs(tmp_path / "ds", n=2)
    rc = main(["train", "--plugin", str(tiny_plugin), "--method", "tiny-train-test",
               "--dataset", str(folder), "--out", str(tmp_path / "o"), "--option", "nope=1",
               "--no-progress"])
    assert rc == 2
    rc = main(["train", "--method", "tiny-train-test", "--dataset", str(tmp_path / "missing"),
               "--out", str(tmp_path / "o"), "--no-progress"])
    assert rc == 2
    rc = main(["train", "--method", "tiny-train-test", "--dataset", str(folder), "--out",
               str(tmp_path / "o"), "--resume", str(tmp_path / "nothing.pt"), "--no-progress"])
    assert rc == 2


# --------------------------------------------------------------------------
# end to end through the real CLI, and the GPU script's smoke mode
# --------------------------------------------------------------------------

#: one OpenMP thread in the CLI subprocesses
OMP1 = {"OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_cli_train_then_run_then_report(tmp_path):
    """``salbench train`` R3Net (ResNet-18) on the demo set for 3 iterations,
    then ``salbench run`` with the checkpoint (8 demo test images), then
    ``salbench report``."""
    env = {"SALBENCH_DATA": str(tmp_path / "data"), "SALBENCH_CHECKPOINTS": str(tmp_path / "ck")}
    r = cli("train", "--method", "r3net", "--dataset", "demo-train", "--backbone", "resnet18",
            "--crop", "96", "--batch-size", "2", "--iterations", "3", "--log-every", "1",
            "--no-progress", cwd=tmp_path, extra_env={**OMP1, **env}, timeout=600)
    assert r.returncode == 0, r.stderr
    ck = tmp_path / "ck" / "r3net" / "demo-train" / "final.pt"
    assert ck.is_file()
    raw = torch.load(ck, weights_only=True)
    assert raw["options"]["backbone"] == "resnet18" and raw["iteration"] == 3
    log = [json.loads(s) for s in (ck.parent / "train_log.jsonl").read_text().splitlines()]
    assert [x["iteration"] for x in log] == [1, 2, 3] and len(log[0]["losses"]) >= 2
    assert all(np.isfinite(x["loss"]) for x in log)
    try:
        import salbench.run.runner as runner  # noqa: F401
        import salbench.report.tables  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"salbench run / report not available yet ({exc})")
    # the demo test split, cut to 8 pairs to keep the CPU test short
    import shutil
    demo_test = tmp_path / "data" / "demo" / "test"
    sub = tmp_path / "demo8"
    for kind in ("images", "gt"):
        (sub / kind).mkdir(parents=True)
        for f in sorted((demo_test / kind).iterdir())[:8]:
            shutil.copy(f, sub / kind / f.name)
    r = cli("run", "--method", "r3net", "--datasets", sub, "--no-crf", "--weights", ck,
            "--results", tmp_path / "results", "-q", cwd=tmp_path, extra_env={**OMP1, **env}, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli("report", "--results", tmp_path / "results", cwd=tmp_path, extra_env={**OMP1, **env}, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "r3net" in (r.stdout + "".join(p.read_text() for p in (tmp_path / "results").rglob("*.md")))


@pytest.mark.slow
def test_gpu_check_smoke_runs_on_cpu(tmp_path):
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--smoke"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["smoke"] is True
    for key in ("train_fp32", "train_bf16", "inference_bf16"):
        assert out[key]["iterations_per_s" if key.startswith("train") else "images_per_s"] > 0
    assert out["trainer_e2e"]["iterations"] == 2, out["trainer_e2e"]
    assert out["loader"]["images_per_s"] > 0, out["loader"]
    assert "targets" in out


# --------------------------------------------------------------------------
# typed --option, the authors' BatchNorm init, precision recording
# --------------------------------------------------------------------------

class _BNDecoderNet(torch.nn.Module):
    """conv-BN backbone, a conv-BN decoder and one logit output."""

    def __init__(self):
        super().__init__()
        nn_ = torch.nn
        self.backbone = nn_.Sequential(nn_.Conv2d(3, 4, 3, padding=1), nn_.BatchNorm2d(4), nn_.ReLU())
        self.decoder = nn_.Sequential(nn_.Conv2d(4, 5, 3, padding=1), nn_.BatchNorm2d(5), nn_.ReLU(),
                                      nn_.Conv2d(5, 6, 1), nn_.BatchNorm2d(6), nn_.ReLU(),
                                      nn_.Conv2d(6, 1, 1))

    def forward(self, x):
        return [self.decoder(self.backbone(x))]

    def loss(self, outputs, target):
        return sum(torch.nn.functional.binary_cross_entropy_with_logits(o, target) for o in outputs)

    def final(self, outputs):
        return torch.sigmoid(outputs[-1])


@pytest.fixture(scope="module")
def bn_method() -> str:
    """A learned method declaring ``bn_init`` as ``LearnedMethod`` does."""
    from salbench.plugins.options import Option
    from salbench.plugins.registry import Method, register_method

    class BNInitTest(Method):
        name = "tiny-bn-init-test"
        kind = "learned"
        OPTIONS = (Option("bn_init", str, "uniform", "decoder BatchNorm init", choices=("uniform", "ones")),
                   Option("amp", bool, False, "bf16 inference"))
        train_defaults = {"crop": 32, "batch_size": 2}

        def build_model(self):
            return _BNDecoderNet()

    register_method(BNInitTest, replace=True)
    return "tiny-bn-init-test"


def _decoder_and_backbone_bn(sd):
    dec = [sd[k] for k in ("decoder.1.weight", "decoder.4.weight")]
    return dec, sd["backbone.1.weight"]


def test_bn_init_uniform_in_decoder_only_and_ones(bn_method, tmp_path):
    folder = make_pairs(tmp_path / "ds", n=2)
    kw = dict(out=tmp_path / "o", device="cpu", progress=False, stop_after=0, iterations=2)
    T.Trainer(bn_method, str(folder), **kw).run()
    ck = T.load_checkpoint(tmp_path / "o" / bn_method / "ds" / "last.pt")
    dec, bb = _decoder_and_backbone_bn(ck["model"])
    for w in dec:  # U(0, 1): in [0, 1), not the PyTorch >= 1.0 ones
        assert float(w.min()) >= 0.0 and float(w.max()) < 1.0 and not torch.all(w == 1)
    assert ck["model"]["decoder.1.bias"].abs().max() == 0
    assert torch.all(bb == 1)  # the backbone's BatchNorm is left as built
    assert ck["options"]["bn_init"] == "uniform" and ck["config"]["bn_init"] == "uniform"
    assert ck["bn_init"] == "uniform"
    # the same seed draws the same scales (reproducible); another seed others
    T.Trainer(bn_method, str(folder), **{**kw, "out": tmp_path / "o2"}).run()
    T.Trainer(bn_method, str(folder), **{**kw, "out": tmp_path / "o3"}, seed=7).run()
    again = T.load_checkpoint(tmp_path / "o2" / bn_method / "ds" / "last.pt")["model"]
    other = T.load_checkpoint(tmp_path / "o3" / bn_method / "ds" / "last.pt")["model"]
    assert torch.equal(again["decoder.1.weight"], dec[0])
    assert not torch.equal(other["decoder.1.weight"], dec[0])
    # bn_init=ones (given as a string, as on the command line): today's init
    T.Trainer(bn_method, str(folder), **{**kw, "out": tmp_path / "o4"}, options={"bn_init": "ones"}).run()
    ck1 = T.load_checkpoint(tmp_path / "o4" / bn_method / "ds" / "last.pt")
    dec1, bb1 = _decoder_and_backbone_bn(ck1["model"])
    assert all(torch.all(w == 1) for w in dec1) and torch.all(bb1 == 1)
    assert ck1["options"]["bn_init"] == "ones" and ck1["config"]["bn_init"] == "ones"
    # a bad value is an OptionError naming the choices
    from salbench.plugins.options import OptionError
    with pytest.raises(OptionError, match=r"bn_init=zeros.*uniform, ones"):
        T.Trainer(bn_method, str(folder), **kw, options={"bn_init": "zeros"})


def test_reinit_decoder_bn_function():
    net = _BNDecoderNet()
    assert T.reinit_decoder_bn(net, "ones") == 0
    assert torch.all(net.decoder[1].weight == 1)
    assert T.reinit_decoder_bn(net, "uniform") == 2
    assert float(net.decoder[1].weight.detach().max()) < 1 and torch.all(net.backbone[1].weight == 1)
    with pytest.raises(SalbenchError, match="bn_init"):
        T.reinit_decoder_bn(net, "zeros")


@pytest.mark.slow
def test_train_option_is_typed_dss_without_aspp(tmp_path, capsys):
    """``salbench train --method dss+ --option aspp=false`` builds and saves a
    DSS+ without ASPP (the string ``false`` is the boolean False); the decoder
    BatchNorms carry the authors' U(0, 1) init, the backbone's do not."""
    from salbench.cli import main
    folder = make_pairs(tmp_path / "ds", n=2)
    base = ["train", "--method", "dss+", "--backbone", "resnet18", "--dataset", str(folder),
            "--crop", "32", "--batch-size", "2", "--iterations", "2", "--stop-after", "0",
            "--no-progress", "--device", "cpu"]
    assert main(base + ["--out", str(tmp_path / "a"), "--option", "aspp=false"]) == 0
    assert main(base + ["--out", str(tmp_path / "b")]) == 0
    off = T.load_checkpoint(tmp_path / "a" / "dss+" / "ds" / "last.pt")
    on = T.load_checkpoint(tmp_path / "b" / "dss+" / "ds" / "last.pt")
    assert off["options"]["aspp"] is False and on["options"]["aspp"] is True
    assert off["options"]["backbone"] == "resnet18"
    assert not any(k.startswith("context.") for k in off["model"])
    assert any(k.startswith("context.") for k in on["model"])
    # decoder BN scales in [0, 1) (bn_init uniform, the default); backbone BN untouched
    dec = [v for k, v in off["model"].items()
           if k.startswith("sides.") and k.endswith(".1.weight") and v.ndim == 1]
    assert dec and all(float(v.min()) >= 0 and float(v.max()) < 1 for v in dec)
    assert not all(torch.all(v == 1) for v in dec)
    bb = [v for k, v in off["model"].items() if k.startswith("backbone.") and ".bn" in k and k.endswith("weight")]
    assert bb and all(torch.all(v == 1) for v in bb)
    assert off["config"]["bn_init"] == "uniform"
    # CPU default: fp32, recorded as the faithful path
    assert off["amp"] == "none" and off["faithful_fp32"] is True and off["config"]["faithful_fp32"] is True
    out = capsys.readouterr().out
    assert "precision fp32 (faithful" in out
    # --option bn_init=ones (declared by LearnedMethod): PyTorch >= 1.0's init
    from salbench.plugins.registry import get_spec
    if "bn_init" not in {o.name for o in get_spec("dss+").cls.options_schema()}:
        pytest.skip("LearnedMethod does not declare bn_init yet")
    assert off["options"]["bn_init"] == "uniform"
    assert main(base + ["--out", str(tmp_path / "c"), "--option", "bn_init=ones", "aspp=no"]) == 0
    ones = T.load_checkpoint(tmp_path / "c" / "dss+" / "ds" / "last.pt")
    assert ones["options"]["bn_init"] == "ones" and ones["config"]["bn_init"] == "ones"
    dec1 = [v for k, v in ones["model"].items()
            if k.startswith("sides.") and k.endswith(".1.weight") and v.ndim == 1]
    assert dec1 and all(torch.all(v == 1) for v in dec1)


@pytest.mark.slow
def test_train_bad_option_is_one_line_exit_2(tmp_path):
    """A bad value / an unknown key: exit 2, one line naming the valid options,
    no traceback (through the real CLI in a subprocess)."""
    folder = make_pairs(tmp_path / "ds", n=2)
    r = cli("train", "--method", "dss+", "--dataset", folder, "--out", tmp_path / "o",
            "--option", "aspp=maybe", "--no-progress", "--device", "cpu", cwd=tmp_path, extra_env=OMP1, timeout=600)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "aspp=maybe" in r.stderr and "bool" in r.stderr
    from salbench.cli import main
    import contextlib
    import io
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(["train", "--method", "dss+", "--dataset", str(folder), "--out", str(tmp_path / "o"),
                   "--option", "asp=false", "--no-progress", "--device", "cpu"])
    assert rc == 2
    msg = err.getvalue().strip()
    assert len(msg.splitlines()) == 1 and "'asp'" in msg and "valid options" in msg
    assert "aspp (bool" in msg and "backbone (str" in msg
    with contextlib.redirect_stderr(io.StringIO()) as e2:
        rc = main(["train", "--method", "dss+", "--dataset", str(folder), "--out", str(tmp_path / "o"),
                   "--backbone", "7", "--option", "aspp", "--no-progress"])
    assert rc == 2 and "key=value" in e2.getvalue()


def test_resume_with_string_or_typed_options(tiny_plugin, tmp_path, capsys):
    """Options given as strings (command line) and as typed values (API) are
    the same trajectory: a resume accepts either."""
    folder = make_pairs(tmp_path / "ds", n=4)
    _, s1 = _train(folder, tmp_path / "R", stop_after=1, iterations=3, options={"width": "6"})
    assert s1["iteration"] == 1
    ck = T.load_checkpoint(tmp_path / "R" / "tiny-train-test" / "ds" / "last.pt")
    assert ck["options"] == {"width": 6} and ck["config"]["options"] == {"width": 6}
    _, s2 = _train(folder, tmp_path / "R", stop_after=2, iterations=3, options={"width": 6})
    assert s2["iteration"] == 2
    from salbench.cli import main
    rc = main(["train", "--plugin", str(tiny_plugin), "--method", "tiny-train-test", "--dataset", str(folder),
               "--out", str(tmp_path / "R"), "--iterations", "3", "--option", "width=6", "--no-progress"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "done at iteration 3/3" in out and "precision fp32" in out
    # another value is another trajectory
    with pytest.raises(SalbenchError, match="options"):
        _train(folder, tmp_path / "R", iterations=3, options={"width": 5}, stop_after=3)


def test_bf16_is_recorded_as_not_faithful(tiny_plugin, tmp_path, capsys):
    folder = make_pairs(tmp_path / "ds", n=2)
    t, s = _train(folder, tmp_path / "B", iterations=1, amp="bf16")
    assert s["amp"] == "bf16" and s["faithful_fp32"] is False and "--amp none" in s["precision"]
    ck = T.load_checkpoint(tmp_path / "B" / "tiny-train-test" / "ds" / "final.pt")
    assert ck["amp"] == "bf16" and ck["faithful_fp32"] is False
    assert ck["config"]["precision"] == "bf16 autocast" and ck["config"]["faithful_fp32"] is False
    rec = _log(tmp_path / "B", folder)[0]
    assert rec["amp"] == "bf16" and rec["faithful_fp32"] is False
    # fp32 (the CPU default) says faithful in the log too
    _train(folder, tmp_path / "F", iterations=1)
    rec = _log(tmp_path / "F", folder)[0]
    assert rec["amp"] == "none" and rec["faithful_fp32"] is True
