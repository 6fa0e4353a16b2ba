"""The training loop: :class:`Trainer` builds the method's network, the
optimiser and the deterministic data stream, resumes from a checkpoint, runs
the SGD iterations (optionally under DistributedDataParallel and bf16
autocast), logs JSON lines and saves checkpoints. The recipe's numbers live in
:mod:`salbench.nn.train.schedule`, the file format in
:mod:`salbench.nn.checkpoint`."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from salbench.errors import SalbenchError
from salbench.nn.checkpoint import (CHECKPOINT_FORMAT, checkpoint_root, load_checkpoint, plain, safe_name,
                                    save_atomic, state_dict_cpu)
from salbench.nn.train.distributed import Dist
from salbench.nn.train.schedule import (DEFAULTS, build_optimizer, is_bn, reinit_decoder_bn, rng_state,
                                        seed_everything, set_poly_lr, set_rng_state)
from salbench.plugins.options import OptionError, validate

__all__ = ["Trainer", "TRAJECTORY_KEYS", "precision_note"]

#: configuration keys that define the training trajectory: resuming requires
#: them to match. Device, AMP, channels-last, workers, logging and the number
#: of processes are execution details and may change between sessions.
TRAJECTORY_KEYS = ("method", "options", "dataset", "iterations", "batch_size", "lr",
                   "lr_power", "momentum", "weight_decay", "bias_lr_mult", "crop", "resize", "flip",
                   "rotate", "seed", "bn", "backbone_weights", "bn_init")


def precision_note(amp: str) -> str:
    """One phrase saying which arithmetic the training ran in."""
    if amp == "none":
        return "fp32 (faithful: the authors trained in fp32)"
    return (f"{amp} autocast (fast; not the authors' fp32: use --amp none for the faithful path)")



class Trainer:
    """Train ``method`` on ``dataset``; :meth:`run` does the whole schedule.

    Hyper-parameters (``iterations``, ``batch_size``, ``lr``, ``crop``, …, see
    :data:`~salbench.nn.train.schedule.DEFAULTS`) left at ``None`` take the method's ``train_defaults``,
    then those defaults. ``options`` are the method's own options
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
        self.ckpt_dir = self.out / safe_name(self.method_name) / safe_name(self.dataset_name)
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
        self.config = {**{k: plain(v) for k, v in self.cfg.items()},
                       "method": self.method_name, "options": plain(self.method.options),
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
                if is_bn(m):
                    m.eval()

    @property
    def last_path(self) -> Path:
        """The checkpoint saved during training (resumed from by default)."""
        return self.ckpt_dir / "last.pt"

    @property
    def final_path(self) -> Path:
        """The checkpoint saved when the schedule is complete."""
        return self.ckpt_dir / "final.pt"

    @property
    def log_path(self) -> Path:
        """The JSON-lines training log."""
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
        """The checkpoint dict of the current state: model, optimiser,
        iteration, RNG states, configuration and precision facts."""
        net = self.net.module if hasattr(self.net, "module") else self.net
        return {"format": CHECKPOINT_FORMAT, "method": self.method_name,
                "options": plain(self.method.options), "model": state_dict_cpu(net.state_dict()),
                "optimizer": self.optimizer.state_dict(), "iteration": int(self.iteration),
                "rng": rng_state(), "config": dict(self.config), "dataset": self.dataset_name,
                "elapsed_s": float(self.elapsed), "amp": self.amp,
                "faithful_fp32": self.amp == "none", "bn_init": self.bn_init}

    def save(self, final: bool = False) -> None:
        """Write :meth:`checkpoint` to ``last.pt`` (and ``final.pt`` when
        ``final``); only the main process writes."""
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
        """Run the iterations ``loader`` yields: one :meth:`step` each, a log
        record every ``log_every`` iterations, checkpoints every ``save_every``
        and at the end; Ctrl-C (one process) finishes the step, saves and stops."""
        from tqdm import tqdm

        interrupted = {"flag": False}
        old_handler = _catch_sigint(interrupted) if self.dist.world == 1 else None
        bar = tqdm(total=total, initial=self.iteration, disable=not (self.progress and self.dist.main),
                   desc=f"train {self.method_name}", unit="it", dynamic_ncols=True, file=sys.stderr)
        acc = None
        n_acc = 0
        t_window = time.perf_counter()
        t_last = t_window
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
                    rec = self._log_record(self.dist.all_mean(acc / n_acc).cpu(), n_acc,
                                           max(now - t_window, 1e-9))
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

    def _log_record(self, mean: torch.Tensor, n_steps: int, seconds: float) -> dict[str, Any]:
        """One JSON-lines log record: ``mean`` is the total loss followed by the
        per-output losses, averaged over the ``n_steps`` steps (and processes)
        of the last ``seconds``."""
        gb = int(self.cfg["batch_size"])
        return {"iteration": self.iteration, "loss": float(mean[0]),
                "losses": [float(v) for v in mean[1:]],
                "losses_kind": self._terms_kind,
                "lr": float(self.optimizer.param_groups[1]["lr"]),
                "lr_bias": float(self.optimizer.param_groups[0]["lr"]),
                "images_per_s": n_steps * gb / seconds, "wall_s": round(self.elapsed, 3),
                "epoch": (self.iteration * gb) / len(self.pairs),
                "amp": self.amp, "faithful_fp32": self.amp == "none",
                "bn_init": self.bn_init}

    def _summary(self, done: bool, note: str = "") -> dict[str, Any]:
        rec = getattr(self, "last_record", None)
        return {"method": self.method_name, "dataset": self.dataset_name, "iteration": self.iteration,
                "iterations": int(self.cfg["iterations"]), "done": done,
                "loss": rec["loss"] if rec else None, "wall_s": self.elapsed,
                "last": str(self.last_path), "final": str(self.final_path) if done else None,
                "log": str(self.log_path), "note": note, "amp": self.amp,
                "faithful_fp32": self.amp == "none", "precision": precision_note(self.amp),
                "bn_init": getattr(self, "bn_init", None)}


def _catch_sigint(interrupted: dict[str, bool]):
    """Make the first Ctrl-C set ``interrupted["flag"]`` (the loop finishes the
    step, saves and stops) and a second one raise ``KeyboardInterrupt``.
    Returns the previous handler, or None where none could be installed
    (not the main thread, no SIGINT)."""
    if not hasattr(signal, "SIGINT"):
        return None

    def handler(signum, frame):
        if interrupted["flag"]:
            raise KeyboardInterrupt
        interrupted["flag"] = True
    try:
        return signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        return None
