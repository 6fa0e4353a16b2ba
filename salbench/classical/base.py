"""The base class of the classical methods and the input side they share.

:class:`ClassicalMethod` is what MR, wCtr* and BSCA (and weight-free plugins)
derive from: CPU only, one process per core, one image at a time through
:func:`predict_many`, which normalises every input with :func:`as_rgb_uint8`
(grey, RGBA, bool, wider integer and float images become ``H×W×3`` uint8, or
raise :class:`ClassicalInputError` naming the image).
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from salbench.errors import SalbenchError
from salbench.plugins.registry import Method


class ClassicalInputError(SalbenchError, ValueError):
    """An image a classical method cannot read (wrong shape or dtype)."""


def as_rgb_uint8(image: np.ndarray, name: str = "<image>") -> np.ndarray:
    """Return ``image`` as a contiguous ``H×W×3`` uint8 RGB array.

    Accepted: ``H×W`` grey (replicated to three channels, as MATLAB's
    ``GetMeanColor`` / ``repmat`` does), ``H×W×1``, ``H×W×3`` RGB and ``H×W×4``
    RGBA (the alpha channel is dropped: the methods see the colour the file
    stores, not a composite). uint8 is used as is; bool, other integer types
    within 0..255 and floats within [0, 1] are converted. Anything else raises
    :class:`ClassicalInputError` naming the image and the problem.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        a = np.stack([a, a, a], axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.ndim != 3 or a.shape[2] != 3:
        raise ClassicalInputError(f"{name}: expected an H×W, H×W×3 or H×W×4 image, got shape {a.shape}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ClassicalInputError(f"{name}: empty image of shape {a.shape}")
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == bool:
        return np.ascontiguousarray(a.astype(np.uint8) * 255)
    if np.issubdtype(a.dtype, np.integer):
        if a.min() < 0 or a.max() > 255:
            raise ClassicalInputError(f"{name}: integer image with values outside 0..255 "
                                      f"(min {a.min()}, max {a.max()}); pass uint8")
        return np.ascontiguousarray(a.astype(np.uint8))
    if np.issubdtype(a.dtype, np.floating):
        if not np.all(np.isfinite(a)):
            raise ClassicalInputError(f"{name}: float image contains NaN or inf")
        if a.min() < 0 or a.max() > 1:
            raise ClassicalInputError(f"{name}: float image with values outside [0, 1] "
                                      f"(min {a.min():.3g}, max {a.max():.3g}); pass uint8")
        return np.ascontiguousarray(np.round(a * 255).astype(np.uint8))
    raise ClassicalInputError(f"{name}: unsupported dtype {a.dtype}")


def predict_many(fn, images: Sequence[np.ndarray], names: Sequence[str]) -> list[np.ndarray]:
    """Apply a one-image saliency function to a batch, normalising the input.

    The methods run one process per core (``parallel="processes"``), so BLAS is
    held to one thread while they work (with ``threadpoolctl`` when it is
    installed): the small dense inverses and solves gain nothing from threads
    and slow down badly when every worker spawns its own."""
    names = list(names) if names is not None else [f"<image {i}>" for i in range(len(images))]
    try:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # optional: only speed depends on it
        limits = None
    try:
        out = []
        for i, img in enumerate(images):
            name = names[i] if i < len(names) else f"<image {i}>"
            out.append(fn(as_rgb_uint8(img, name)))
        return out
    finally:
        if limits is not None:
            limits.restore_original_limits()


class ClassicalMethod(Method):
    """Base of the weight-free classical methods: CPU, one process per core,
    one image at a time through :func:`predict_many`. Subclasses set
    ``saliency = staticmethod(one_image_function)``; the method's options
    (declared in ``OPTIONS``, checked by :class:`salbench.plugins.registry.Method`) are
    passed to it as keyword arguments, ``saliency(rgb, **self.options)``.
    Options are plain values (numbers, strings, tuples), so process-pool
    workers rebuild the same method from its name and options."""

    kind = "classical"
    needs_weights = False
    parallel = "processes"
    batch_size = 1
    input_note = ("RGB uint8 image of any size; grey H×W is replicated to RGB, "
                  "RGBA drops its alpha channel")

    @staticmethod
    def saliency(rgb: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        """The uint8 ``H×W`` saliency map of one ``H×W×3`` uint8 RGB image."""
        raise NotImplementedError

    def predict(self, images, names):
        """Maps of a batch: :meth:`saliency` with this method's options on each
        image, through :func:`predict_many`."""
        fn = functools.partial(self.saliency, **self.options) if self.options else self.saliency
        return predict_many(fn, images, names)
