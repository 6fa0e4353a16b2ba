"""Benchmark datasets: what they are, where to get them, and how to find them on disk.

The registry :data:`DATASETS` lists the five test sets of the R3Net paper
(Deng et al., IJCAI 2018, Sec. 3.2: ECSSD 1000, HKU-IS 4447, PASCAL-S 850,
SOD 300, DUT-OMRON 5168), its training set MSRA10K (10000), and DUTS-TR /
DUTS-TE (the later common training / test pair), plus the embedded ``demo``
and ``demo-train`` splits that :mod:`salbench.data.demo` generates on first use.

Finding a dataset under a data root (``--data-root``, else ``$SALBENCH_DATA``,
else the repository's ``datasets/`` folder when salbench is installed from a
checkout, else ``./datasets``):

* the dataset's folder is matched by name, case- and punctuation-insensitively,
  among its usual spellings (``HKU-IS`` / ``HKUIS`` / ``hku_is``, ``DUT-OMRON`` /
  ``DUT-O`` / ``DUTOMRON``, ``PASCAL-S`` / ``PASCALS`` / ``pascal`` ...), also one
  level down (``DUTS/DUTS-TR``);
* inside it, images and ground truth are either in two sub-folders (``images`` /
  ``Imgs`` / ``Image`` / ``imgs`` / ``JPEGImages`` / ``DUTS-TR-Image`` ... and
  ``gt`` / ``GT`` / ``masks`` / ``Mask`` / ``DUTS-TR-Mask`` / ``ground_truth`` ...),
  or flat side by side (``name.jpg`` + ``name.png``, the layout the R3Net code
  reads), possibly inside one more wrapping folder of the same name.

Images and GT pair by file stem. Unpaired files and more pairs than the
registered count are reported as *problems* (the dataset still resolves); a
folder holding fewer pairs than the registered count is *partial*, not a problem (:attr:`Dataset.partial`,
shown ``n/N`` by ``salbench datasets`` and ``salbench report``). Two image files
(or two GT files) of one stem are an error naming both files.

Dataset names: :func:`canonical_name` is the one resolver of names and aliases
(``pascal`` / ``pascal-s`` / ``PASCALS`` -> ``PASCAL-S``); ``run`` (through
:func:`expand` / :func:`resolve`), ``report`` and ``datasets`` all use it.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from salbench.errors import SalbenchError

#: file extensions read as images (lower case, with the dot): what ``salbench
#: eval`` pairs, what dataset folders and precomputed-map folders may hold
IMAGE_EXTS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif")
#: the lossless ones among them
LOSSLESS_EXTS: tuple[str, ...] = (".png", ".bmp", ".tif", ".tiff")


def is_image_file(path: str | Path, exclude: tuple[str, ...] = ()) -> bool:
    """``path``'s extension is one of :data:`IMAGE_EXTS` (and not in ``exclude``)."""
    ext = Path(path).suffix.lower()
    return ext in IMAGE_EXTS and ext not in exclude


def lossless_first(path: str | Path) -> tuple[int, int]:
    """Sort key of image files: lossless formats first, then the order of
    :data:`IMAGE_EXTS` (PNG, BMP, TIFF, JPEG, GIF)."""
    ext = Path(path).suffix.lower()
    rank = IMAGE_EXTS.index(ext) if ext in IMAGE_EXTS else len(IMAGE_EXTS)
    return (0 if ext in LOSSLESS_EXTS else 1, rank)


#: extensions of :data:`IMAGE_EXTS` read as GT but never as a photo
NOT_PHOTO_EXTS = (".gif",)

#: folder names (normalised: lower case, no punctuation) that hold images
IMAGE_DIR_NAMES = ("images", "image", "imgs", "img", "im", "jpegimages", "rgb",
                   "input", "inputs", "src", "stimuli")
#: folder names (normalised) that hold the ground-truth masks
GT_DIR_NAMES = ("gt", "gts", "groundtruth", "mask", "masks", "annotation", "annotations",
                "label", "labels", "gtmaps", "gtmask", "gtmasks", "segmentations",
                "binarymasks")


@dataclass(frozen=True)
class DatasetInfo:
    """One benchmark dataset: expected count, role, where it comes from."""

    name: str
    count: int
    role: str  # "test", "train", "train+test"
    source: str
    layout: str
    aliases: tuple[str, ...] = ()
    paper: str = ""


@dataclass(frozen=True)
class Pair:
    """One image of a dataset: its name (file stem), photo and GT mask."""
    name: str
    image: Path
    gt: Path


