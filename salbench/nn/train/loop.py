"""``salbench train``: train a learned method (R3Net, the "+" baselines).

The defaults are those of R3Net's ``train.py`` (github.com/zijundeng/R3Net) and
paper (Deng et al., IJCAI 2018, Sec. 4.1):

* SGD, momentum 0.9, two parameter groups as in the reference code: parameters
  whose name ends in ``bias`` get twice the learning rate and no weight decay;
  everything else (conv / BN weights) gets the learning rate and weight decay
  5e-4;
* learning rate 1e-3 with the "poly" policy,
  ``lr_g(it) = lr_g · (1 - it / max_it) ** 0.9`` for the 0-based iteration
  ``it`` about to run, applied to each group (the bias group keeps its ×2);
* 6000 iterations of batch 14, random 300×300 crops, horizontal flips,
  rotations within ±10°, ImageNet normalisation (see :mod:`salbench.nn.data`);
* the loss is the method's own ``SODNet.loss`` (R3Net: the sum of the binary
  cross-entropies of its seven outputs);
* seed 2018 (the reference script's ``torch.manual_seed``);
* BatchNorm init of PyTorch 0.4.0, which the authors used: in the decoder
  (every module not under ``backbone``) BatchNorm scales are drawn from
  U(0, 1) with zero bias (PyTorch >= 1.0 sets them to 1), after the network is
  built and before the backbone's ImageNet weights are loaded, from the seeded
  RNG. Method option ``bn_init="ones"`` keeps today's init;
* fp32 arithmetic: ``--amp none``. On CUDA the default is bf16 autocast with
  channels-last (speed); the checkpoint (``amp``, ``faithful_fp32``), every
  log record and the final summary line say which was used.

Beyond the reference script: exact resume (model, optimiser, iteration, RNG
states; the sample order is a pure function of seed and iteration),
bf16 autocast and channels-last on CUDA, DistributedDataParallel through
``torchrun`` (the global batch is split evenly over the processes, so one
process and several see the same samples), and a JSON-lines log.

Everything here is method-agnostic: a method only has to provide
``build_model()`` returning a module with ``forward(x) -> list[logits]`` and
``loss(outputs, target) -> Tensor`` (see ``salbench.nn.learned``), and may
override trainer defaults through a ``train_defaults`` class attribute.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from salbench.errors import SalbenchError
from salbench.nn.weights import load_error, parse_device
from salbench.plugins.options import OptionError, parse_cli, validate

CHECKPOINT_FORMAT = "salbench-checkpoint-v1"

#: trainer defaults (R3Net's train.py); a method's ``train_defaults`` and then
#: the command line override them.
DEFAULTS: dict[str, Any] = {
    "iterations": 6000,
    "batch_size": 14,
    "lr": 1e-3,
    "lr_power": 0.9,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "bias_lr_mult": 2.0,
    "crop": 300,
    "resize": 0,
    "flip": True,
    "rotate": 10.0,
    "seed": 2018,
    "bn": "train",
}

#: configuration keys that define the training trajectory: resuming requires
#: them to match. Device, AMP, channels-last, workers, logging and the number
#: of processes are execution details and may change between sessions.
TRAJECTORY_KEYS = ("method", "options", "dataset", "iterations", "batch_size", "lr",
                   "lr_power", "momentum", "weight_decay", "bias_lr_mult", "crop", "resize", "flip",
                   "rotate", "seed", "bn", "backbone_weights", "bn_init")

#: ``bn_init`` values: ``"uniform"`` re-draws the scale of every decoder BatchNorm
#: from U(0, 1) (PyTorch 0.4.0's BatchNorm init, which the authors trained
#: with); ``"ones"`` keeps PyTorch >= 1.0's init (scale 1).
BN_INITS = ("uniform", "ones")


def precision_note(amp: str) -> str:
    """One phrase saying which arithmetic the training ran in."""
    if amp == "none":
        return "fp32 (faithful: the authors trained in fp32)"
    return (f"{amp} autocast (fast; not the authors' fp32: use --amp none for the faithful path)")


def reinit_decoder_bn(net: nn.Module, mode: str = "uniform") -> int:
    """PyTorch 0.4.0's BatchNorm init on the decoder: every BatchNorm *not*
    under ``net.backbone`` gets ``weight ~ U(0, 1)`` and ``bias = 0`` (drawn from
    torch's global RNG, which the trainer seeds). ``mode="ones"`` leaves the
    network as built. The backbone's BatchNorms are left alone: they receive
    ImageNet weights (or keep the builder's init). Returns how many BatchNorms
    were re-initialised."""
    if mode not in BN_INITS:
        raise SalbenchError(f"bn_init must be one of {', '.join(BN_INITS)}, not {mode!r}")
    if mode == "ones":
        return 0
    backbone = getattr(net, "backbone", None)
    skip = {id(m) for m in backbone.modules()} if isinstance(backbone, nn.Module) else set()
    n = 0
    with torch.no_grad():
        for m in net.modules():
            if id(m) in skip or not _is_bn(m) or not m.affine:
                continue
            nn.init.uniform_(m.weight)
            nn.init.zeros_(m.bias)
            n += 1
    return n


# --------------------------------------------------------------------------
# optimiser and schedule
# --------------------------------------------------------------------------

def param_groups(model: nn.Module, lr: float, weight_decay: float,
                 bias_lr_mult: float = 2.0) -> list[dict[str, Any]]:
    """R3Net's two SGD groups: names ending in ``bias`` (lr × ``bias_lr_mult``,
    no weight decay), then all other trainable parameters (lr, weight decay).
    Each group remembers its base learning rate in ``initial_lr``."""
    biases, others = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (biases if name.endswith("bias") else others).append(p)
    return [
        {"params": biases, "lr": lr * bias_lr_mult, "initial_lr": lr * bias_lr_mult,
         "weight_decay": 0.0, "name": "bias"},
        {"params": others, "lr": lr, "initial_lr": lr, "weight_decay": weight_decay,
         "name": "weight"},
    ]


def build_optimizer(model: nn.Module, lr: float = DEFAULTS["lr"],
                    momentum: float = DEFAULTS["momentum"],
                    weight_decay: float = DEFAULTS["weight_decay"],
                    bias_lr_mult: float = DEFAULTS["bias_lr_mult"]) -> torch.optim.SGD:
    return torch.optim.SGD(param_groups(model, lr, weight_decay, bias_lr_mult), lr=lr,
                           momentum=momentum)


def poly_factor(iteration: int, max_iter: int, power: float = DEFAULTS["lr_power"]) -> float:
    """``(1 - iteration / max_iter) ** power`` (R3Net's ``lr_decay``)."""
    if max_iter <= 0:
        raise ValueError("max_iter must be positive")
    return (1.0 - float(iteration) / max_iter) ** power


def set_poly_lr(optimizer: torch.optim.Optimizer, iteration: int, max_iter: int,
                power: float = DEFAULTS["lr_power"]) -> float:
    """Set every group's ``lr`` to ``initial_lr · poly_factor``; returns the factor."""
    f = poly_factor(iteration, max_iter, power)
    for g in optimizer.param_groups:
        g["lr"] = g["initial_lr"] * f
    return f


# --------------------------------------------------------------------------
# RNG state (stored as tensors / ints so weights_only loading works)
# --------------------------------------------------------------------------

def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    st: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]),
                  "cached_gaussian": float(np_state[4])},
        "python": {"version": int(py_state[0]), "state": [int(v) for v in py_state[1]],
                   "gauss_next": py_state[2]},
        "cuda": [],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        st["cuda"] = [s for s in torch.cuda.get_rng_state_all()]
    return st


