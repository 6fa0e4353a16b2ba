"""The shared base of every learned saliency method.

* :class:`SODNet` — an ``nn.Module`` with a backbone, returning all supervised
  outputs as logits at the input size, with its own loss and final map.
* :class:`LearnedMethod` — a :class:`salbench.registry.Method` that resolves a
  checkpoint (``--weights`` or ``checkpoints/<method>/*/final.pt``), builds the
  network, and predicts full-resolution uint8 maps in (padded) batches.

Checkpoints written by ``salbench train`` are dicts::

    {"format": "salbench-checkpoint-v1", "method": "r3net",
     "options": {...}, "model": <state dict>, "optimizer": ..., "iteration": N, "rng": ...}

A plain state dict of the whole model is accepted too (subclasses map foreign
key names, e.g. the authors' released R3Net file, in :meth:`LearnedMethod.convert_state_dict`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from salbench.errors import SalbenchError
from salbench.nn.backbones import build_backbone
from salbench.nn.modules import upsample as _upsample
from salbench.nn.weights import WeightsError, check_and_load, unwrap_state_dict
from salbench.numeric import IMAGENET_MEAN, IMAGENET_STD
from salbench.registry import Method, MethodNotReady

__all__ = ["SODNet", "LearnedMethod", "CHECKPOINT_FORMAT", "checkpoint_root",
           "find_checkpoint", "upsample", "normalise_images"]

#: the ``"format"`` value of checkpoints written by ``salbench train``.
CHECKPOINT_FORMAT = "salbench-checkpoint-v1"

#: the ImageNet weight-file formats :func:`salbench.nn.weights.load_backbone_weights` reads.
ACCEPTED_IMAGENET_FILES = (
    "resnext_101_32x4d.pth (R3Net's Torch7-converted file), Cadene pretrainedmodels "
    "resnext101_32x4d, or torchvision's resnet18/resnet50/resnext101_32x8d/densenet161/vgg16 files")


def upsample(x: Tensor, size) -> Tensor:
    """The one bilinear resize of the learned methods (``align_corners=True``)."""
    return _upsample(x, size)


class SODNet(nn.Module):
    """Base of every learned saliency network.

    ``forward(x)`` returns the list of all supervised outputs, each a logit map
    ``(B, 1, H, W)`` at the input size; :meth:`loss` sums BCE-with-logits over
    them (override for other weightings); :meth:`final` is the probability map
    used at inference (default: sigmoid of the last output).
    """

    def __init__(self, backbone: str = "resnext101_32x4d", **opts: Any) -> None:
        super().__init__()
        self.backbone_name = backbone
        self.opts = dict(opts)
        self.backbone = build_backbone(backbone)

    upsample = staticmethod(upsample)

    def forward(self, x: Tensor) -> list[Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def loss(self, outputs: Sequence[Tensor], target: Tensor) -> Tensor:
        """Sum over outputs of the mean binary cross-entropy with logits (weight 1 each)."""
        return sum(F.binary_cross_entropy_with_logits(o, target) for o in outputs)  # type: ignore[return-value]

    def final(self, outputs: Sequence[Tensor]) -> Tensor:
        """Probability map ``(B, 1, H, W)`` used at inference."""
        return torch.sigmoid(outputs[-1])


def checkpoint_root() -> Path:
    """``$SALBENCH_CHECKPOINTS`` or ``./checkpoints``."""
    env = os.environ.get("SALBENCH_CHECKPOINTS")
    return Path(env) if env else Path("checkpoints")


def find_checkpoint(method: str, root: Path | None = None) -> Path | None:
    """Newest ``<root>/<method>/*/final.pt``, else newest ``last.pt``; None if neither."""
    base = (root or checkpoint_root()) / method
    if not base.is_dir():
        return None
    for fname in ("final.pt", "last.pt"):
        found = [p for p in base.glob(f"*/{fname}") if p.is_file()]
        if found:
            return max(found, key=lambda p: (p.stat().st_mtime, str(p)))
    return None


