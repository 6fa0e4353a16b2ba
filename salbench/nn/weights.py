"""Loading ImageNet weight files into :mod:`salbench.nn.backbones` by key mapping.

Formats recognised automatically (from the key names, never from the file name):

``torchvision``
    torchvision's own files (``resnet18/50-*.pth``, ``resnext101_32x8d-*.pth``,
    ``vgg16-*.pth``, ``densenet161-*.pth``): the backbones use torchvision's
    parameter names, so keys map to themselves. DenseNet files saved before
    torchvision 0.3 name the dense-layer parameters ``norm.1`` / ``conv.2``
    (format ``torchvision-densenet-old``); they are renamed ``norm1`` / ``conv2``.
``torch7-resnext``
    R3Net's ``resnext_101_32x4d.pth`` (the Torch7 model of Xie et al. converted
    to an ``nn.Sequential``; authors' ``resnext/resnext_101_32x4d_.py``): keys
    ``0.weight`` (conv1), ``1.*`` (bn1), ``4``..``7`` = layer1..layer4, each
    block ``<stage>.<block>.0.<branch>...`` where branch ``0`` holds
    ``0.0`` conv1, ``0.1`` bn1, ``0.3`` conv2, ``0.4`` bn2, ``1`` conv3, ``2``
    bn3 and branch ``1`` the projection shortcut (``0`` conv, ``1`` bn);
    ``10.1.*`` is the classifier.
``cadene-resnext``
    Cadene's ``pretrainedmodels`` ``resnext101_32x4d`` file: the same
    sequential numbering under ``features.``, classifier ``last_linear.*``.

Classifier keys (``fc.*``, ``classifier.*``, ``last_linear.*``, Torch7 ``10.*``)
are dropped. Files are read with ``torch.load(..., weights_only=True)``.
BatchNorm ``num_batches_tracked`` buffers absent from old files are not
reported as missing (they do not affect inference).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from salbench.errors import SalbenchError

__all__ = ["WeightsError", "load_backbone_weights", "read_state_dict", "detect_format",
           "map_backbone_state_dict", "load_backbone_state_dict", "torch7_block_key", "check_and_load", "TORCH7_BLOCK_PARTS"]


class WeightsError(SalbenchError):
    """A weight file that cannot be read or does not fit the model; names the file."""


#: Torch7-converted ResNeXt block: sequential path inside a block → torchvision name.
TORCH7_BLOCK_PARTS: dict[str, str] = {
    "0.0.0": "conv1", "0.0.1": "bn1", "0.0.3": "conv2", "0.0.4": "bn2",
    "0.1": "conv3", "0.2": "bn3", "1.0": "downsample.0", "1.1": "downsample.1",
}
_T7_BLOCK_RE = re.compile(r"^(\d+)\.0\.(0\.0\.[0-9]|0\.[12]|1\.[01])\.([A-Za-z_]+)$")
_DENSE_OLD_RE = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12])\.(weight|bias|running_mean|running_var|num_batches_tracked)$")
_CLASSIFIER_PREFIXES = ("fc.", "classifier.", "last_linear.")


def torch7_block_key(rest: str) -> str | None:
    """``"<block>.0.<path>.<param>"`` inside a Torch7 stage → ``"<block>.<name>.<param>"``
    (None when the key is not a block parameter)."""
    m = _T7_BLOCK_RE.match(rest)
    if not m or m.group(2) not in TORCH7_BLOCK_PARTS:
        return None
    return f"{m.group(1)}.{TORCH7_BLOCK_PARTS[m.group(2)]}.{m.group(3)}"


def _torch7_trunk_key(key: str) -> str | None:
    """Key of the Torch7 sequential ResNeXt (no prefix) → torchvision name; ``""`` for
    the classifier (dropped); None when not understood."""
    top, _, rest = key.partition(".")
    if not top.isdigit():
        return None
    t = int(top)
    if t == 0:
        return f"conv1.{rest}"
    if t == 1:
        return f"bn1.{rest}"
    if 4 <= t <= 7:
        sub = torch7_block_key(rest)
        return f"layer{t - 3}.{sub}" if sub else None
    if t >= 8:
        return ""
    return None


def load_error(path: str | Path, exc: BaseException, what: str = "PyTorch weight file") -> str:
    """One line saying why ``torch.load(path, weights_only=True)`` failed
    (empty, text, truncated, foreign objects, ...), naming the file. Never
    suggests loading with ``weights_only=False`` (that would run code from the
    file)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        size, head = None, b""
    if size == 0:
        why = "empty file (0 bytes)"
    elif head and not head.startswith(b"PK\x03\x04") and head[:1] != b"\x80" and (
            all(32 <= b < 127 or b in (9, 10, 13) for b in head)):
        why = "a text file, not a PyTorch file"
    elif isinstance(exc, EOFError) or "truncated" in str(exc) or "central directory" in str(exc):
        why = "truncated or damaged file"
    elif "Weights only load failed" in str(exc) or "Unsupported global" in str(exc):
        why = ("holds Python objects other than tensors and plain containers; refused "
               "(salbench never runs code from a weight file: save a plain state dict)")
    else:
        first = " ".join(str(exc).split())
        first = first.split(" Re-running")[0].split("weights_only")[0].rstrip(" (,:;")[:160]
        why = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return f"{path}: cannot read as a {what} ({why})"


