"""The training recipe's numbers: default hyper-parameters, R3Net's two SGD
parameter groups and "poly" learning rate, seeding and the RNG state saved in
checkpoints, and the decoder BatchNorm init of PyTorch 0.4.0.

The defaults are those of R3Net's ``train.py`` (github.com/zijundeng/R3Net)
and paper (Deng et al., IJCAI 2018, Sec. 4.1); see :mod:`salbench.nn.train`.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from torch import nn

from salbench.errors import SalbenchError

__all__ = ["DEFAULTS", "BN_INITS", "param_groups", "build_optimizer", "poly_factor", "set_poly_lr",
           "rng_state", "set_rng_state", "seed_everything", "is_bn", "reinit_decoder_bn"]

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

#: ``bn_init`` values: ``"uniform"`` re-draws the scale of every decoder BatchNorm
#: from U(0, 1) (PyTorch 0.4.0's BatchNorm init, which the authors trained
#: with); ``"ones"`` keeps PyTorch >= 1.0's init (scale 1).
BN_INITS = ("uniform", "ones")


# --------------------------------------------------------------------------
# optimiser and learning-rate schedule
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
    """SGD with momentum over :func:`param_groups` of ``model``."""
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
    """The torch, NumPy, Python and (when initialised) CUDA RNG states, as
    tensors and plain numbers that a ``weights_only`` load accepts."""
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
    """Restore the RNG states saved by :func:`rng_state` (CUDA states only for
    the devices present)."""
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
    """Seed Python's ``random``, NumPy's global RNG and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------
# BatchNorm init
# --------------------------------------------------------------------------

def is_bn(m: nn.Module) -> bool:
    """Whether ``m`` is a BatchNorm layer (any dimensionality, SyncBatchNorm too)."""
    return isinstance(m, nn.modules.batchnorm._BatchNorm)


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
            if id(m) in skip or not is_bn(m) or not m.affine:
                continue
            nn.init.uniform_(m.weight)
            nn.init.zeros_(m.bias)
            n += 1
    return n
