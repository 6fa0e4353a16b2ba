"""The shared base of every learned saliency method.

* :class:`SODNet` — an ``nn.Module`` with a backbone, returning all supervised
  outputs as logits at the input size, with its own loss and final map.
* :class:`LearnedMethod` — a :class:`salbench.plugins.registry.Method` that resolves a
  checkpoint (``--weights`` or ``checkpoints/<method>/*/final.pt``), builds the
  network, and predicts uint8 maps exactly as the R3Net authors' ``infer.py``
  does (full resolution by default; images of different sizes are never put
  in one tensor, so a map does not depend on the batch it was predicted in).

Hooks for a third-party pretrained network (a plugin of a few dozen lines):
:attr:`LearnedMethod.input_size`, :attr:`~LearnedMethod.mean` /
:attr:`~LearnedMethod.std`, :meth:`~LearnedMethod.build_model` (any
``nn.Module``), :meth:`~LearnedMethod.convert_state_dict`,
:meth:`~LearnedMethod.preprocess`, :meth:`~LearnedMethod.select_output`,
:meth:`~LearnedMethod.postprocess` (see ``examples/plugins/pretrained_net/``).

Weights are a checkpoint written by ``salbench train`` (the dicts of
:mod:`salbench.nn.checkpoint`, found under :func:`checkpoint_root` when no
``--weights`` is given) or a plain state dict of the whole model (subclasses
map foreign key names, e.g. the authors' released R3Net file, in
:meth:`LearnedMethod.convert_state_dict`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from salbench.errors import SalbenchError
from salbench.nn.backbones import build_backbone
from salbench.nn.checkpoint import CHECKPOINT_FORMAT, checkpoint_root, find_checkpoint
from salbench.nn.modules import upsample
from salbench.nn.weights import WeightsError, check_and_load, load_error, parse_device, unwrap_state_dict
from salbench.metrics.numeric import IMAGENET_MEAN, IMAGENET_STD
from salbench.plugins.options import Option
from salbench.plugins.registry import Method, MethodNotReady

__all__ = ["SODNet", "LearnedMethod", "CHECKPOINT_FORMAT", "checkpoint_root",
           "find_checkpoint", "upsample", "normalise_images", "to_uint8", "NON_ARCH_OPTIONS"]

#: learned options that do not shape the network (not compared with a checkpoint's).
NON_ARCH_OPTIONS: tuple[str, ...] = ("amp", "bn_init")

#: the ImageNet weight-file formats :func:`salbench.nn.weights.load_backbone_weights` reads.
ACCEPTED_IMAGENET_FILES = (
    "resnext_101_32x4d.pth (R3Net's Torch7-converted file), Cadene pretrainedmodels "
    "resnext101_32x4d, or torchvision's resnet18/resnet50/resnext101_32x8d/densenet161/vgg16 files")


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
        """All supervised outputs of ``x``, logit maps ``(B, 1, H, W)`` at the input size."""
        raise NotImplementedError

    def loss(self, outputs: Sequence[Tensor], target: Tensor) -> Tensor:
        """Sum over outputs of the mean binary cross-entropy with logits (weight 1 each)."""
        return sum(F.binary_cross_entropy_with_logits(o, target) for o in outputs)  # type: ignore[return-value]

    def final(self, outputs: Sequence[Tensor]) -> Tensor:
        """Probability map ``(B, 1, H, W)`` used at inference."""
        return torch.sigmoid(outputs[-1])


def _check_images(images: Sequence[np.ndarray], names: Sequence[str] | None) -> list[tuple[int, int]]:
    """Each image's (H, W); a :class:`SalbenchError` naming the first that is not H×W×3 uint8."""
    sizes = []
    for i, im in enumerate(images):
        if not (isinstance(im, np.ndarray) and im.ndim == 3 and im.shape[2] == 3 and im.dtype == np.uint8):
            who = names[i] if names is not None and i < len(names) else f"image #{i}"
            shape = getattr(im, "shape", None)
            dtype = getattr(im, "dtype", type(im).__name__)
            raise SalbenchError(f"{who}: expected an H×W×3 uint8 RGB image, got shape {shape} dtype {dtype}")
        sizes.append((int(im.shape[0]), int(im.shape[1])))
    return sizes


