"""An example salbench plugin: a small classical saliency method with options.

**What it computes.** Salient objects tend to differ in colour from the image
border and to sit near the centre. For every pixel:

1. *Border contrast.* The mean colour of each of the four border bands
   (``border`` pixels wide) is a background model; a pixel's contrast is its
   smallest Euclidean distance, in an opponent colour space, to the four
   border colours. Taking the minimum over the sides keeps an object that
   touches one side salient as long as it differs from the other three, and a
   background whose colour changes from side to side is still matched by the
   nearest side.
2. *Smoothing.* A Gaussian blur of ``sigma`` × the image diagonal / 10 (in
   pixels) spreads the contrast over regions instead of single pixels.
3. *Centre prior* (``use_center_prior``). Multiply by
   ``exp(-r² / (2·sigma²))``, ``r`` being the distance to the image centre
   divided by half the diagonal (0 at the centre, 1 in the corners).
4. Min-max normalise and round to an 8-bit map of the image's own size.

It runs in NumPy / SciPy on the CPU, about a few milliseconds per image; it is
a teaching example, not a method from a paper.

**Using it.** Nothing is imported from anywhere implicit: name the file with
``--plugin``::

    salbench list methods --plugin examples/plugins/classical_example/center_contrast.py
    salbench run --plugin examples/plugins/classical_example/center_contrast.py \\
        --method center-contrast --option sigma=0.4 border=12 --datasets SOD
    salbench report

or from Python: ``salbench.plugins.registry.load_plugin(path)`` then
``salbench.plugins.registry.create("center-contrast", sigma=0.4)``. To install it for
good, point the ``salbench.methods`` entry-point group of your package at this
module (``center-contrast = "yourpackage.center_contrast"``).

**The plugin contract** (:class:`salbench.plugins.registry.Method`), as this file
fills it in, is documented on each attribute of :class:`CenterContrast`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

import numpy as np
from scipy import ndimage

from salbench.plugins.options import Option, OptionError
from salbench.plugins.registry import Method, register_method

#: RGB → opponent colours (intensity, red-green, yellow-blue), orthonormal rows,
#: so distances stay Euclidean distances in RGB units.
_OPPONENT = np.array([[1 / np.sqrt(3), 1 / np.sqrt(3), 1 / np.sqrt(3)],
                      [1 / np.sqrt(2), -1 / np.sqrt(2), 0.0],
                      [1 / np.sqrt(6), 1 / np.sqrt(6), -2 / np.sqrt(6)]])


def center_contrast_map(rgb: np.ndarray, sigma: float = 0.25, border: int = 8,
                        use_center_prior: bool = True) -> np.ndarray:
    """The saliency map (H×W uint8) of one H×W×3 uint8 RGB image; the
    keywords are the method's options (see :class:`CenterContrast`)."""
    h, w = rgb.shape[:2]
    feats = rgb.astype(np.float64) @ _OPPONENT.T  # H×W×3
    b = max(1, min(border, h // 2 or 1, w // 2 or 1))
    sides = [feats[:b], feats[-b:], feats[:, :b], feats[:, -b:]]
    means = np.stack([s.reshape(-1, 3).mean(axis=0) for s in sides])  # 4×3
    dist = np.sqrt(((feats[:, :, None, :] - means[None, None]) ** 2).sum(-1))  # H×W×4
    sal = dist.min(axis=2)
    diag = float(np.hypot(h, w))
    sal = ndimage.gaussian_filter(sal, sigma=max(0.5, sigma * diag / 10.0), mode="nearest")
    if use_center_prior:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        r = np.hypot(yy - (h - 1) / 2.0, xx - (w - 1) / 2.0) / max(diag / 2.0, 1e-9)
        sal = sal * np.exp(-(r ** 2) / (2.0 * sigma ** 2))
    lo, hi = float(sal.min()), float(sal.max())
    if hi - lo <= 1e-12:  # a constant image: nothing stands out
        return np.zeros((h, w), dtype=np.uint8)
    return np.round((sal - lo) / (hi - lo) * 255.0).astype(np.uint8)


@register_method
class CenterContrast(Method):
    """Border colour contrast with a centre prior (salbench example plugin).

    ``@register_method`` registers the class under :attr:`name` when the file
    is imported (``--plugin FILE`` imports it). A name that another method
    already uses is refused with both origins named, unless you pass
    ``register_method(replace=True)`` on purpose.
    """

    #: the name used by ``--method`` and stored with the results (lower case;
    #: must not collide with a built-in method).
    name: ClassVar[str] = "center-contrast"
    #: a short citation, shown by ``salbench list methods`` and in reports.
    paper: ClassVar[str] = "salbench example plugin (border contrast + centre prior)"
    #: ``"classical"`` (weight-free), ``"learned"`` (needs weights, see
    #: ``salbench.nn.learned.LearnedMethod``) or ``"precomputed"``.
    kind: ClassVar[str] = "classical"
    #: no weights file to load: :meth:`prepare` has nothing to do.
    needs_weights: ClassVar[bool] = False
    #: how the runner spreads images: ``"processes"`` runs one worker process
    #: per core, each rebuilding the method from its name and options (so
    #: options must be plain values, and the method must be importable there:
    #: the runner loads the same ``--plugin`` in its workers). Use ``"none"``
    #: for a model on a device that batches by itself.
    parallel: ClassVar[str] = "processes"
    #: images per :meth:`predict` call.
    batch_size: ClassVar[int] = 1
    #: what the method expects, shown by ``salbench list methods``.
    input_note: ClassVar[str] = "RGB uint8 image of any size (grey is replicated)"

    #: The options, declared once: name, type (bool, int, float, str, tuple),
    #: default and a one-line help. ``salbench run --option sigma=0.4`` parses
    #: the string to the type (``use_center_prior=no`` is False); an unknown
    #: name or a value of the wrong type is a one-line error (exit 2) naming
    #: the valid options. ``default_options`` is derived from this tuple, and
    #: the checked values are in ``self.options``.
    OPTIONS: ClassVar[tuple[Option, ...]] = (
        Option("sigma", float, 0.25,
               "width of the centre prior (fraction of half the diagonal) and of the blur (x diagonal / 10)"),
        Option("border", int, 8, "width in pixels of the border bands whose colours model the background"),
        Option("use_center_prior", bool, True, "multiply by a Gaussian centred on the image"),
    )

    def __init__(self, **kwargs: Any) -> None:
        # The base class checks names and types; ranges are the method's own
        # business. An OptionError reaches the user as one line (exit 2).
        super().__init__(**kwargs)
        if not self.options["sigma"] > 0:
            raise OptionError(f"method {self.name!r}: option sigma={self.options['sigma']} must be > 0")
        if self.options["border"] < 1:
            raise OptionError(f"method {self.name!r}: option border={self.options['border']} must be >= 1")

    def prepare(self) -> None:
        """Called once before any image is read: load weights, check optional
        dependencies, raise :class:`salbench.plugins.registry.MethodNotReady` with a
        how-to when something is missing. Nothing to do here."""

    def predict(self, images: Sequence[np.ndarray], names: Sequence[str]) -> list[np.ndarray]:
        """One map per image: ``images`` are H×W×3 uint8 RGB arrays (any size);
        each map must be an H×W **uint8** array at that image's own size (the
        runner refuses anything else). ``names`` are the dataset's file stems,
        for messages (or for methods that look maps up by name)."""
        out = []
        for img, name in zip(images, names):
            img = np.asarray(img)
            if img.ndim == 2:
                img = np.repeat(img[:, :, None], 3, axis=2)
            if img.ndim != 3 or img.shape[2] < 3 or img.dtype != np.uint8:
                raise ValueError(f"{name}: expected an H×W×3 uint8 RGB image, got {img.shape} {img.dtype}")
            out.append(center_contrast_map(img[:, :, :3], **self.options))
        return out