#: device strings salbench accepts
DEVICE_HELP = "cpu, cuda or cuda:N"


def parse_device(device: Any) -> torch.device:
    """``torch.device(device)`` or a one-line :class:`SalbenchError` (``--device bogus``)."""
    if isinstance(device, torch.device):
        return device
    try:
        dev = torch.device(str(device))
    except (RuntimeError, ValueError, TypeError):
        raise SalbenchError(f"--device {device}: unknown device; use {DEVICE_HELP}") from None
    if dev.type not in ("cpu", "cuda", "mps"):
        raise SalbenchError(f"--device {device}: unsupported device type {dev.type!r}; use {DEVICE_HELP}")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SalbenchError(f"--device {device}: no CUDA device is available here; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise SalbenchError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here")
    return dev


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """``torch.load(weights_only=True)`` a file and unwrap ``{"state_dict": ...}`` /
    ``{"model": ...}`` and DataParallel ``module.`` prefixes."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: weight file does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated files, non-tensor payloads
        raise WeightsError(load_error(path, exc)) from None
    return unwrap_state_dict(obj, path)


def unwrap_state_dict(obj: Any, path: str | Path = "<state dict>") -> dict[str, torch.Tensor]:
    """The state dict inside a loaded file: ``obj`` itself, or its
    ``"state_dict"`` / ``"model"`` entry, with a ``module.`` prefix on every
    key (DataParallel) removed; :class:`WeightsError` naming ``path`` when it is
    not a mapping of names to tensors."""
    if isinstance(obj, Mapping):
        for k in ("state_dict", "model"):
            if k in obj and isinstance(obj[k], Mapping):
                obj = obj[k]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{path}: not a state dict (expected a mapping of names to tensors)")
    sd = dict(obj)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def detect_format(sd: Mapping[str, torch.Tensor]) -> str:
    """Name of the weight-file format of ``sd`` (see the module docstring)."""
    keys = list(sd)
    if "0.weight" in sd and any(k.startswith("4.0.0.") for k in keys):
        return "torch7-resnext"
    if "features.0.weight" in sd and any(k.startswith("features.4.0.0.") for k in keys):
        return "cadene-resnext"
    if any(_DENSE_OLD_RE.match(k) for k in keys):
        return "torchvision-densenet-old"
    return "torchvision"


def map_backbone_state_dict(sd: Mapping[str, torch.Tensor], fmt: str | None = None
                            ) -> tuple[dict[str, torch.Tensor], list[str], list[str], str]:
    """Map ``sd`` to backbone names. Returns ``(mapped, dropped, unknown, fmt)``:
    classifier keys are ``dropped``; keys of a recognised format that fit no rule
    are ``unknown`` (reported as unexpected by strict loading)."""
    fmt = fmt or detect_format(sd)
    mapped: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    unknown: list[str] = []
    for k, v in sd.items():
        if fmt == "torch7-resnext":
            nk = _torch7_trunk_key(k)
        elif fmt == "cadene-resnext":
            if k.startswith("last_linear."):
                nk = ""
            elif k.startswith("features."):
                nk = _torch7_trunk_key(k[len("features."):])
            else:
                nk = None
        else:
            if k.startswith(_CLASSIFIER_PREFIXES):
                nk = ""
            else:
                m = _DENSE_OLD_RE.match(k) if fmt == "torchvision-densenet-old" else None
                nk = f"{m.group(1)}{m.group(2)}.{m.group(3)}" if m else k
        if nk == "":
            dropped.append(k)
        elif nk is None:
            unknown.append(k)
            mapped[k] = v  # keep under its own name so strict loading names it
        else:
            mapped[nk] = v
    return mapped, dropped, unknown, fmt


def summarise_keys(items: list[str], limit: int = 12) -> str:
    """Up to ``limit`` keys in full; longer lists grouped by their first two name
    components (``refine.5.* (16)``) so that whole missing blocks stay visible."""
    if len(items) <= limit:
        return ", ".join(items)
    groups: dict[str, int] = {}
    for k in items:
        parts = k.split(":")[0].split(".")
        g = ".".join(parts[:2]) + ".*" if len(parts) > 2 else k
        groups[g] = groups.get(g, 0) + 1
    shown = [f"{g} ({n})" if n > 1 else g for g, n in groups.items()]
    if len(shown) > 3 * limit:
        shown = shown[:3 * limit] + [f"… {len(shown) - 3 * limit} more groups"]
    return ", ".join(shown)


def check_and_load(module: nn.Module, sd: Mapping[str, torch.Tensor], source: str | Path,
                   strict: bool = True, what: str = "model") -> dict[str, list[str]]:
    """Load ``sd`` into ``module`` after checking names and shapes.

    With ``strict`` any missing, unexpected or shape-mismatched key raises
    :class:`WeightsError` listing them and naming ``source``; otherwise the
    matching keys load and the lists are returned. ``num_batches_tracked``
    buffers may be absent."""
    own = module.state_dict()
    missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in sd if k not in own]
    mismatched = [f"{k}: file {tuple(sd[k].shape)} vs {what} {tuple(own[k].shape)}"
                  for k in sd if k in own and tuple(sd[k].shape) != tuple(own[k].shape)]
    if strict and (missing or unexpected or mismatched):
        def _fmt(title: str, items: list[str]) -> str:
            if not items:
                return ""
            return f"\n  {title} ({len(items)}): {summarise_keys(items)}"
        raise WeightsError(f"{source}: weights do not fit the {what}"
                           + _fmt("missing keys", missing) + _fmt("unexpected keys", unexpected)
                           + _fmt("shape mismatches", mismatched))
    bad = {m.split(":")[0] for m in mismatched}
    load = {k: v for k, v in sd.items() if k in own and k not in bad}
    module.load_state_dict(load, strict=False)
    return {"missing": missing, "unexpected": unexpected, "mismatched": mismatched}


def load_backbone_weights(backbone: nn.Module, path: str | Path, strict: bool = True
                          ) -> dict[str, Any]:
    """Load an ImageNet weight file into ``backbone`` (format auto-detected; see
    the module docstring). Returns ``{"format", "dropped", "missing",
    "unexpected", "mismatched"}``; with ``strict`` (default) any mismatch raises
    :class:`WeightsError` naming the file and the keys."""
    sd = read_state_dict(path)
    return load_backbone_state_dict(backbone, sd, source=path, strict=strict)


def load_backbone_state_dict(backbone: nn.Module, sd: Mapping[str, torch.Tensor],
                             source: str | Path = "<state dict>", strict: bool = True
                             ) -> dict[str, Any]:
    """:func:`load_backbone_weights` for a state dict already in memory."""
    mapped, dropped, _unknown, fmt = map_backbone_state_dict(sd)
    name = getattr(backbone, "name", "") or type(backbone).__name__
    report = check_and_load(backbone, mapped, f"{source} (format {fmt})", strict,
                            what=f"backbone {name}")
    return {"format": fmt, "dropped": dropped, **report}