def normalise_images(images: Sequence[np.ndarray], names: Sequence[str] | None = None,
                     mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
                     ) -> tuple[Tensor, list[tuple[int, int]]]:
    """Stack **same-size** H×W×3 uint8 RGB images into one normalised float32
    batch ``(N, 3, H, W)``, exactly as torchvision's ``ToTensor()`` +
    ``Normalize(mean, std)`` do per image (``uint8 → float32, / 255``, then
    ``(x - mean) / std`` with float32 ``mean`` / ``std``; R3Net's ``infer.py``).
    Images of different sizes are refused (never padded). Returns the batch and
    each image's (H, W)."""
    sizes = _check_images(images, names)
    if len(set(sizes)) > 1:
        raise SalbenchError(f"normalise_images: images of different sizes {sorted(set(sizes))} "
                            f"cannot share one tensor (group them by size; padding would change "
                            f"the maps)")
    # np.stack copies (the uint8 source may be read-only, which torch warns about)
    x = torch.from_numpy(np.stack([np.asarray(im) for im in images])).permute(0, 3, 1, 2)
    x = x.to(torch.float32).div(255)
    m = torch.as_tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.as_tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return x.sub(m).div(s).contiguous(), sizes


def to_uint8(prob: Tensor) -> Tensor:
    """A probability map in [0, 1] to uint8 as torchvision's ``ToPILImage`` does
    for a float tensor (R3Net's ``infer.py``): ``mul(255).byte()``, i.e.
    **truncation** (0.999 → 254), after clamping to [0, 1]."""
    return prob.float().clamp(0, 1).mul(255).to(torch.uint8)


