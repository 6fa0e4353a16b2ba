"""A label's results folder, ``<results>/<label>/<dataset>/``: its maps, the
raw pre-CRF maps in ``.raw/``, and the records beside them of what made the
maps (``.salbench-run.json``, the run identity) and from which images
(``.salbench-images.json``). :func:`check_folder` compares a run's identity
with the recorded one before any map is written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

from salbench.errors import SalbenchError

SIGNATURE_FILE = ".salbench-run.json"
#: per-image (size, mtime) of the images the maps were made from
IMAGES_FILE = ".salbench-images.json"
RAW_DIR = ".raw"
#: identity keys that do not change maps (where the weights file lies)
IDENTITY_IGNORED = ("method_identity.weights",)


def header_sizes(ds) -> dict[str, tuple[int, int] | None]:
    """(W, H) of every image of a dataset, from the headers."""
    from salbench.data.imageio import header_size
    return {p.name: header_size(p.image) for p in ds.pairs}


def image_records(ds) -> dict[str, list]:
    """``{name: [file name, size, mtime_ns]}`` of a dataset's images: what its
    maps were made from, recorded beside them and fingerprinted in the identity."""
    out = {}
    for p in ds.pairs:
        try:
            st = Path(p.image).stat()
            out[p.name] = [Path(p.image).name, st.st_size, st.st_mtime_ns]
        except OSError:
            out[p.name] = [Path(p.image).name, -1, -1]
    return out


def records_fingerprint(records: dict) -> str:
    """sha256 of :func:`image_records` (key order independent)."""
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode("utf-8", "surrogateescape")
                          ).hexdigest()


def dataset_fingerprint(ds) -> str:
    """Fingerprint of a dataset's images and GT (recorded with each run)."""
    from salbench.run.identity import fingerprint_files
    return fingerprint_files([p.image for p in ds.pairs] + [p.gt for p in ds.pairs], ds.root)


def clear_maps(out_dir: Path) -> None:
    """Delete the maps (and raw pre-CRF maps) of a results folder."""
    for d in (out_dir, out_dir / RAW_DIR):
        if d.is_dir():
            for p in d.glob("*.png"):
                p.unlink()


def remove_stale_tmp(out_dir: Path) -> None:
    """Temp files a killed run left (``.NAME.png.*.tmp``)."""
    for d in (out_dir, out_dir / RAW_DIR):
        if d.is_dir():
            for p in d.glob(".*.tmp"):
                try:
                    p.unlink()
                except OSError:
                    pass


def clear_changed_images(out_dir: Path, now: dict) -> int:
    """Delete the maps of images whose (size, mtime) differ from the record
    of the last run, or that are no longer in the dataset (``now``: the
    :func:`image_records` of this run). Returns how many were deleted."""
    try:
        old = json.loads((out_dir / IMAGES_FILE).read_text())
    except (OSError, ValueError):
        old = {}
    n = 0
    for d in (out_dir, out_dir / RAW_DIR):
        if not d.is_dir():
            continue
        for p in d.glob("*.png"):
            if p.stem not in now or old.get(p.stem) != now[p.stem]:
                p.unlink()
                n += 1
    return n


def _recorded_identity(out_dir: Path, referenced: bool) -> tuple[bool, dict | None]:
    """(whether the folder holds maps, the identity recorded for them)."""
    f = out_dir / SIGNATURE_FILE
    has_maps = (any(out_dir.glob("*.png")) or any((out_dir / RAW_DIR).glob("*.png"))
                or (referenced and f.is_file()))
    old: dict | None = None
    if f.is_file():
        try:
            old = json.loads(f.read_text())
        except ValueError:
            old = {"format": "unreadable"}
    elif has_maps:
        old = {"format": "none (maps without a record of what made them)"}
    return has_maps, old


def check_folder(out_dir: Path, ident: dict, records: dict, *, where: str, recompute: bool,
                 log: Callable[[str], None], referenced: bool = False) -> str:
    """Compare ``ident`` with the identity of the maps already in ``out_dir``
    (of the last run, for ``referenced`` precomputed maps, which are not
    copied), then record ``ident`` and the image ``records`` there.
    ``where`` (``label/dataset``) names the folder in messages. Returns
    ``"new"``, ``"same"``, ``"images"`` (maps of changed images deleted) or
    ``"recompute"`` (all old maps deleted); refuses (SalbenchError naming the
    differences) otherwise."""
    from salbench.data.paths import write_json_atomic
    from salbench.run.identity import describe_diff, diff
    if referenced and any(out_dir.glob("*.png")):
        log(f"note: {where}: maps are referenced where they are; the copies an "
            f"earlier run made are deleted")
        clear_maps(out_dir)
    has_maps, old = _recorded_identity(out_dir, referenced)
    verdict = "new" if not has_maps else "same"
    d = diff(old, ident, ignore=IDENTITY_IGNORED) if old is not None and has_maps else {}
    if d:
        if all(k.startswith("method_identity.maps_") for k in d):
            log(f"note: {where}: the precomputed maps changed since the last "
                f"run ({describe_diff(d)}); re-scoring them")
            clear_maps(out_dir)
            verdict = "recompute"
        elif list(d) == ["dataset.images"]:
            n = clear_changed_images(out_dir, records)
            log(f"note: {where}: the dataset's images changed since the last "
                f"run; {n} map(s) of changed or removed images deleted, new images "
                f"are predicted")
            verdict = "images"
        elif recompute:
            log(f"note: {where}: --recompute: replacing maps made with other "
                f"settings ({describe_diff(d)})")
            clear_maps(out_dir)
            verdict = "recompute"
        else:
            raise SalbenchError(
                f"{out_dir} holds maps made with other settings ({describe_diff(d)}); "
                f"rerun with --recompute to replace them, or store this run under another "
                f"label with --name")
    write_json_atomic(out_dir / IMAGES_FILE, records, sort_keys=True)
    write_json_atomic(out_dir / SIGNATURE_FILE, ident, sort_keys=True)
    return verdict