@dataclass
class Dataset:
    """A dataset as found on disk."""

    name: str
    root: Path
    pairs: list[Pair]
    problems: list[str] = field(default_factory=list)
    info: DatasetInfo | None = None
    layout: str = ""

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def expected(self) -> int | None:
        """The registered number of images (None: an ad-hoc folder or a demo split)."""
        return self.info.count if self.info is not None else None

    @property
    def partial(self) -> bool:
        """True when the folder holds fewer pairs than the registered count."""
        return self.expected is not None and len(self.pairs) < self.expected

    @property
    def count_label(self) -> str:
        """``n/N`` for a partial dataset, else ``n``."""
        return f"{len(self.pairs)}/{self.expected}" if self.partial else str(len(self.pairs))


_GET = "Put it under the data root as <root>/{name}/ with images/ and gt/ (or flat name.jpg + name.png)."

DATASETS: dict[str, DatasetInfo] = {d.name.lower(): d for d in [
    DatasetInfo("ECSSD", 1000, "test",
                "Extended Complex Scene Saliency Dataset (Yan et al., CVPR 2013): "
                "https://www.cse.cuhk.edu.hk/leojia/projects/hsaliency/dataset.html "
                "(images.zip + ground_truth_mask.zip)",
                "images/*.jpg + ground_truth_mask/*.png", ("ecssd",),
                "Yan et al., CVPR 2013"),
    DatasetInfo("HKU-IS", 4447, "test",
                "HKU-IS (Li & Yu, CVPR 2015): https://i.cs.hku.hk/~yzyu/research/deep_saliency.html "
                "(imgs/ + gt/)", "imgs/*.png + gt/*.png", ("hkuis", "hku-is", "hku_is", "hku"),
                "Li & Yu, CVPR 2015"),
    DatasetInfo("PASCAL-S", 850, "test",
                "PASCAL-S (Li et al., CVPR 2014): https://cbs.ic.gatech.edu/salobj/ "
                "(datasets/imgs/pascal + datasets/masks/pascal; grey-level GT, binarised at 128)",
                "images/*.jpg + gt/*.png", ("pascals", "pascal", "pascal-s", "pascal_s"),
                "Li et al., CVPR 2014"),
    DatasetInfo("SOD", 300, "test",
                "SOD (Movahedi & Elder, CVPRW 2010), the 300 BSDS images with salient-object "
                "masks; the version of Hou et al. (DSS, CVPR 2017)", "images/*.jpg + gt/*.png",
                ("sod",), "Movahedi & Elder, CVPRW 2010"),
    DatasetInfo("DUT-OMRON", 5168, "test",
                "DUT-OMRON (Yang et al., CVPR 2013): http://saliencydetection.net/dut-omron/ "
                "(DUT-OMRON-image + pixelwiseGT-new-PNG)",
                "DUT-OMRON-image/*.jpg + pixelwiseGT-new-PNG/*.png",
                ("dutomron", "dut-omron", "dut_omron", "dut-o", "duto", "omron"),
                "Yang et al., CVPR 2013"),
    DatasetInfo("MSRA10K", 10000, "train",
                "MSRA10K (Cheng et al., TPAMI 2015): https://mmcheng.net/msra10k/ "
                "(MSRA10K_Imgs_GT.zip: Imgs/ with name.jpg + name.png side by side); "
                "the training set of the R3Net paper",
                "Imgs/*.jpg + Imgs/*.png (flat)", ("msra10k", "msra-10k", "msra10kimgsgt", "msrak10k"),
                "Cheng et al., TPAMI 2015"),
    DatasetInfo("DUTS-TR", 10553, "train",
                "DUTS training split (Wang et al., CVPR 2017): http://saliencydetection.net/duts/ "
                "(DUTS-TR.zip)", "DUTS-TR-Image/*.jpg + DUTS-TR-Mask/*.png",
                ("dutstr", "duts-tr", "duts_tr", "duts/duts-tr", "duts-train"), "Wang et al., CVPR 2017"),
    DatasetInfo("DUTS-TE", 5019, "test",
                "DUTS test split (Wang et al., CVPR 2017): http://saliencydetection.net/duts/ "
                "(DUTS-TE.zip)", "DUTS-TE-Image/*.jpg + DUTS-TE-Mask/*.png",
                ("dutste", "duts-te", "duts_te", "duts/duts-te", "duts-test"), "Wang et al., CVPR 2017"),
]}

#: ``--datasets all``: the five test sets of the R3Net paper, in its column order.
TEST_SETS: tuple[str, ...] = ("ECSSD", "HKU-IS", "PASCAL-S", "SOD", "DUT-OMRON")

