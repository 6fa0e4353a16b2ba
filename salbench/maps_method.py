"""The ``maps`` method: evaluate precomputed saliency maps from a folder.

``salbench run --method maps --maps DIR --name DSS --datasets SOD`` copies the
maps of DIR into ``results/DSS/SOD/`` through the ordinary run pipeline, so
published results join the same tables under their own label.

Where the maps are looked up, for dataset D and image stem N:

* ``DIR/<D>/`` when DIR has a sub-folder named after the dataset (usual
  spellings, case-insensitive), else DIR itself (a flat folder of one
  dataset's maps);
* the file ``N.png`` (or ``.jpg``, ``.jpeg``, ``.bmp``), also the common
  suffixed forms ``N_<label>.png`` / ``N_sal.png``.

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

from salbench.errors import InputError
from salbench.registry import Method, MethodNotReady

MAP_EXTS = (".png", ".jpg", ".jpeg", ".bmp")


class PrecomputedMaps(Method):
    """Precomputed saliency maps read from a folder (published results)."""

    name = "maps"
    paper = "precomputed maps (e.g. the authors' released results)"
    kind = "precomputed"
    parallel = "none"
    batch_size = 16
    input_note = "ignores pixels; looks up <maps>/<dataset>/<name>.png by image name"
    #: ``maps``: the folder; ``dataset``: set by the runner for each dataset;
    #: ``label``: the name results are stored under (for suffixed file names).
    default_options: dict[str, Any] = {"maps": None, "dataset": None, "label": None}

    def prepare(self) -> None:
        root = self.options.get("maps")
        if not root:
            raise MethodNotReady("the maps method needs a folder: --maps DIR "
                                 "(DIR/<dataset>/<name>.png, or a flat DIR for one dataset)")
        root = Path(root).expanduser()
        if not root.is_dir():
            raise MethodNotReady(f"--maps {root}: no such folder")
        self.folder = self._dataset_folder(root, self.options.get("dataset"))
        self._index: dict[str, Path] | None = None

    @staticmethod
    def _dataset_folder(root: Path, dataset: str | None) -> Path:
        if dataset:
            from salbench.datasets import _norm, info
            wanted = {_norm(dataset)}
            d = info(dataset)
            if d:
                wanted |= {_norm(d.name)} | {_norm(a) for a in d.aliases}
            for sub in sorted(root.iterdir()):
                if sub.is_dir() and _norm(sub.name) in wanted:
                    return sub
        return root

    def _lookup(self, name: str) -> Path | None:
        if self._index is None:
            self._index = {}
            for p in sorted(self.folder.iterdir()):
                if p.is_file() and p.suffix.lower() in MAP_EXTS:
                    self._index.setdefault(p.stem, p)
        label = self.options.get("label")
        for stem in (name, f"{name}_{label}" if label else None, f"{name}_sal", f"{name}_{self.name}"):
            if stem and stem in self._index:
                return self._index[stem]
        return None

    def predict(self, images: Sequence[np.ndarray | None], names: Sequence[str]) -> list[np.ndarray]:
        from salbench.imageio import read_map
        if not hasattr(self, "folder"):
            self.prepare()
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

    def predict_one(self, image: np.ndarray | None, name: str) -> np.ndarray:
        return self.predict([image], [name])[0]
