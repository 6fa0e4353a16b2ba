"""Training data for the learned methods: image/mask pairs, the joint
augmentation of R3Net's training script, and a deterministic, resumable,
shardable sample order.

Augmentation follows R3Net's ``train.py`` / ``joint_transforms.py``
(Deng et al., IJCAI 2018; github.com/zijundeng/R3Net), in the same order:

1. random crop of ``crop × crop``; an image smaller than that on either side
   is resized to ``crop × crop`` instead (image bilinear, mask nearest);
2. horizontal flip with probability 0.5;
3. rotation by an angle uniform in ``[-rotate, +rotate]`` degrees around the
   centre, same canvas size, corners filled with black (image bilinear, mask
   nearest);
4. ``ToTensor`` and ImageNet mean/std normalisation of the image.

Differences from the reference code, all deliberate:

* the ground truth is binarised (``>= GT_THRESHOLD_TRAIN`` of 255) when it is
  read, so grey-level masks (PASCAL-S) give binary targets; R3Net trained on
  MSRA10K whose masks are already binary and used ``mask / 255``;
* every random decision of a sample comes from its own generator seeded by
  ``(seed, stream position)`` instead of the process-global ``random`` module.
  The result is identical whatever the number of DataLoader workers or
  processes, and a run stopped at iteration *N* and resumed sees exactly the
  samples the uninterrupted run would have seen;
* the sample order is an endless stream of per-epoch permutations (epoch *e*
  shuffled by ``randperm`` seeded with ``(seed, e)``), cut into global batches
  of a fixed size that may straddle an epoch boundary; R3Net's DataLoader
  (``shuffle=True``) ended each epoch with a smaller batch.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from salbench.data.datasets import is_image_file
from salbench.errors import InputError, SalbenchError
from salbench.metrics.numeric import GT_THRESHOLD_TRAIN, IMAGENET_MEAN, IMAGENET_STD



@dataclass(frozen=True)
class TrainPair:
    """One training example: ``name`` (stem), RGB ``image`` and ``gt`` mask paths."""

    name: str
    image: Path
    gt: Path


# --------------------------------------------------------------------------
# finding the pairs
# --------------------------------------------------------------------------

def resolve_training_set(dataset: str, data_root: str | Path | None = None) -> tuple[str, list[TrainPair]]:
    """``(name, pairs)`` of a training set, found by
    :func:`salbench.data.datasets.resolve` (registered names such as
    ``MSRA10K``, ``demo-train``, or an explicit folder). Files it had to skip
    are a warning on stderr; a set without pairs is an error."""
    from salbench.data.datasets import resolve

    ds = resolve(dataset, data_root=data_root)
    name = str(ds.name)
    pairs = [TrainPair(str(p.name), Path(p.image), Path(p.gt)) for p in ds.pairs]
    problems = list(ds.problems)
    if problems:
        shown = "; ".join(str(x) for x in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        print(f"warning: {name}: {len(problems)} file(s) skipped: {shown}{more}", file=sys.stderr)
    if not pairs:
        raise SalbenchError(f"training set {dataset!r} has no image/ground-truth pairs")
    return name, pairs


def folder_pairs(folder: str | Path) -> list[TrainPair]:
    """The pairs of one folder without the dataset registry: pairs of ``folder/images/x.jpg`` + ``folder/gt/x.png`` (or a flat folder
    of ``x.jpg`` + ``x.png``), sorted by name. Images without a mask are an error."""
    folder = Path(folder)
    img_dir, gt_dir = folder / "images", folder / "gt"
    if img_dir.is_dir() and gt_dir.is_dir():
        images = sorted(p for p in img_dir.iterdir() if is_image_file(p))
        gts = {p.stem: p for p in gt_dir.iterdir() if p.suffix.lower() == ".png"}
    else:
        # a flat folder holds both: photos are the JPEGs, masks the PNGs
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
        gts = {p.stem: p for p in folder.iterdir() if p.suffix.lower() == ".png"}
    pairs = []
    for img in images:
        if img.stem not in gts:
            raise InputError(img, "no ground-truth mask with the same name (<name>.png)")
        pairs.append(TrainPair(img.stem, img, gts[img.stem]))
    return pairs


def check_pairs(pairs: Sequence[TrainPair]) -> None:
    """Open every header once before training so a broken or mismatched file
    fails at start-up, naming the file, instead of hours into a run."""
    for p in pairs:
        isz = _header_size(p.image)
        gsz = _header_size(p.gt)
        if isz != gsz:
            raise InputError(p.gt, f"ground truth is {gsz[0]}x{gsz[1]} but image {p.image.name} "
                                   f"is {isz[0]}x{isz[1]}")


def _header_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        raise InputError(path, "file does not exist") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(path, f"cannot be read as an image ({exc})") from None


def load_pair(pair: TrainPair) -> tuple[Image.Image, Image.Image]:
    """RGB image and binarised ``L`` mask (0/255) of one pair."""
    try:
        with Image.open(pair.image) as im:
            img = im.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(pair.image, f"cannot be decoded ({exc})") from None
    try:
        with Image.open(pair.gt) as gm:
            gt = np.asarray(gm.convert("L"))
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(pair.gt, f"cannot be decoded ({exc})") from None
    if img.size != (gt.shape[1], gt.shape[0]):
        raise InputError(pair.gt, f"ground truth is {gt.shape[1]}x{gt.shape[0]} but image "
                                  f"{pair.image.name} is {img.size[0]}x{img.size[1]}")
    mask = Image.fromarray(np.where(gt >= GT_THRESHOLD_TRAIN, 255, 0).astype(np.uint8), "L")
    return img, mask


# --------------------------------------------------------------------------
# augmentation
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Augment:
    """R3Net's joint augmentation (see the module docstring).

    ``crop=0`` disables cropping (batching then needs equal sizes, e.g. from
    ``resize``)."""

    crop: int = 300
    flip: bool = True
    rotate: float = 10.0
    #: not in R3Net: when > 0, first resize every pair to ``resize × resize``
    #: (image bilinear, mask nearest), as many later SOD trainers do; used by
    #: the CPU-budget experiment so a small crop still sees most of the scene.
    resize: int = 0

    def __call__(self, img: Image.Image, mask: Image.Image,
                 rng: np.random.Generator) -> tuple[Image.Image, Image.Image]:
        if self.resize:
            img = img.resize((self.resize, self.resize), Image.BILINEAR)
            mask = mask.resize((self.resize, self.resize), Image.NEAREST)
        w, h = img.size
        c = self.crop
        if c:
            if w < c or h < c:
                img = img.resize((c, c), Image.BILINEAR)
                mask = mask.resize((c, c), Image.NEAREST)
                # R3Net draws no offsets here; drawing them anyway keeps the
                # number of draws per sample fixed (and changes nothing else)
                rng.integers(0, 1, size=2)
            else:
                x0 = int(rng.integers(0, w - c + 1))
                y0 = int(rng.integers(0, h - c + 1))
                box = (x0, y0, x0 + c, y0 + c)
                img, mask = img.crop(box), mask.crop(box)
        flip = bool(rng.random() < 0.5)
        if self.flip and flip:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
            mask = mask.transpose(Image.FLIP_LEFT_RIGHT)
        angle = float(rng.uniform(-self.rotate, self.rotate)) if self.rotate else 0.0
        if angle:
            img = img.rotate(angle, Image.BILINEAR)
            mask = mask.rotate(angle, Image.NEAREST)
        return img, mask


def to_tensors(img: Image.Image, mask: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised ``3×H×W`` float image and ``1×H×W`` {0,1} float mask."""
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(3, 1, 1)
    x = (x - mean) / std
    y = torch.from_numpy((np.asarray(mask) >= GT_THRESHOLD_TRAIN).astype(np.float32))[None]
    return x.contiguous(), y