def normalise_images(images: Sequence[np.ndarray], names: Sequence[str] | None = None
                     ) -> tuple[Tensor, list[tuple[int, int]]]:
    """Stack H×W×3 uint8 RGB images into one ImageNet-normalised float batch,
    zero-padded (= the mean colour) at the bottom/right to the largest size.
    Returns the batch and each image's (H, W)."""
    sizes = []
    for i, im in enumerate(images):
        if not (isinstance(im, np.ndarray) and im.ndim == 3 and im.shape[2] == 3 and im.dtype == np.uint8):
            who = names[i] if names is not None and i < len(names) else f"image #{i}"
            shape = getattr(im, "shape", None)
            dtype = getattr(im, "dtype", type(im).__name__)
            raise SalbenchError(f"{who}: expected an H×W×3 uint8 RGB image, got shape {shape} dtype {dtype}")
        sizes.append((im.shape[0], im.shape[1]))
    hmax = max(h for h, _ in sizes)
    wmax = max(w for _, w in sizes)
    batch = torch.zeros(len(images), 3, hmax, wmax)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    for i, im in enumerate(images):
        # astype copies (the uint8 source may be read-only, which torch warns about)
        t = torch.from_numpy(im.astype(np.float32)).permute(2, 0, 1).div_(255.0)
        h, w = sizes[i]
        batch[i, :, :h, :w] = (t - mean) / std
    return batch, sizes