class LearnedMethod(Method):
    """Base of the learned methods (R3Net, the "+" baselines, third-party networks).

    Subclasses implement :meth:`build_model` (any ``nn.Module`` from
    ``self.options``; an :class:`SODNet` brings its own loss and ``final``) and
    may set :attr:`train_defaults` (overrides of the trainer's defaults) and
    :meth:`convert_state_dict` (foreign key names).

    Inference (:meth:`predict`) follows the R3Net authors' ``infer.py``:
    :meth:`preprocess` (``ToTensor`` + ``Normalize``), one forward pass,
    :meth:`select_output` (the sigmoid of the last output), :meth:`postprocess`
    (``ToPILImage``: ×255 and truncation). Images are grouped by size and each
    group runs in one forward pass; sizes are never mixed in one tensor (no
    padding), so every map is the same whatever the batch it came in.

    A third-party pretrained network overrides the class attributes
    :attr:`input_size`, :attr:`mean`, :attr:`std` and, where its own code
    differs, :meth:`preprocess` / :meth:`select_output` / :meth:`postprocess`.
    """

    OPTIONS: ClassVar[tuple[Option, ...]] = (
        Option("backbone", str, "resnext101_32x4d",
               "ImageNet backbone (resnext101_32x4d, resnet18, resnet50, densenet161, vgg16, ...)"),
        Option("amp", bool, False,
               "bf16 autocast + channels-last at inference on CUDA (not the authors' fp32)"),
        Option("bn_init", str, "uniform",
               "training only: decoder BatchNorm scale init: 'uniform' as PyTorch 0.4.0 "
               "(the authors') or 'ones'", choices=("uniform", "ones")),
    )

    kind: ClassVar[str] = "learned"
    needs_weights: ClassVar[bool] = True
    supports_crf: ClassVar[bool] = True
    default_crf: ClassVar[bool] = True
    parallel: ClassVar[str] = "none"
    batch_size: ClassVar[int] = 8
    input_note: ClassVar[str] = "RGB uint8 image of any size; run at full resolution, ImageNet-normalised"
    #: trainer-default overrides, e.g. ``{"lr": 1e-3}`` (see ``salbench.nn.train``).
    train_defaults: ClassVar[dict[str, Any]] = {}

    #: ``None`` (default): the network sees each image at full resolution.
    #: ``(H, W)``: every image is resized to ``(H, W)`` before the network
    #: (PIL ``Image.resize`` with ``BILINEAR`` on the uint8 RGB image, as
    #: torchvision's ``Resize`` does on a PIL image) and the probability map is
    #: resized back to the image's size (``torch.nn.functional.interpolate``,
    #: ``mode="bilinear"``, ``align_corners=False``) before the ×255 conversion.
    #: Also the size at which parameters / GMACs are reported (``cost_size``).
    input_size: ClassVar[tuple[int, int] | None] = None
    #: per-channel mean of the input normalisation, RGB in [0, 1] (ImageNet's).
    mean: ClassVar[tuple[float, float, float]] = IMAGENET_MEAN
    #: per-channel std of the input normalisation, RGB in [0, 1] (ImageNet's).
    std: ClassVar[tuple[float, float, float]] = IMAGENET_STD
    #: a weights file used when neither ``--weights`` nor a trained checkpoint
    #: is given (e.g. a file next to a plugin); relative paths are taken as is.
    default_weights: ClassVar[str | Path | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "input_size" in cls.__dict__ and "cost_size" not in cls.__dict__:
            cls.cost_size = tuple(cls.input_size) if cls.input_size else (300, 300)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._model: nn.Module | None = None
        self._state: dict[str, Tensor] | None = None
        self._weights_sha256: str | None = None
        #: options given by the caller (variant presets arrive here too)
        self._passed: set[str] = {k for k in kwargs if k not in ("weights", "device")}
        self.checkpoint_info: dict[str, Any] = {}
        parse_device(self.device)  # --device bogus: one line now, not a traceback at the first batch

    # -- to implement ---------------------------------------------------------
    def build_model(self) -> nn.Module:
        """A freshly initialised network from ``self.options`` (any ``nn.Module``;
        an :class:`SODNet` for the networks salbench trains)."""
        raise NotImplementedError

    def convert_state_dict(self, sd: dict[str, Tensor]) -> dict[str, Tensor]:
        """Map a foreign whole-model state dict (e.g. authors' release) to this
        model's key names; the default returns it unchanged. May raise
        :class:`MethodNotReady` (the file's path is prefixed to the message)."""
        return sd

    # -- inference hooks ----------------------------------------------------------
    def preprocess(self, images: Sequence[np.ndarray]) -> Tensor:
        """A group of **same-size** H×W×3 uint8 RGB images to the network's input
        ``(N, 3, h, w)`` float32 (on the CPU; :meth:`predict` moves it).

        Default: resize to :attr:`input_size` when set (PIL bilinear on the
        uint8 image), then torchvision's ``ToTensor`` + ``Normalize(mean, std)``
        bit for bit: ``uint8 → float32``, ``/ 255``, ``- mean``, ``/ std``
        (float32 ``mean`` / ``std``)."""
        if self.input_size is not None:
            from PIL import Image
            h, w = int(self.input_size[0]), int(self.input_size[1])
            images = [im if im.shape[:2] == (h, w) else
                      np.asarray(Image.fromarray(np.ascontiguousarray(im)).resize((w, h), Image.Resampling.BILINEAR))
                      for im in images]
        x, _ = normalise_images(images, mean=self.mean, std=self.std)
        return x

    def select_output(self, outputs: Any) -> Tensor:
        """The probability map ``(N, 1, h, w)`` in [0, 1] from the network's raw
        output. Default: ``model.final(outputs)`` when the model has ``final``
        (every :class:`SODNet`), else the sigmoid of the last element of a
        list / tuple, else the sigmoid of the tensor."""
        final = getattr(self.model, "final", None)
        if callable(final):
            return final(outputs)
        if isinstance(outputs, (list, tuple)):
            outputs = outputs[-1]
        return torch.sigmoid(outputs)

    def postprocess(self, prob: Tensor, sizes: Sequence[tuple[int, int]]) -> list[np.ndarray]:
        """``prob`` ``(N, 1, h, w)`` float in [0, 1] to one H×W uint8 map per image
        (``sizes`` are the images' (H, W)). Default: resize back to the image
        size when :attr:`input_size` is set (bilinear, ``align_corners=False``),
        then :func:`to_uint8` (clamp, ``mul(255).byte()``: truncation, as the
        R3Net authors' ``ToPILImage``)."""
        prob = prob.float()
        out = []
        for i, (h, w) in enumerate(sizes):
            p = prob[i:i + 1]
            if tuple(p.shape[-2:]) != (h, w):
                if self.input_size is None:
                    raise SalbenchError(f"{self.name}: the network returned a {tuple(p.shape[-2:])} map "
                                        f"for a {(h, w)} image; declare input_size or override "
                                        f"postprocess")
                p = F.interpolate(p, size=(h, w), mode="bilinear", align_corners=False)
            out.append(to_uint8(p)[0, 0].cpu().numpy())
        return out

    # -- model ----------------------------------------------------------------
    def model_options(self) -> dict[str, Any]:
        """The options that shape the network (all but ``amp`` and ``bn_init``)."""
        return {k: v for k, v in self.options.items() if k not in NON_ARCH_OPTIONS}

    @property
    def model(self) -> nn.Module:
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

    def explicit_options(self) -> set[str]:
        """Options set on purpose: passed by the caller (``--option``, the API) or
        preset by the variant (``r3net-ws`` sets ``shared``); a checkpoint may
        not override these."""
        base = next(c for c in type(self).__mro__ if not c.__dict__.get("_salbench_variant"))
        base_defaults = getattr(base, "default_options", {})
        missing = object()
        preset = {k for k, v in type(self).default_options.items() if base_defaults.get(k, missing) != v}
        return (preset | self._passed) - set(NON_ARCH_OPTIONS)

    # -- lifecycle --------------------------------------------------------------
    def prepare(self) -> None:
        """Resolve and load the weights (see the module docstring); raise
        :class:`MethodNotReady` with a how-to when there are none, or when the
        file does not fit the network (naming the file and the differences)."""
        path = self.weights
        if path is None and self.default_weights is not None and Path(self.default_weights).is_file():
            path = Path(self.default_weights)
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
            raise MethodNotReady(load_error(path, exc, "PyTorch checkpoint")) from None
        if isinstance(obj, Mapping) and obj.get("format") == CHECKPOINT_FORMAT:
            if "model" not in obj:
                raise MethodNotReady(f"{path}: salbench checkpoint without a 'model' entry")
            ck_method = str(obj.get("method") or "")
            mine = self.family or self.name
            if ck_method and ck_method.split("-")[0] != mine.split("-")[0]:
                raise MethodNotReady(f"{path}: checkpoint of method {ck_method!r}, not of "
                                     f"{self.name!r} (run it with --method {ck_method})")
            ck_opts = dict(obj.get("options") or {})
            known = {k: v for k, v in ck_opts.items()
                     if k in self.default_options and k not in NON_ARCH_OPTIONS}
            explicit = self.explicit_options()
            clash = {k: v for k, v in known.items() if k in explicit and v != self.options.get(k)}
            if clash:
                diff = ", ".join(f"{k}={v!r} (here {self.options.get(k)!r})" for k, v in sorted(clash.items()))
                raise MethodNotReady(
                    f"{path}: checkpoint of {ck_method or '?'} has {diff}; {self.name} sets "
                    f"{'them' if len(clash) > 1 else 'it'} explicitly. Run it with "
                    f"--method {ck_method or self.family or self.name} and no conflicting --option")
            self.options.update(known)  # options left at the base default follow the checkpoint
            self.checkpoint_info = {"method": obj.get("method"), "iteration": obj.get("iteration"),
                                    "options": ck_opts}
            sd = unwrap_state_dict(obj["model"], path)
        elif isinstance(obj, Mapping) and "format" in obj:
            raise MethodNotReady(f"{path}: unknown checkpoint format {obj.get('format')!r} "
                                 f"(expected {CHECKPOINT_FORMAT!r})")
        else:
            try:
                sd = unwrap_state_dict(obj, path)
                sd = self.convert_state_dict(sd)
            except (WeightsError, MethodNotReady) as exc:
                msg = str(exc)
                raise MethodNotReady(msg if str(path) in msg else f"{path}: {msg}") from exc
            self.checkpoint_info = {"method": None, "iteration": None, "options": None}
        self.weights = path
        self._weights_sha256 = None
        self._model = None
        self._state = sd
        try:
            model = self.model  # builds and loads strictly now, before any image is read
        except WeightsError as exc:
            raise MethodNotReady(str(exc)) from exc
        model.to(self.device)

    def identity(self) -> dict[str, Any]:
        """What determines the maps beyond name, options and code: the weights
        file's sha256 and path (also when found automatically), the checkpoint
        info, the output conversion and the input convention."""
        sha = None
        if self.weights is not None and Path(self.weights).is_file():
            if self._weights_sha256 is None:
                from salbench.run.identity import sha256_file
                self._weights_sha256 = sha256_file(self.weights)
            sha = self._weights_sha256
        return {"weights_sha256": sha, "weights": str(self.weights) if self.weights else None,
                "checkpoint": self.checkpoint_info, "postprocess": "truncate",
                "input_size": list(self.input_size) if self.input_size else None,
                "mean": list(self.mean), "std": list(self.std)}

    # -- inference -------------------------------------------------------------
    def _forward(self, x: Tensor) -> Any:
        model = self.model
        if x.device.type == "cuda" and bool(self.options.get("amp")):
            model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                return model(x)
        return model(x)

    @torch.inference_mode()
    def predict(self, images: Sequence[np.ndarray], names: Sequence[str]) -> list[np.ndarray]:
        """One uint8 map per image at its own size, as the R3Net authors'
        ``infer.py``: :meth:`preprocess` → network → :meth:`select_output` →
        :meth:`postprocess` (×255, truncation).

        Images are grouped by (H, W), keeping the output order; each group runs
        in one forward pass. Sizes are never mixed in one tensor (no padding),
        so a map does not depend on which images share its call."""
        if len(images) == 0:
            return []
        sizes = _check_images(images, names)
        model = self.model
        device = torch.device(self.device)
        p = next(model.parameters(), None)
        if p is not None and p.device != device:
            model.to(device)
        model.eval()
        groups: dict[tuple[int, int], list[int]] = {}
        for i, s in enumerate(sizes):
            groups.setdefault(s, []).append(i)
        out: list[np.ndarray | None] = [None] * len(images)
        for size, idx in groups.items():
            x = self.preprocess([images[i] for i in idx]).to(device)
            prob = self.select_output(self._forward(x))
            for i, m in zip(idx, self.postprocess(prob, [size] * len(idx))):
                out[i] = m
        return out  # type: ignore[return-value]

    # -- description -----------------------------------------------------------
    def count_params(self) -> int:
        """Parameters of the network (backbones carry no classifier)."""
        m = self._model if self._model is not None else self.build_model()
        self._model = self._model or _eval(m)
        return sum(p.numel() for p in m.parameters())

    def gmacs(self, size: tuple[int, int] | None = None) -> float:
        """Multiply-accumulates ×1e9 of one forward pass at ``size`` (H, W;
        default :attr:`cost_size`). A network with a fixed :attr:`input_size`
        always runs at that size, whatever ``size`` says. See
        :mod:`salbench.nn.flops` for what is counted."""
        from salbench.nn.flops import count_macs
        if self.input_size is not None:
            size = tuple(self.input_size)
        elif size is None:
            size = tuple(self.cost_size)
        m = self._model if self._model is not None else self.build_model()
        self._model = self._model or _eval(m)
        return count_macs(m, (1, 3, int(size[0]), int(size[1])))["total"] / 1e9


def _eval(m: nn.Module) -> Any:
    m.eval()
    return m