def set_rng_state(st: dict[str, Any]) -> None:
    torch.set_rng_state(st["torch"].cpu() if isinstance(st["torch"], torch.Tensor) else st["torch"])
    n = st["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), int(n["pos"]),
                         int(n["has_gauss"]), float(n["cached_gaussian"])))
    p = st["python"]
    random.setstate((int(p["version"]), tuple(int(v) for v in p["state"]), p["gauss_next"]))
    if st.get("cuda") and torch.cuda.is_available():
        states = list(st["cuda"])[: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all([s.cpu() for s in states])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------
# checkpoints
# --------------------------------------------------------------------------

def checkpoint_root(out: str | Path | None = None) -> Path:
    """``--out``, else ``$SALBENCH_CHECKPOINTS``, else ``./checkpoints``."""
    if out:
        return Path(out)
    env = os.environ.get("SALBENCH_CHECKPOINTS")
    return Path(env) if env else Path("checkpoints")


def _safe(name: str) -> str:
    return "".join(ch if (ch.isalnum() or ch in "+-_.") else "_" for ch in name)


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file next to ``path``, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a salbench checkpoint with ``weights_only=True`` and check its format."""
    path = Path(path)
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SalbenchError(f"{path}: checkpoint does not exist") from None
    except Exception as exc:  # truncated / foreign pickle / text
        raise SalbenchError(load_error(path, exc, "salbench checkpoint")) from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise SalbenchError(f"{path}: not a {CHECKPOINT_FORMAT} file")
    return ck


def _plain(v: Any) -> Any:
    """Options as plain JSON-like types (weights_only-loadable)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def _state_dict_cpu(sd: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.detach().cpu().contiguous() if isinstance(v, torch.Tensor) else v)
            for k, v in sd.items()}