# --------------------------------------------------------------------------
# deterministic sample stream
# --------------------------------------------------------------------------

def epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The order of epoch ``epoch``: ``randperm(n)`` from a generator seeded by
    ``(seed, epoch)`` (independent of every global RNG)."""
    g = torch.Generator()
    g.manual_seed(int(np.random.SeedSequence([seed, epoch, 0x5A1]).generate_state(1, np.uint64)[0] >> 1))
    return torch.randperm(n, generator=g)


class StreamDataset(torch.utils.data.Dataset):
    """Indexed by *stream position* ``p`` (0, 1, 2, … across epochs): sample
    ``p`` is pair ``perm_e[p mod n]`` of epoch ``e = p // n``, augmented with a
    generator seeded by ``(seed, p)``. Returns ``(image, mask)`` tensors."""

    def __init__(self, pairs: Sequence[TrainPair], augment: Augment, seed: int) -> None:
        self.pairs = list(pairs)
        self.augment = augment
        self.seed = int(seed)
        self._perm_epoch = -1
        self._perm: torch.Tensor | None = None

    def __len__(self) -> int:  # the stream is endless; a DataLoader only needs a sampler
        return len(self.pairs)

    def index_of(self, position: int) -> int:
        """The index in ``pairs`` of stream position ``position``."""
        n = len(self.pairs)
        epoch, k = divmod(int(position), n)
        if epoch != self._perm_epoch:
            self._perm = epoch_permutation(n, self.seed, epoch)
            self._perm_epoch = epoch
        assert self._perm is not None
        return int(self._perm[k])

    def __getitem__(self, position: int) -> tuple[torch.Tensor, torch.Tensor]:
        pair = self.pairs[self.index_of(position)]
        img, mask = load_pair(pair)
        rng = np.random.default_rng([self.seed, int(position), 0xA06])
        img, mask = self.augment(img, mask, rng)
        return to_tensors(img, mask)


class ShardedBatchSampler(torch.utils.data.Sampler):
    """Yields, for iterations ``start .. stop-1``, this rank's share of each
    global batch: global batch ``it`` is stream positions
    ``[it·B, (it+1)·B)``; rank ``r`` of ``W`` takes the contiguous slice
    ``[r·B/W, (r+1)·B/W)``. Deterministic, so resuming at ``start`` continues
    the exact order, and the union over ranks is the single-process batch."""

    def __init__(self, global_batch: int, start: int, stop: int, rank: int = 0, world: int = 1) -> None:
        if global_batch % world:
            raise SalbenchError(f"batch size {global_batch} is not divisible by the number of "
                                f"processes {world}; the global batch is split evenly")
        self.global_batch, self.start, self.stop = int(global_batch), int(start), int(stop)
        self.rank, self.world = int(rank), int(world)
        self.local = self.global_batch // self.world

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        for it in range(self.start, self.stop):
            base = it * self.global_batch + self.rank * self.local
            yield list(range(base, base + self.local))


def _worker_init(_: int) -> None:
    """DataLoader workers ignore Ctrl-C: the main process finishes the step,
    saves and stops (see :class:`salbench.nn.train.Trainer`)."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def make_loader(pairs: Sequence[TrainPair], augment: Augment, seed: int, global_batch: int,
                start: int, stop: int, rank: int = 0, world: int = 1, workers: int = 0,
                pin_memory: bool = False) -> torch.utils.data.DataLoader:
    """DataLoader over iterations ``start..stop-1`` of the deterministic stream."""
    ds = StreamDataset(pairs, augment, seed)
    sampler = ShardedBatchSampler(global_batch, start, stop, rank, world)
    return torch.utils.data.DataLoader(
        ds, batch_sampler=sampler, num_workers=int(workers), pin_memory=pin_memory,
        worker_init_fn=_worker_init if workers else None,
        persistent_workers=False, prefetch_factor=(4 if workers else None))