#: the embedded, procedurally generated splits (see :mod:`salbench.data.demo`)
DEMO_SETS = {"demo": "test", "demo-train": "train"}


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def info(name: str) -> DatasetInfo | None:
    """The registered dataset called ``name`` (any case / punctuation, or an alias)."""
    key = _norm(name)
    if not key:
        return None
    for d in DATASETS.values():
        if key == _norm(d.name) or key in {_norm(a) for a in d.aliases}:
            return d
    return None


def canonical_name(name: str) -> str:
    """The one spelling of dataset ``name``: the registered name for a registered
    name or alias, case- and punctuation-insensitively (``pascal``, ``Pascal-S``,
    ``PASCALS`` -> ``PASCAL-S``; ``duts-te`` / ``dutste`` -> ``DUTS-TE``), ``demo``
    / ``demo-train`` for the embedded splits; any other name (an ad-hoc folder)
    is returned unchanged, stripped of surrounding blanks."""
    name = name.strip()
    if ("/" in name or "\\" in name) and not any(
            name.lower() == a.lower() for d in DATASETS.values() for a in d.aliases):
        return name  # a path (an ad-hoc dataset), not a name
    d = info(name)
    if d is not None:
        return d.name
    key = _norm(name)
    for demo_name in DEMO_SETS:
        if key == _norm(demo_name):
            return demo_name
    return name


def same_dataset(a: str, b: str) -> bool:
    """Whether two dataset names denote the same dataset (through :func:`canonical_name`;
    unregistered names compare case-insensitively)."""
    return canonical_name(a).lower() == canonical_name(b).lower()


def expected_count(name: str) -> int | None:
    """The registered number of images of dataset ``name``, or None (not registered:
    an ad-hoc folder; the demo splits are generated whole and never partial)."""
    d = info(name)
    return d.count if d is not None else None


def count_label(name: str, count: int | None) -> str | None:
    """``"n/N"`` when ``count`` images of dataset ``name`` are fewer than its
    registered count N (a partial dataset), else None."""
    n_exp = expected_count(name)
    if n_exp is None or count is None:
        return None
    try:
        n = int(count)
    except (TypeError, ValueError):
        return None
    return f"{n}/{n_exp}" if n < n_exp else None


def root_folder(arg: str | Path | None = None) -> Path:
    """The data root: ``arg``, else ``$SALBENCH_DATA``, else ``datasets/`` of the
    checkout salbench is installed from (editable install), else ``./datasets``."""
    if arg:
        return Path(arg).expanduser()
    env = os.environ.get("SALBENCH_DATA")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file():
        return checkout / "datasets"
    return Path.cwd() / "datasets"


# -- layout recognition -------------------------------------------------------

def _listdir(d: Path) -> list[Path]:
    try:
        return sorted(d.iterdir())
    except OSError:
        return []


def _files(d: Path, exclude: tuple[str, ...] = (), only: tuple[str, ...] | None = None) -> list[Path]:
    """The image files of ``d`` (hidden ones left out), without the
    extensions ``exclude``, or only those of ``only``."""
    return [p for p in _listdir(d) if p.is_file() and is_image_file(p, exclude)
            and (only is None or p.suffix.lower() in only) and not p.name.startswith(".")]


def _dir_role(name: str) -> str | None:
    n = _norm(name)
    # DUTS-TR-Image / DUTS-TE-Mask / DUT-OMRON-image / pixelwiseGT-new-PNG / ground_truth_mask
    for cand in IMAGE_DIR_NAMES:
        if n == cand or (n.endswith(cand) and cand in ("image", "images", "imgs")):
            return "image"
    for cand in GT_DIR_NAMES:
        if n == cand or n.endswith(cand) or n.startswith(cand):
            return "gt"
    if "pixelwisegt" in n or "groundtruth" in n:
        return "gt"
    return None