# --------------------------------------------------------------------------
# distributed
# --------------------------------------------------------------------------

class Dist:
    """Process-group facts; ``world == 1`` without torchrun."""

    def __init__(self, device: str) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = parse_device(device)
        self.initialised_here = False
        if self.world > 1:
            import torch.distributed as dist
            if self.device.type == "cuda":
                self.device = torch.device("cuda", self.local_rank)
                torch.cuda.set_device(self.device)
            if not dist.is_initialized():
                dist.init_process_group(backend="nccl" if self.device.type == "cuda" else "gloo")
                self.initialised_here = True
            self.rank, self.world = dist.get_rank(), dist.get_world_size()

    @property
    def main(self) -> bool:
        return self.rank == 0

    def all_mean(self, t: torch.Tensor) -> torch.Tensor:
        if self.world > 1:
            import torch.distributed as dist
            t = t.clone()
            dist.all_reduce(t)
            t /= self.world
        return t

    def broadcast(self, obj: Any) -> Any:
        if self.world == 1:
            return obj
        import torch.distributed as dist
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist
            dist.barrier()

    def close(self) -> None:
        if self.initialised_here:
            import torch.distributed as dist
            dist.destroy_process_group()


# --------------------------------------------------------------------------
# the trainer
# --------------------------------------------------------------------------

def _is_bn(m: nn.Module) -> bool:
    return isinstance(m, nn.modules.batchnorm._BatchNorm)


