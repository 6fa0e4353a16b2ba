"""The ``maps`` method: evaluate precomputed saliency maps from a folder.

``salbench run --method maps --maps DIR --name DSS --datasets SOD`` copies the
maps of DIR into ``results/DSS/SOD/`` through the ordinary run pipeline, so
published results join the same tables under their own label.

Where the maps are looked up, for dataset D and image stem N:

* ``DIR/<D>/`` when DIR has a sub-folder named after the dataset (usual
  spellings, case-insensitive), else DIR itself (a flat folder of one
  dataset's maps) - only when the run has one dataset: with several, every
  dataset needs its own sub-folder;
* the file ``N.png`` (or ``.jpg``, ``.jpeg``, ``.bmp``), also the common
  suffixed forms ``N_<label>.png`` / ``N_sal.png``; a stem with two files
  (``a.png`` and ``a.jpg``) is an error naming both.

The folder and a fingerprint of its files are part of the run identity, so
maps that changed since the last run are re-scored.

Decision on a missing map (documented in the README): the image is a
*reported problem*, not a silent skip and not a crash - :meth:`predict`
raises :class:`~salbench.errors.InputError` naming the expected file; the
runner records it, evaluates the maps that exist, prints the problem at the
end and exits with status 1. A map whose size differs from its image is the
same kind of problem (evaluation code of the papers would reject it too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from salbench.data.datasets import is_image_file
from salbench.errors import InputError
from salbench.run.identity import fingerprint_files
from salbench.plugins.options import Option
from salbench.plugins.registry import Method, MethodNotReady



class PrecomputedMaps(Method):
    """Precomputed saliency maps read from a folder (published results)."""

    name = "maps"
    paper = "precomputed maps (e.g. the authors' released results)"
    kind = "precomputed"
    parallel = "none"
    batch_size = 16
    input_note = "ignores pixels; looks up <maps>/<dataset>/<name>.png by image name"
    OPTIONS = (Option("maps", str, None, "folder of precomputed maps: DIR/<dataset>/<name>.png, "
                      "or a flat DIR of one dataset's maps (--maps DIR)"),
               Option("set", str, None, "one map set of a folder laid out as DIR/<set>/<dataset>/ "
                      "or DIR/<dataset>/<set>/ (set by the runner for each set it finds)"))
    #: the runner evaluates :meth:`map_file` where it is instead of copying it
    references_maps = True

    def prepare(self) -> None:
        """Check that the ``maps`` folder is given and exists."""
        root = self.options.get("maps")
        if not root:
            raise MethodNotReady("the maps method needs a folder: --maps DIR "
                                 "(DIR/<dataset>/<name>.png, or a flat DIR for one dataset)")
        root = Path(root).expanduser()
        if not root.is_dir():
            raise MethodNotReady(f"--maps {root}: no such folder")
        self.root = root.resolve()
        self.options["maps"] = str(self.root)
        self.folder: Path | None = None
        self._index: dict[str, Path] = {}
        self._label = ""

    def bind(self, dataset: Any, label: str, *, run_datasets: Sequence[str] = ()) -> None:
        """Find this dataset's maps: ``DIR/<dataset>/`` (usual spellings), else
        the flat DIR when the run has one dataset. Indexes the files; one stem
        with two files is an error naming both."""
        if not hasattr(self, "root"):
            self.prepare()
        name = getattr(dataset, "name", str(dataset))
        set_name = self.options.get("set")
        if set_name:
            sub = self._set_folder(self.root, set_name, name)
            if sub is None:
                raise MethodNotReady(f"--maps {self.root}: map set {set_name!r} has no folder for "
                                     f"{name} ({set_name}/{name}/ or {name}/{set_name}/)")
        else:
            sub = self._dataset_folder(self.root, name)
        if sub is None:
            if len(set(run_datasets)) > 1:
                raise MethodNotReady(
                    f"--maps {self.root}: with several datasets ({', '.join(run_datasets)}) the maps "
                    f"must be in DIR/<dataset>/ folders; there is no folder for {name} in {self.root}")
            sub = self.root
        self.folder = sub
        self._label = label
        index: dict[str, Path] = {}
        for p in sorted(sub.iterdir()):
            if p.is_file() and is_image_file(p):
                if p.stem in index:
                    raise InputError(p, f"two map files for image {p.stem!r}: {index[p.stem]} and "
                                        f"{p}; keep one")
                index[p.stem] = p
        self._index = index

    def identity(self) -> dict[str, Any]:
        """The maps folder and a fingerprint of its map files: changed maps
        are re-scored."""
        if self.folder is None:
            return {"maps_folder": None, "maps_fingerprint": None}
        return {"maps_folder": str(self.folder),
                "maps_fingerprint": fingerprint_files(self._index.values(), self.folder)}

    def map_file(self, name: str) -> Path | None:
        """The map file of image ``name`` in the bound folder (None: no map)."""
        return self._lookup(name)

    @classmethod
    def find_map_sets(cls, root: Path, datasets: Sequence[str]) -> tuple[str, list[str]] | None:
        """Several map sets under ``root``: ``("<root>/<dataset>/<method>/", [methods])``
        or ``("<root>/<method>/<dataset>/", [methods])``; None when ``root`` is one
        set (flat, or ``<root>/<dataset>/`` holding the maps)."""
        root = Path(root)
        subs = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
        ds_dirs = [d for d in subs if any(cls._same_dataset(d.name, ds) for ds in datasets)]
        if ds_dirs:
            inner = sorted({q.name for d in ds_dirs for q in d.iterdir()
                            if q.is_dir() and not q.name.startswith(".")})
            has_maps = any(q.is_file() and is_image_file(q)
                           for d in ds_dirs for q in d.iterdir())
            if inner and not has_maps:
                return f"{root}/<dataset>/<method>/", inner
            return None
        sets = [d.name for d in subs
                if any(q.is_dir() and any(cls._same_dataset(q.name, ds) for ds in datasets)
                       for q in d.iterdir())]
        if sets:
            return f"{root}/<method>/<dataset>/", sets
        return None

    @staticmethod
    def _same_dataset(folder: str, dataset: str) -> bool:
        """A folder named after ``dataset``: its registered name or an alias,
        case- and punctuation-insensitively."""
        from salbench.data.datasets import _norm, info
        wanted = {_norm(dataset)}
        d = info(dataset)
        if d:
            wanted |= {_norm(d.name)} | {_norm(a) for a in d.aliases}
        return _norm(folder) in wanted

    @classmethod
    def _dataset_folder(cls, root: Path, dataset: str | None) -> Path | None:
        """The sub-folder of ``root`` named after ``dataset``, if any."""
        if not dataset:
            return None
        for sub in sorted(root.iterdir()):
            if sub.is_dir() and cls._same_dataset(sub.name, dataset):
                return sub.resolve()
        return None

    @classmethod
    def _set_folder(cls, root: Path, set_name: str, dataset: str) -> Path | None:
        """Map set ``set_name``'s folder for ``dataset``: ``root/<set>/<dataset>/``,
        else ``root/<dataset>/<set>/``."""
        if (root / set_name).is_dir():
            found = cls._dataset_folder(root / set_name, dataset)
            if found is not None:
                return found
        for d in sorted(root.iterdir()):
            if d.is_dir() and cls._same_dataset(d.name, dataset) and (d / set_name).is_dir():
                return (d / set_name).resolve()
        return None

    def _lookup(self, name: str) -> Path | None:
        label = self._label
        for stem in (name, f"{name}_{label}" if label else None, f"{name}_sal", f"{name}_{self.name}"):
            if stem and stem in self._index:
                return self._index[stem]
        return None

    def predict(self, images: Sequence[np.ndarray | None], names: Sequence[str]) -> list[np.ndarray]:
        """The stored map of each image name (the pixels are not looked at)."""
        from salbench.data.imageio import read_map
        if self.folder is None:
            raise MethodNotReady("the maps method is used before bind(dataset, label)")
        out = []
        for img, name in zip(images, names):
            path = self._lookup(name)
            if path is None:
                raise InputError(self.folder / f"{name}.png",
                                 f"no precomputed map for image {name!r} in {self.folder}")
            m = read_map(path)
            if img is not None and m.shape[:2] != img.shape[:2]:
                raise InputError(path, f"map is {m.shape[1]}x{m.shape[0]} but image {name!r} is "
                                       f"{img.shape[1]}x{img.shape[0]}")
            out.append(m)
        return out
