"""Prepared GPU check for a future session on one H100 (≤ 8 minutes in all).

Measures, for R3Net with its ResNeXt-101 (32×4d) backbone:

* training throughput at the paper's batch 14, 300×300 crops, one SGD step of
  the real trainer (``salbench.nn.train``: two parameter groups, poly lr,
  BCE over the seven outputs), in fp32 (TF32 allowed, as PyTorch's cuDNN
  default) and in bf16 autocast, both channels-last; peak GPU memory of each;
  the 6000-iteration schedule time this implies;
* the data pipeline's throughput (the real augmentation + DataLoader with
  workers on the generated demo training set) - the schedule needs
  ``14 × iterations/s`` images/s from it;
* model-only inference throughput at 300×300, bf16, channels-last, batch 64;
* the whole ``salbench train`` path (``Trainer``: workers, pinned memory,
  autocast, logging) for 40 iterations on the demo training set.

Prints one JSON object (last line of stdout). Targets (issue 4): the
6000-iteration schedule under 5 minutes on one H100 (i.e. ≥ 20 iterations/s),
inference ≥ 1000 images/s in bf16; ``meets`` says which are met.

Steps use synthetic tensors on the device so the model's speed is measured on
its own; the pipeline is measured separately (a schedule runs at the slower of
the two). ``--smoke`` runs tiny sizes for 2 iterations on whatever device there
is (the CPU test in ``tests/test_train.py``).

Run:  python benchmarks/gpu_check.py            (H100, ~3-5 minutes)
      python benchmarks/gpu_check.py --smoke    (CPU, seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_SCHEDULE_S = 300.0  # 6000 iterations in < 5 minutes
TARGET_INFER_IMG_S = 1000.0  # bf16 inference at 300x300


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _peak_reset(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)


def _peak_gib(dev: torch.device) -> float | None:
    if dev.type == "cuda":
        return round(torch.cuda.max_memory_allocated(dev) / 2**30, 2)
    return None


def build(backbone: str, dev: torch.device, channels_last: bool):
    from salbench.plugins.registry import create
    torch.manual_seed(2018)
    net = create("r3net", backbone=backbone).build_model().to(dev)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net


def bench_train(backbone: str, dev: torch.device, batch: int, size: int, warmup: int, iters: int,
                amp: str, iterations_schedule: int) -> dict:
    from salbench.nn.train import build_optimizer, set_poly_lr
    _peak_reset(dev)
    net = build(backbone, dev, channels_last=True).train()
    opt = build_optimizer(net)
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=g).to(dev).contiguous(memory_format=torch.channels_last)
    y = (torch.rand(batch, 1, size, size, generator=g) > 0.5).float().to(dev)
    ctx = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if amp == "bf16" else None

    def step(i: int) -> torch.Tensor:
        set_poly_lr(opt, i, iterations_schedule)
        opt.zero_grad(set_to_none=True)
        if ctx is not None:
            with ctx():
                outs = net(x)
        else:
            outs = net(x)
        loss = net.loss([o.float() for o in outs], y)
        loss.backward()
        opt.step()
        return loss.detach()

    for i in range(warmup):
        step(i)
    _sync(dev)
    t = time.perf_counter()
    for i in range(iters):
        loss = step(warmup + i)
    _sync(dev)
    dt = time.perf_counter() - t
    its = iters / dt
    res = {"amp": amp, "channels_last": True, "batch": batch, "size": size, "iterations_timed": iters,
           "iterations_per_s": round(its, 3), "images_per_s": round(its * batch, 1),
           "schedule_s": round(iterations_schedule / its, 1), "peak_mem_gib": _peak_gib(dev),
           "final_loss": round(float(loss), 4)}
    del net, opt, x, y
    return res


@torch.inference_mode()
def bench_infer(backbone: str, dev: torch.device, batch: int, size: int, warmup: int, iters: int) -> dict:
    _peak_reset(dev)
    net = build(backbone, dev, channels_last=True).eval()
    x = torch.randn(batch, 3, size, size).to(dev).contiguous(memory_format=torch.channels_last)
    use_amp = dev.type == "cuda"
    for _ in range(warmup):
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
            net.final(net(x))
    _sync(dev)
    t = time.perf_counter()
    for _ in range(iters):
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
            p = net.final(net(x))
    _sync(dev)
    dt = time.perf_counter() - t
    res = {"amp": "bf16" if use_amp else "none (CPU)", "channels_last": True, "batch": batch, "size": size,
           "images_per_s": round(iters * batch / dt, 1), "peak_mem_gib": _peak_gib(dev),
           "output_shape": list(p.shape)}
    del net, x
    return res


def _tiny_folder(root: Path, n: int = 4) -> Path:
    """A few real JPEG/PNG pairs (smoke mode: no demo-set generation)."""
    import numpy as np
    from PIL import Image
    (root / "images").mkdir(parents=True)
    (root / "gt").mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(root / "images" / f"{i}.jpg")
        Image.fromarray((rng.random((60, 80)) > 0.5).astype(np.uint8) * 255).save(root / "gt" / f"{i}.png")
    return root


def bench_loader(crop: int, batch: int, workers: int, iters: int, smoke: bool = False) -> dict:
    """The real pipeline (augmentation + DataLoader) on the generated demo set."""
    from salbench.nn.data import Augment, make_loader, resolve_training_set
    with tempfile.TemporaryDirectory() as tmp:
        if smoke:
            _, pairs = resolve_training_set(str(_tiny_folder(Path(tmp) / "tiny")))
        else:
            _, pairs = resolve_training_set("demo-train", os.environ.get("SALBENCH_DATA", tmp))
        loader = make_loader(pairs, Augment(crop), 2018, batch, 0, iters + 2, workers=workers,
                             pin_memory=torch.cuda.is_available())
        it = iter(loader)
        next(it)
        next(it)  # workers started
        t = time.perf_counter()
        n = 0
        for xb, _ in it:
            n += xb.shape[0]
        dt = time.perf_counter() - t
    return {"workers": workers, "crop": crop, "batch": batch, "images_per_s": round(n / dt, 1),
            "note": "demo-train images are 200x150..320x240 (smaller than MSRA10K's ~400x300)"}


def bench_trainer(backbone: str, dev: torch.device, batch: int, crop: int, workers: int, iters: int,
                  smoke: bool) -> dict:
    """The real ``salbench train`` path (Trainer: DataLoader workers, pinned
    memory, bf16 autocast and channels-last on CUDA, poly lr, logging,
    checkpointing) on the demo training set; images/s of the last log window."""
    from salbench.nn.train import Trainer
    with tempfile.TemporaryDirectory() as tmp:
        data = str(_tiny_folder(Path(tmp) / "tiny")) if smoke else "demo-train"
        t = Trainer("r3net", data, data_root=os.environ.get("SALBENCH_DATA", tmp), out=Path(tmp) / "ck",
                    device=str(dev), workers=workers, save_every=10**9, log_every=max(1, iters // 2),
                    options={"backbone": backbone}, stop_after=iters, progress=False,
                    batch_size=batch, crop=crop, iterations=6000)
        t0 = time.perf_counter()
        s = t.run()
        wall = time.perf_counter() - t0
        log = [json.loads(x) for x in Path(s["log"]).read_text().splitlines()]
    last = log[-1]
    return {"amp": t.amp, "channels_last": t.channels_last, "workers": workers, "batch": batch, "crop": crop,
            "iterations": s["iteration"], "images_per_s_last_window": round(last["images_per_s"], 1),
            "iterations_per_s_last_window": round(last["images_per_s"] / batch, 3),
            "schedule_s": round(6000 * batch / last["images_per_s"], 1), "wall_s_incl_setup": round(wall, 1),
            "note": "demo-train images are smaller than the crop, so every sample takes the resize path"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes, 2 iterations, any device")
    p.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    p.add_argument("--backbone", default=None, help="default resnext101_32x4d (smoke: resnet18)")
    p.add_argument("--iters", type=int, default=None, help="timed training iterations (default 40)")
    p.add_argument("--no-loader", action="store_true", help="skip the data-pipeline measurement")
    a = p.parse_args(argv)

    dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if a.smoke:
        backbone, batch, size, ib, warm, iters, iiters = a.backbone or "resnet18", 2, 32, 2, 1, 2, 2
        workers, liters = 0, 2
    else:
        backbone, batch, size, ib, warm, iters, iiters = a.backbone or "resnext101_32x4d", 14, 300, 64, 5, a.iters or 40, 20
        workers, liters = min(8, os.cpu_count() or 1), 60
    t0 = time.perf_counter()
    out: dict = {"smoke": a.smoke, "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu",
                 "torch": torch.__version__, "backbone": backbone,
                 "tf32": bool(torch.backends.cudnn.allow_tf32) if dev.type == "cuda" else None}
    out["train_fp32"] = bench_train(backbone, dev, batch, size, warm, iters, "none", 6000)
    out["train_bf16"] = bench_train(backbone, dev, batch, size, warm, iters,
                                    "bf16" if dev.type == "cuda" or a.smoke else "none", 6000)
    out["inference_bf16"] = bench_infer(backbone, dev, ib, size, warm, iiters)
    if not a.no_loader:
        try:
            out["loader"] = bench_loader(size, batch, workers, liters, smoke=a.smoke)
        except Exception as exc:  # the pipeline figure is a bonus; never lose the others
            out["loader"] = {"error": f"{type(exc).__name__}: {exc}"}
    try:
        out["trainer_e2e"] = bench_trainer(backbone, dev, batch, size, workers, 2 if a.smoke else 40, a.smoke)
    except Exception as exc:  # never lose the figures above
        out["trainer_e2e"] = {"error": f"{type(exc).__name__}: {exc}"}
    best = max(out["train_fp32"]["iterations_per_s"], out["train_bf16"]["iterations_per_s"])
    out["targets"] = {"schedule_6000_s_max": TARGET_SCHEDULE_S, "inference_images_per_s_min": TARGET_INFER_IMG_S}
    out["meets"] = {"schedule_bf16": out["train_bf16"]["schedule_s"] < TARGET_SCHEDULE_S,
                    "schedule_best": 6000 / best < TARGET_SCHEDULE_S,
                    "inference_bf16": out["inference_bf16"]["images_per_s"] >= TARGET_INFER_IMG_S}
    if "loader" in out and "images_per_s" in out["loader"]:
        out["meets"]["loader_feeds_bf16"] = out["loader"]["images_per_s"] >= out["train_bf16"]["images_per_s"]
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