class LearnedMethod(Method):
    """Base of the learned methods (R3Net and the "+" baselines).

    Subclasses implement :meth:`build_model` (an :class:`SODNet` from
    ``self.options``) and may set :attr:`train_defaults` (overrides of the
    trainer's defaults) and :meth:`convert_state_dict` (foreign key names).

    Options common to all: ``backbone`` and ``amp`` (on CUDA: bf16 autocast and
    channels-last memory format at inference).

    Batching: images of different sizes in one ``predict`` call are padded to
    the largest size with the mean colour and the outputs cropped back. Padding
    can change a map slightly (convolutions and ASPP's global pooling see the
    padding); call ``predict`` with one image, or same-size images, for exact
    per-image results (``--batch-size 1``).
    """

    kind: ClassVar[str] = "learned"
    needs_weights: ClassVar[bool] = True
    supports_crf: ClassVar[bool] = True
    default_crf: ClassVar[bool] = True
    parallel: ClassVar[str] = "none"
    batch_size: ClassVar[int] = 8
    input_note: ClassVar[str] = "RGB uint8 image of any size; run at full resolution, ImageNet-normalised"
    default_options: ClassVar[dict[str, Any]] = {"backbone": "resnext101_32x4d", "amp": False}
    #: trainer-default overrides, e.g. ``{"lr": 1e-3}`` (see ``salbench.nn.train``).
    train_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._model: SODNet | None = None
        self._state: dict[str, Tensor] | None = None
        self.checkpoint_info: dict[str, Any] = {}

    # -- to implement ---------------------------------------------------------
    def build_model(self) -> SODNet:
        """A freshly initialised network from ``self.options``."""
        raise NotImplementedError

    def convert_state_dict(self, sd: dict[str, Tensor]) -> dict[str, Tensor]:
        """Map a foreign whole-model state dict (e.g. authors' release) to this
        model's key names; the default returns it unchanged."""
        return sd

    # -- model ----------------------------------------------------------------
    def model_options(self) -> dict[str, Any]:
        """The options that shape the network (all but ``amp``)."""
        return {k: v for k, v in self.options.items() if k != "amp"}

    @property
    def model(self) -> SODNet:
        """The built network (cached; weights loaded if :meth:`prepare` resolved them)."""
        if self._model is None:
            model = self.build_model()
            if self._state is not None:
                check_and_load(model, self._state, self.weights or "<state dict>", strict=True,
                               what=f"{self.name} model ({self._describe_options()})")
                self._state = None
            model.eval()
            self._model = model
        return self._model

    def _describe_options(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.model_options().items())

    # -- lifecycle --------------------------------------------------------------
    def prepare(self) -> None:
        """Resolve and load the weights (see the module docstring); raise
        :class:`MethodNotReady` with a how-to when there are none."""
        path = self.weights
        if path is None:
            path = find_checkpoint(self.name)
            if path is None:
                root = checkpoint_root()
                raise MethodNotReady(
                    f"{self.name}: no weights. Pass --weights PATH (a checkpoint written by "
                    f"'salbench train' or a state dict of the whole model), or train one:\n"
                    f"  salbench train --method {self.name} --dataset MSRA10K "
                    f"--backbone-weights resnext_101_32x4d.pth\n"
                    f"(ImageNet backbone files accepted: {ACCEPTED_IMAGENET_FILES}); "
                    f"it is then found under {root}/{self.name}/<run>/final.pt "
                    f"(or last.pt; root set by $SALBENCH_CHECKPOINTS).")
        path = Path(path)
        if not path.is_file():
            raise MethodNotReady(f"{self.name}: weights file {path} does not exist")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise MethodNotReady(f"{path}: cannot read as a PyTorch checkpoint "
                                 f"(torch.load weights_only=True): {type(exc).__name__}: {exc}") from exc
        if isinstance(obj, Mapping) and obj.get("format") == CHECKPOINT_FORMAT:
            if "model" not in obj:
                raise MethodNotReady(f"{path}: salbench checkpoint without a 'model' entry")
            ck_method = str(obj.get("method") or "")
            mine = self.family or self.name
            if ck_method and ck_method.split("-")[0] != mine.split("-")[0]:
                raise MethodNotReady(f"{path}: checkpoint of method {ck_method!r}, not of "
                                     f"{self.name!r} (run it with --method {ck_method})")
            ck_opts = dict(obj.get("options") or {})
            known = {k: v for k, v in ck_opts.items() if k in self.default_options and k != "amp"}
            self.options.update(known)  # the checkpoint's architecture wins
            self.checkpoint_info = {"method": obj.get("method"), "iteration": obj.get("iteration"),
                                    "options": ck_opts}
            sd = unwrap_state_dict(obj["model"], path)
        elif isinstance(obj, Mapping) and "format" in obj:
            raise MethodNotReady(f"{path}: unknown checkpoint format {obj.get('format')!r} "
                                 f"(expected {CHECKPOINT_FORMAT!r})")
        else:
            try:
                sd = unwrap_state_dict(obj, path)
            except WeightsError as exc:
                raise MethodNotReady(str(exc)) from exc
            sd = self.convert_state_dict(sd)
            self.checkpoint_info = {"method": None, "iteration": None, "options": None}
        self.weights = path
        self._model = None
        self._state = sd
        try:
            model = self.model  # builds and loads strictly now, before any image is read
        except WeightsError as exc:
            raise MethodNotReady(str(exc)) from exc
        model.to(self.device)

    # -- inference -------------------------------------------------------------
    @torch.inference_mode()
    def predict(self, images: Sequence[np.ndarray], names: Sequence[str]) -> list[np.ndarray]:
        """Full-resolution maps: probability × 255 rounded to uint8, one per image
        at its own size (padded batch, outputs cropped back).

        The authors' R3Net ``infer.py`` also runs at full resolution with ImageNet
        normalisation, but converts with torchvision's ``ToPILImage`` (×255 then
        truncation); rounding here differs from it by at most one grey level."""
        if len(images) == 0:
            return []
        model = self.model
        device = torch.device(self.device)
        if next(model.parameters()).device != device:
            model.to(device)
        model.eval()
        batch, sizes = normalise_images(images, names)
        batch = batch.to(device)
        use_amp = bool(self.options.get("amp")) and device.type == "cuda"
        if use_amp:
            model.to(memory_format=torch.channels_last)
            batch = batch.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                prob = model.final(model(batch))
        else:
            prob = model.final(model(batch))
        prob = prob.float().clamp_(0, 1).mul_(255).round_().to(torch.uint8).cpu().numpy()
        return [prob[i, 0, :h, :w].copy() for i, (h, w) in enumerate(sizes)]

    # -- description -----------------------------------------------------------
    def count_params(self) -> int:
        """Parameters of the network (backbones carry no classifier)."""
        m = self._model if self._model is not None else self.build_model()
        self._model = self._model or _eval(m)
        return sum(p.numel() for p in m.parameters())

    def gmacs(self, size: tuple[int, int] = (300, 300)) -> float:
        """Multiply-accumulates ×1e9 of one forward pass at ``size`` (H, W); see
        :mod:`salbench.nn.flops` for what is counted."""
        from salbench.nn.flops import count_macs
        m = self._model if self._model is not None else self.build_model()
        self._model = self._model or _eval(m)
        return count_macs(m, (1, 3, int(size[0]), int(size[1])))["total"] / 1e9

    def signature(self) -> dict[str, Any]:
        sig = super().signature()
        if self.weights is not None and Path(self.weights).is_file():
            st = Path(self.weights).stat()
            sig["weights_size"] = st.st_size
            sig["weights_mtime"] = int(st.st_mtime)
        return sig


def _eval(m: nn.Module) -> Any:
    m.eval()
    return m