def _find_layout(d: Path, depth: int = 1, prefix: str = "") -> tuple[Path, Path, str] | None:
    """(image dir, gt dir, layout note) for a dataset folder, or None.

    Tries an image folder beside a GT folder, then the flat name.jpg +
    name.png layout, then (``depth`` levels down) one wrapping folder
    (ECSSD/ECSSD/..., MSRA10K_Imgs_GT/Imgs/...). ``prefix`` is the path of
    ``d`` below the dataset folder, for the note."""
    subdirs = [p for p in _listdir(d) if p.is_dir() and not p.name.startswith(".")]
    img_dirs = [p for p in subdirs if _dir_role(p.name) == "image" and _files(p, NOT_PHOTO_EXTS)]
    gt_dirs = [p for p in subdirs if _dir_role(p.name) == "gt" and _files(p)]
    if img_dirs and gt_dirs:
        return img_dirs[0], gt_dirs[0], f"{prefix}{img_dirs[0].name}/ + {prefix}{gt_dirs[0].name}/"
    jpgs = {p.stem for p in _files(d, only=(".jpg", ".jpeg"))}
    pngs = {p.stem for p in _files(d, only=(".png",))}
    if jpgs and pngs and len(jpgs & pngs) >= max(1, len(jpgs) // 2):
        return d, d, f"flat {prefix}name.jpg + name.png"
    if depth > 0:
        for sub in subdirs:
            found = _find_layout(sub, depth - 1, f"{prefix}{sub.name}/")
            if found:
                return found
    return None


def _by_stem(files: list[Path], what: str) -> dict[str, Path]:
    """``stem -> file``; two files of one stem (``a.jpg`` and ``a.png``) are an error
    naming both: which one is meant cannot be guessed."""
    out: dict[str, Path] = {}
    for p in files:
        if p.stem in out:
            raise SalbenchError(f"{out[p.stem]} and {p}: two {what} files for image {p.stem!r}; keep one")
        out[p.stem] = p
    return out


def _pair_up(img_dir: Path, gt_dir: Path) -> tuple[list[Pair], list[str]]:
    problems: list[str] = []
    if img_dir == gt_dir:  # flat: images are the non-png files
        images = _by_stem(_files(img_dir, NOT_PHOTO_EXTS + (".png",)), "image")
        gts = _by_stem(_files(gt_dir, only=(".png",)), "ground-truth")
    else:
        images = _by_stem(_files(img_dir, NOT_PHOTO_EXTS), "image")
        gts = _by_stem(_files(gt_dir), "ground-truth")
    lone_img = sorted(set(images) - set(gts))
    lone_gt = sorted(set(gts) - set(images))
    if lone_img:
        problems.append(f"{len(lone_img)} image(s) without GT in {gt_dir}, e.g. "
                        + ", ".join(str(images[n].name) for n in lone_img[:3]))
    if lone_gt:
        problems.append(f"{len(lone_gt)} GT file(s) without image in {img_dir}, e.g. "
                        + ", ".join(str(gts[n].name) for n in lone_gt[:3]))
    pairs = [Pair(n, images[n], gts[n]) for n in sorted(set(images) & set(gts))]
    return pairs, problems


def find_folder(name: str, root: Path) -> Path | None:
    """The folder of dataset ``name`` under ``root`` (usual spellings, one level deep too)."""
    d = info(name)
    wanted = {_norm(name)}
    if d:
        wanted |= {_norm(d.name)} | {_norm(a) for a in d.aliases}
    top = [p for p in _listdir(root) if p.is_dir()]
    for p in top:
        if _norm(p.name) in wanted:
            return p
    for p in top:  # DUTS/DUTS-TR, salient/ECSSD, ...
        for q in _listdir(p):
            if q.is_dir() and _norm(q.name) in wanted:
                return q
    return None


def load_folder(folder: Path, name: str | None = None, info_: DatasetInfo | None = None) -> Dataset:
    """A dataset from an explicit folder (any recognised layout)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SalbenchError(f"{folder}: not a folder")
    found = _find_layout(folder)
    if found is None:
        raise SalbenchError(
            f"{folder}: no images/GT found (expected images/ + gt/ sub-folders such as "
            f"Imgs/ + GT/, or name.jpg + name.png side by side)")
    img_dir, gt_dir, note = found
    pairs, problems = _pair_up(img_dir, gt_dir)
    if info_ is not None and len(pairs) > info_.count:
        problems.append(f"found {len(pairs)} pairs, more than the {info_.count} registered")
    if not pairs:
        raise SalbenchError(f"{folder}: no image has a ground-truth mask of the same name "
                            + "; ".join(problems))
    return Dataset(name or folder.resolve().name, folder, pairs, problems, info_, note)


def how_to_get(name: str, root: Path) -> str:
    """Where a registered dataset comes from and where to put it ("" for an unknown name)."""
    d = info(name)
    if d is None:
        return ""
    return (f"{d.name} ({d.count} images, {d.role}): {d.source}. "
            + _GET.format(name=d.name).replace("<root>", str(root)))


def resolve(name: str, data_root: str | Path | None = None) -> Dataset:
    """Find dataset ``name`` (case-insensitive, usual spellings) under the data
    root, or load an explicit folder. ``demo`` / ``demo-train`` are generated on
    first use. Raises :class:`SalbenchError` saying how to obtain a missing one."""
    root = root_folder(data_root)
    p = Path(name).expanduser()
    if (os.sep in name or "/" in name) and p.is_dir():
        return load_folder(p)  # an explicit path: an ad-hoc dataset
    key = canonical_name(name)
    if key in DEMO_SETS:
        from salbench.data import demo
        # generated data goes to the default root ($SALBENCH_DATA or datasets/),
        # never into a user-named --data-root that may hold read-only benchmarks
        demo_root = root if demo.is_complete(root) else root_folder(None)
        folder = demo.ensure(demo_root)
        return load_folder(folder / DEMO_SETS[key], key)
    if p.is_dir() and info(name) is None:
        return load_folder(p)  # an existing folder of an unregistered name: an ad-hoc dataset
    d = info(name)
    folder = find_folder(name, root)
    if folder is None:
        if d is None:
            raise SalbenchError(
                f"unknown dataset {name!r}: not a registered name ({', '.join(all_names())}) "
                f"and not a folder")
        raise SalbenchError(f"dataset {d.name} not found under {root}. " + how_to_get(name, root)
                            + " (Or point --data-root / $SALBENCH_DATA at the folder holding it.)")
    return load_folder(folder, d.name if d else name, d)


def all_names() -> list[str]:
    """Every registered dataset name and the demo splits."""
    return [d.name for d in DATASETS.values()] + list(DEMO_SETS)


def expand(spec: str, data_root: str | Path | None = None,
           warn=lambda msg: print(msg, file=sys.stderr)) -> list[Dataset]:
    """``--datasets`` value to datasets: ``all`` means the five test sets (missing
    ones skipped with one line each; none found is an error); otherwise a comma
    list of names or folders, each of which must resolve."""
    names = [s.strip() for s in spec.split(",") if s.strip()]
    if not names:
        raise SalbenchError("no dataset named (use --datasets all or --datasets SOD,PASCAL-S)")
    out: list[Dataset] = []
    if [n.lower() for n in names] == ["all"]:
        root = root_folder(data_root)
        for n in TEST_SETS:
            try:
                out.append(resolve(n, root))
            except SalbenchError as exc:
                warn(f"skipping {n}: {exc}")
        if not out:
            raise SalbenchError(f"none of the test sets {', '.join(TEST_SETS)} found under "
                                f"{root} (salbench datasets shows how to get them; "
                                f"`--datasets demo` runs on the embedded demo data)")
        return out
    seen: dict[str, str] = {}
    for n in names:
        key = canonical_name(n).lower()
        if key in seen:
            warn(f"--datasets: {n!r} is {seen[key]!r} again; using it once")
            continue
        ds = resolve(n, data_root)
        seen[key] = n
        out.append(ds)
    return out



def survey(root: Path, names: list[str] | None = None) -> list[dict]:
    """Every registered dataset as found (count, layout, problems, partial) or
    missing; ``names`` (any spelling, see :func:`canonical_name`) keeps only those."""
    wanted = {canonical_name(n).lower() for n in names} if names else None
    rows = []
    for d in DATASETS.values():
        if wanted is not None and d.name.lower() not in wanted:
            continue
        folder = find_folder(d.name, root)
        row = {"name": d.name, "role": d.role, "expected": d.count, "source": d.source}
        if folder is None:
            row.update(status="missing", how_to_get=how_to_get(d.name, root))
        else:
            try:
                ds = load_folder(folder, d.name, d)
                row.update(status="found" if not ds.problems else "problems", path=str(folder),
                           count=len(ds.pairs), partial=ds.partial, layout=ds.layout,
                           problems=ds.problems)
            except SalbenchError as exc:
                row.update(status="unreadable", path=str(folder), count=0, partial=False,
                           problems=[str(exc)])
        rows.append(row)
    from salbench.data import demo
    for key, split in DEMO_SETS.items():
        if wanted is not None and key not in wanted:
            continue
        folder = root / "demo" / split
        row = {"name": key, "role": split, "expected": demo.COUNTS[split],
               "source": "generated by `salbench demo` (procedural, deterministic)"}
        if demo.is_complete(root):
            ds = load_folder(folder, key)
            row.update(status="found", path=str(folder), count=len(ds.pairs), partial=False,
                       layout=ds.layout, problems=ds.problems)
        else:
            row.update(status="not generated", how_to_get="run `salbench demo` (or just use it)")
        rows.append(row)
    return rows