class Trainer:
    """Train ``method`` on ``dataset``; :meth:`run` does the whole schedule.

    Hyper-parameters (``iterations``, ``batch_size``, ``lr``, ``crop``, …, see
    :data:`DEFAULTS`) left at ``None`` take the method's ``train_defaults``,
    then :data:`DEFAULTS`. ``options`` are the method's own options
    (``backbone`` included). ``resume``: ``"auto"`` (continue ``last.pt`` when
    its configuration matches, error when it doesn't), ``"restart"`` (ignore
    it) or a checkpoint path. ``stop_after``: save and stop once this many
    iterations are done (the schedule still runs to ``iterations``).
    """

    def __init__(self, method: str, dataset: str, *, data_root: str | Path | None = None,
                 out: str | Path | None = None, device: str | None = None,
                 amp: str | None = None, channels_last: bool | None = None,
                 workers: int | None = None, save_every: int = 500, log_every: int = 10,
                 backbone_weights: str | Path | None = None,
                 options: dict[str, Any] | None = None, resume: str | Path = "auto",
                 stop_after: int | None = None, progress: bool = True,
                 check_data: bool = True, **hyper: Any) -> None:
        from salbench.plugins.registry import get_spec

        unknown = set(hyper) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown training option(s) {sorted(unknown)}")
        self.spec = get_spec(method)
        method_defaults = dict(getattr(self.spec.cls, "train_defaults", {}) or {})
        cfg = {**DEFAULTS, **{k: v for k, v in method_defaults.items() if k in DEFAULTS}}
        cfg.update({k: v for k, v in hyper.items() if v is not None})
        if cfg["bn"] not in ("train", "frozen", "sync"):
            raise SalbenchError(f"--bn must be train, frozen or sync, not {cfg['bn']!r}")
        for key in ("iterations", "batch_size"):
            if int(cfg[key]) < 1:
                raise SalbenchError(f"--{key.replace('_', '-')} must be at least 1")
        self.cfg = cfg
        self.method_name = self.spec.name
        # typed once, as ``salbench run`` does: "false" and False are the same
        # option (and so the same trajectory on resume); unknown / bad -> OptionError
        self.options = validate(self.method_name, self.spec.cls.options_schema(), dict(options or {}))
        self.dataset_arg = dataset
        self.data_root = data_root
        self.out = checkpoint_root(out)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise SalbenchError("--device cuda asked for but no CUDA device is available")
        self.dist = Dist(device)
        self.device = self.dist.device
        cuda = self.device.type == "cuda"
        self.amp = amp or ("bf16" if cuda else "none")
        if self.amp not in ("bf16", "none"):
            raise SalbenchError(f"--amp must be bf16 or none, not {self.amp!r}")
        self.channels_last = cuda if channels_last is None else bool(channels_last)
        if workers is None:  # CPU: decode in the main process; CUDA: share the cores among local ranks
            local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
            workers = max(1, min(8, (os.cpu_count() or 1) // max(1, local_world))) if cuda else 0
        self.workers = int(workers)
        self.save_every = max(1, int(save_every))
        self.log_every = max(1, int(log_every))
        self.backbone_weights = str(backbone_weights) if backbone_weights else None
        self.resume = resume
        self.stop_after = stop_after
        self.progress = progress
        self.check_data = check_data
        if cfg["bn"] == "sync" and not (cuda and self.dist.world > 1):
            raise SalbenchError("--bn sync needs CUDA and several processes (torchrun); "
                                "on CPU use --bn frozen for process-count-independent results")

    # -- setup -----------------------------------------------------------------
    def _build(self) -> None:
        from salbench.nn.data import Augment, check_pairs, resolve_training_set

        self.dataset_name, self.pairs = resolve_training_set(self.dataset_arg, self.data_root)
        if self.check_data and self.dist.main:
            check_pairs(self.pairs)
        try:
            self.method = self.spec.create(device=str(self.device), **self.options)
        except OptionError:
            raise  # one line naming the valid options (SalbenchError, exit 2)
        except TypeError as exc:  # a method whose constructor refuses something else
            raise SalbenchError(f"method {self.method_name!r}: {exc}") from None
        if not hasattr(self.method, "build_model"):
            raise SalbenchError(f"method {self.method_name!r} is not a learned method (no build_model)")
        self.ckpt_dir = self.out / _safe(self.method_name) / _safe(self.dataset_name)
        seed_everything(int(self.cfg["seed"]))
        net = self.method.build_model()
        # the authors' PyTorch 0.4.0 BatchNorm init on the decoder, before the
        # backbone's ImageNet weights (seeded: reproducible)
        self.bn_init = str(self.method.options.get("bn_init", "uniform"))
        self.n_bn_reinit = reinit_decoder_bn(net, self.bn_init)
        if self.backbone_weights:
            from salbench.nn.weights import load_backbone_weights
            load_backbone_weights(net.backbone, self.backbone_weights, strict=True)
        net = net.to(self.device)
        if self.cfg["bn"] == "sync":
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
        if self.channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.net = net
        self.augment = Augment(int(self.cfg["crop"]), bool(self.cfg["flip"]), float(self.cfg["rotate"]),
                               int(self.cfg["resize"] or 0))
        self.optimizer = build_optimizer(net, float(self.cfg["lr"]), float(self.cfg["momentum"]),
                                         float(self.cfg["weight_decay"]), float(self.cfg["bias_lr_mult"]))
        self.config = {**{k: _plain(v) for k, v in self.cfg.items()},
                       "method": self.method_name, "options": _plain(self.method.options),
                       "dataset": self.dataset_name, "backbone_weights": self.backbone_weights,
                       "device": self.device.type, "amp": self.amp,
                       "precision": "fp32" if self.amp == "none" else f"{self.amp} autocast",
                       "faithful_fp32": self.amp == "none", "bn_init": self.bn_init,
                       "channels_last": self.channels_last, "world_size": self.dist.world,
                       "n_train": len(self.pairs)}
        self.iteration = 0
        self.elapsed = 0.0

    def _train_mode(self) -> None:
        self.net.train()
        if self.cfg["bn"] == "frozen":
            for m in self.net.modules():
                if _is_bn(m):
                    m.eval()

    @property
    def last_path(self) -> Path:
        return self.ckpt_dir / "last.pt"

    @property
    def final_path(self) -> Path:
        return self.ckpt_dir / "final.pt"

    @property
    def log_path(self) -> Path:
        return self.ckpt_dir / "train_log.jsonl"

    def _mismatch(self, saved: dict[str, Any]) -> list[str]:
        diffs = []
        for k in TRAJECTORY_KEYS:
            a, b = saved.get(k), self.config.get(k)
            if a != b:
                diffs.append(f"{k}: checkpoint {a!r} vs now {b!r}")
        return diffs

    def _maybe_resume(self) -> None:
        ck = None
        if self.dist.main:
            if self.resume not in ("auto", "restart"):
                ck = load_checkpoint(self.resume)
                src = Path(self.resume)
            elif self.resume == "auto" and self.last_path.exists():
                ck = load_checkpoint(self.last_path)
                src = self.last_path
            if ck is not None:
                diffs = self._mismatch(ck.get("config", {}))
                if diffs:
                    raise SalbenchError(
                        f"{src}: its training configuration differs ({'; '.join(diffs)}); "
                        f"use --restart to start over or --out for another checkpoint folder")
        ck = self.dist.broadcast(ck)
        if ck is None:
            return
        self.net.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.iteration = int(ck["iteration"])
        self.elapsed = float(ck.get("elapsed_s", 0.0))
        if self.dist.world == 1 and ck.get("rng"):
            set_rng_state(ck["rng"])

    def checkpoint(self) -> dict[str, Any]:
        net = self.net.module if hasattr(self.net, "module") else self.net
        return {"format": CHECKPOINT_FORMAT, "method": self.method_name,
                "options": _plain(self.method.options), "model": _state_dict_cpu(net.state_dict()),
                "optimizer": self.optimizer.state_dict(), "iteration": int(self.iteration),
                "rng": rng_state(), "config": dict(self.config), "dataset": self.dataset_name,
                "elapsed_s": float(self.elapsed), "amp": self.amp,
                "faithful_fp32": self.amp == "none", "bn_init": self.bn_init}

    def save(self, final: bool = False) -> None:
        if not self.dist.main:
            return
        ck = self.checkpoint()
        save_atomic(ck, self.last_path)
        if final:
            save_atomic(ck, self.final_path)

    # -- logging -----------------------------------------------------------------
    def _open_log(self) -> None:
        if not self.dist.main:
            self._log = None
            return
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        kept: list[str] = []
        if self.iteration > 0 and self.log_path.exists():
            # keep the history up to the checkpoint; drop lines of iterations
            # that ran after it (they will run again)
            for line in self.log_path.read_text().splitlines():
                try:
                    if int(json.loads(line)["iteration"]) <= self.iteration:
                        kept.append(line)
                except (ValueError, KeyError, TypeError):
                    continue
        self.log_path.write_text("".join(s + "\n" for s in kept))
        self._log = self.log_path.open("a")

    def _write_log(self, rec: dict[str, Any]) -> None:
        if self._log is not None:
            self._log.write(json.dumps(rec) + "\n")
            self._log.flush()

    # -- one step ----------------------------------------------------------------
    def _autocast(self):
        if self.amp == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _loss_terms(self, model: nn.Module, outputs: list[torch.Tensor],
                    target: torch.Tensor) -> torch.Tensor:
        """Per-output losses for the log (no gradient): the model's own
        ``loss_terms`` when it has one, else the BCE of each output."""
        with torch.no_grad():
            fn = getattr(model, "loss_terms", None)
            self._terms_kind = "loss_terms" if callable(fn) else "bce_per_output"
            if callable(fn):
                terms = fn(outputs, target)
                return torch.stack([t.detach().float() for t in terms])
            return torch.stack([F.binary_cross_entropy_with_logits(o.float(), target)
                                for o in outputs])

    def step(self, images: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD iteration at ``self.iteration`` (then incremented). Returns
        the (local) total loss and per-output losses, detached."""
        model = self.net.module if hasattr(self.net, "module") else self.net
        set_poly_lr(self.optimizer, self.iteration, int(self.cfg["iterations"]), float(self.cfg["lr_power"]))
        mf = torch.channels_last if self.channels_last else torch.contiguous_format
        x = images.to(self.device, non_blocking=True).contiguous(memory_format=mf)
        y = masks.to(self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            outputs = self.net(x)
        outputs = [o.float() for o in outputs]
        loss = model.loss(outputs, y)
        loss.backward()
        self.optimizer.step()
        self.iteration += 1
        return loss.detach(), self._loss_terms(model, outputs, y)

    # -- the loop ------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Train (or continue) to ``iterations`` (or ``stop_after``); returns a
        summary: iterations done, last logged loss, checkpoint paths, wall time."""
        from salbench.nn.data import make_loader

        try:
            self._build()
            self._maybe_resume()
            total = int(self.cfg["iterations"])
            stop = total if self.stop_after is None else min(total, int(self.stop_after))
            if self.iteration >= total:
                if self.dist.main and not self.final_path.exists():
                    self.save(final=True)
                return self._summary(done=True, note="already complete")
            if self.device.type == "cuda":
                torch.backends.cudnn.benchmark = True
            if self.dist.world > 1:
                from torch.nn.parallel import DistributedDataParallel as DDP
                self.net = DDP(self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None)
            self._open_log()
            self._train_mode()
            if stop <= self.iteration:  # --stop-after at or before where we are
                if self.iteration == 0:
                    self.save()  # the initial model, e.g. to evaluate random init
                return self._summary(done=False)
            loader = make_loader(self.pairs, self.augment, int(self.cfg["seed"]), int(self.cfg["batch_size"]),
                                 self.iteration, stop, self.dist.rank, self.dist.world, self.workers,
                                 pin_memory=self.device.type == "cuda")
            self._loop(loader, total, stop)
            return self._summary(done=self.iteration >= total)
        finally:
            log = getattr(self, "_log", None)
            if log is not None:
                log.close()
            self.dist.close()

    def _loop(self, loader: Iterable, total: int, stop: int) -> None:
        from tqdm import tqdm

        interrupted = {"flag": False}
        old_handler = None
        if self.dist.world == 1 and hasattr(signal, "SIGINT"):
            def handler(signum, frame):  # finish the step, save, then stop
                if interrupted["flag"]:
                    raise KeyboardInterrupt
                interrupted["flag"] = True
            try:
                old_handler = signal.signal(signal.SIGINT, handler)
            except ValueError:  # not the main thread
                old_handler = None
        bar = tqdm(total=total, initial=self.iteration, disable=not (self.progress and self.dist.main),
                   desc=f"train {self.method_name}", unit="it", dynamic_ncols=True, file=sys.stderr)
        acc = None
        n_acc = 0
        t_window = time.perf_counter()
        t_last = t_window
        gb = int(self.cfg["batch_size"])
        self.last_record: dict[str, Any] | None = None
        try:
            for images, masks in loader:
                loss, terms = self.step(images, masks)
                vec = torch.cat([loss.float().reshape(1), terms.float()])
                acc = vec if acc is None else acc + vec
                n_acc += 1
                now = time.perf_counter()
                self.elapsed += now - t_last
                t_last = now
                end = self.iteration >= stop or interrupted["flag"]
                if self.iteration % self.log_every == 0 or end:
                    mean = self.dist.all_mean(acc / n_acc).cpu()
                    dt = max(now - t_window, 1e-9)
                    rec = {"iteration": self.iteration, "loss": float(mean[0]),
                           "losses": [float(v) for v in mean[1:]],
                           "losses_kind": self._terms_kind,
                           "lr": float(self.optimizer.param_groups[1]["lr"]),
                           "lr_bias": float(self.optimizer.param_groups[0]["lr"]),
                           "images_per_s": n_acc * gb / dt, "wall_s": round(self.elapsed, 3),
                           "epoch": (self.iteration * gb) / len(self.pairs),
                           "amp": self.amp, "faithful_fp32": self.amp == "none",
                           "bn_init": self.bn_init}
                    self._write_log(rec)
                    self.last_record = rec
                    bar.set_postfix(loss=f"{rec['loss']:.4f}", img_s=f"{rec['images_per_s']:.1f}")
                    acc, n_acc, t_window = None, 0, time.perf_counter()
                bar.update(1)
                if self.iteration >= total:
                    self.save(final=True)
                elif self.iteration % self.save_every == 0 or end:
                    self.save()
                if interrupted["flag"]:
                    print(f"\ninterrupted: saved {self.last_path} at iteration {self.iteration}; "
                          f"run the command again (without --restart) to resume", file=sys.stderr)
                    raise KeyboardInterrupt
                if self.iteration >= stop:
                    break
        finally:
            bar.close()
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)

    def _summary(self, done: bool, note: str = "") -> dict[str, Any]:
        rec = getattr(self, "last_record", None)
        return {"method": self.method_name, "dataset": self.dataset_name, "iteration": self.iteration,
                "iterations": int(self.cfg["iterations"]), "done": done,
                "loss": rec["loss"] if rec else None, "wall_s": self.elapsed,
                "last": str(self.last_path), "final": str(self.final_path) if done else None,
                "log": str(self.log_path), "note": note, "amp": self.amp,
                "faithful_fp32": self.amp == "none", "precision": precision_note(self.amp),
                "bn_init": getattr(self, "bn_init", None)}


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    d = DEFAULTS
    p.add_argument("--method", required=True, help="learned method to train, e.g. r3net, dss+")
    p.add_argument("--dataset", required=True,
                   help="training set: a registered name (MSRA10K, PASCAL-S, demo-train) or a folder")
    p.add_argument("--data-root", help="folder holding the datasets (default: salbench's data root)")
    p.add_argument("--out", help="checkpoint root (default $SALBENCH_CHECKPOINTS or ./checkpoints); "
                                 "files go to <out>/<method>/<dataset>/")
    p.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE",
                   help="import a method plugin first (repeatable)")
    g = p.add_argument_group("schedule (defaults: R3Net's train.py, or the method's own)")
    g.add_argument("--iterations", type=int, help=f"SGD iterations (default {d['iterations']})")
    g.add_argument("--batch-size", type=int, help=f"global batch size (default {d['batch_size']})")
    g.add_argument("--lr", type=float, help=f"base learning rate, poly-decayed (default {d['lr']})")
    g.add_argument("--lr-power", type=float, help=f"poly power (default {d['lr_power']})")
    g.add_argument("--momentum", type=float, help=f"SGD momentum (default {d['momentum']})")
    g.add_argument("--weight-decay", type=float, help=f"weight decay of non-bias parameters (default {d['weight_decay']})")
    g.add_argument("--crop", type=int, help=f"random crop size (default {d['crop']})")
    g.add_argument("--resize", type=int, metavar="N",
                   help="resize every training pair to N×N before cropping (not in R3Net; default: off)")
    g.add_argument("--rotate", type=float, help=f"max rotation in degrees (default {d['rotate']})")
    g.add_argument("--no-flip", dest="flip", action="store_const", const=False, default=None,
                   help="disable horizontal flips")
    g.add_argument("--seed", type=int, help=f"seed of init, sample order and augmentation (default {d['seed']})")
    g.add_argument("--bn", choices=["train", "frozen", "sync"],
                   help="batch norm: train (batch statistics, as R3Net), frozen (running statistics; "
                        "results independent of the process count), sync (SyncBatchNorm, CUDA + torchrun)")
    m = p.add_argument_group("model")
    m.add_argument("--backbone", help="backbone of the method (e.g. resnext101, resnet18)")
    m.add_argument("--backbone-weights", metavar="FILE", help="ImageNet weights for the backbone")
    m.add_argument("--option", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                   help="method option(s), typed and checked as in 'salbench run': --option a=1 b=x "
                        "(repeatable), "
                        "e.g. aspp=false, bn_init=ones (PyTorch >= 1.0 BatchNorm init instead of "
                        "the authors' U(0,1) decoder scales)")
    e = p.add_argument_group("execution")
    e.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    e.add_argument("--amp", choices=["bf16", "none"],
                   help="autocast (default bf16 + channels-last on CUDA for speed, none on CPU); "
                        "the authors trained in fp32: --amp none is the faithful path")
    e.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="channels-last memory format (default on CUDA)")
    e.add_argument("--workers", type=int,
                   help="DataLoader workers per process (default 0 on CPU; on CUDA min(8, cores / local processes))")
    e.add_argument("--threads", type=int, help="torch CPU threads")
    e.add_argument("--save-every", type=int, default=500, help="save last.pt every N iterations (default 500)")
    e.add_argument("--log-every", type=int, default=10, help="log line every N iterations (default 10)")
    e.add_argument("--stop-after", type=int, metavar="N",
                   help="save and stop after N iterations of the schedule (resume later); 0 saves the initial model")
    r = e.add_mutually_exclusive_group()
    r.add_argument("--resume", nargs="?", const="auto", default="auto", metavar="CHECKPOINT",
                   help="continue from last.pt when its configuration matches (the default), "
                        "or from the given checkpoint")
    r.add_argument("--restart", action="store_true", help="ignore an existing last.pt and start over")
    e.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from salbench.plugins.registry import get_spec, load_plugin

    for plug in args.plugin:
        load_plugin(plug)
    if args.threads:
        torch.set_num_threads(int(args.threads))
    spec = get_spec(args.method)
    schema = spec.cls.options_schema()
    # the parser of 'salbench run': typed values, unknown keys / bad values
    # raise OptionError naming the valid options
    options = parse_cli(spec.name, schema, args.option)
    if args.backbone:
        options.update(parse_cli(spec.name, schema, [f"backbone={args.backbone}"]))
    hyper = {k: getattr(args, k) for k in ("iterations", "batch_size", "lr", "lr_power", "momentum",
                                           "weight_decay", "crop", "resize", "rotate", "flip", "seed", "bn")}
    trainer = Trainer(args.method, args.dataset, data_root=args.data_root, out=args.out,
                      device=args.device, amp=args.amp, channels_last=args.channels_last,
                      workers=args.workers, save_every=args.save_every, log_every=args.log_every,
                      backbone_weights=args.backbone_weights, options=options,
                      resume="restart" if args.restart else args.resume,
                      stop_after=args.stop_after, progress=args.progress, **hyper)
    summary = trainer.run()
    if trainer.dist.main:
        loss = summary["loss"]
        state = "done" if summary["done"] else "stopped"
        print(f"{summary['method']} on {summary['dataset']}: {state} at iteration "
              f"{summary['iteration']}/{summary['iterations']}"
              + (f", loss {loss:.4f}" if loss is not None else "")
              + f", {summary['wall_s']:.1f} s; checkpoint {summary['final'] or summary['last']}"
              + (f" ({summary['note']})" if summary["note"] else "")
              + f"; precision {summary['precision']}"
              + (f"; bn_init {summary['bn_init']}" if summary.get("bn_init") else ""))
    return 0
