"""Image reading and atomic PNG writing.

Maps and GT are returned as 2-D ``uint8`` arrays (0..255); the protocol decides
how to normalise and binarise them. Two readers exist because the reference
evaluations read files differently and the scores depend on it:

* ``"cv2"`` (``pysodmetrics`` protocol): exactly ``cv2.imread(path,
  cv2.IMREAD_GRAYSCALE)`` as PySODMetrics does (it is decoded from the file's
  bytes with ``cv2.imdecode`` and the same flag, which gives identical arrays):
  RGB files go through the decoder's own grey conversion (libpng / libjpeg,
  which differ from ``cvtColor``), RGBA drops alpha, 16-bit is shifted to 8 bits
  (``v >> 8``), EXIF orientation is applied.
* ``"pil"`` (``r3net`` protocol): ``PIL.Image.open(path).convert('L')`` as
  R3Net's ``infer.py`` does (ITU-R 601 luma); 16-bit files are shifted to 8 bits
  (``v >> 8``) instead of PIL's clipping.

Every problem raises :class:`salbench.errors.InputError` naming the file.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import numpy as np

from salbench.errors import InputError

#: file extensions recognised as images (lower case, with the dot)
IMAGE_EXTS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp")

READERS = ("cv2", "pil")


def _cv2():
    import cv2  # deferred: ~0.15 s import

    return cv2


def _read_bytes(path: str | Path) -> np.ndarray:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory, not an image file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read file ({exc.strerror or exc})") from None
    if not data:
        raise InputError(path, "empty file (0 bytes), not an image")
    return np.frombuffer(data, np.uint8)


def _decode_cv2(path, flag) -> np.ndarray:
    cv2 = _cv2()
    buf = _read_bytes(path)
    try:
        img = cv2.imdecode(buf, flag)
    except cv2.error as exc:  # pragma: no cover - imdecode reports by returning None
        raise InputError(path, f"cannot decode image ({exc})") from None
    if img is None or img.size == 0:
        raise InputError(path, "cannot decode image: corrupt, truncated or not an image file")
    return img


def _to_u8(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return (arr >> 8).astype(np.uint8)
    if arr.dtype == bool:
        return arr.astype(np.uint8) * np.uint8(255)
    raise TypeError(f"unsupported pixel type {arr.dtype}")


def _read_grey_pil(path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    buf = _read_bytes(path)
    try:
        with Image.open(io.BytesIO(buf.tobytes())) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
                arr = np.asarray(im)
                if arr.ndim == 3:  # pragma: no cover - PIL has no 16-bit colour mode
                    arr = arr[..., 0]
                return (np.clip(arr, 0, 65535).astype(np.uint32) >> 8).astype(np.uint8)
            return np.asarray(im.convert("L"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InputError(path, f"cannot decode image: corrupt, truncated or not an image file ({exc})") from None


def read_map(path: str | Path, reader: str = "cv2") -> np.ndarray:
    """A saliency map as a 2-D ``uint8`` array (grey, RGB, RGBA or 16-bit files).

    ``reader``: ``"cv2"`` (PySODMetrics' ``cv2.imread(..., IMREAD_GRAYSCALE)``)
    or ``"pil"`` (``Image.open(...).convert('L')``); see the module docstring.
    """
    if reader == "cv2":
        img = _decode_cv2(path, _cv2().IMREAD_GRAYSCALE)
        if img.ndim != 2:  # pragma: no cover - IMREAD_GRAYSCALE always gives 2-D
            img = img[..., 0]
        try:
            return _to_u8(img)
        except TypeError as exc:
            raise InputError(path, str(exc)) from None
    if reader == "pil":
        return _read_grey_pil(path)
    raise ValueError(f"unknown reader {reader!r}; known: {', '.join(READERS)}")


def read_gt(path: str | Path, reader: str = "cv2") -> np.ndarray:
    """A ground-truth mask as a 2-D ``uint8`` array (0..255, not yet binarised:
    the protocol binarises it). Same readers as :func:`read_map`."""
    return read_map(path, reader)


def read_rgb(path: str | Path) -> np.ndarray:
    """An image as ``uint8`` (H, W, 3) RGB: grey -> 3 channels, RGBA -> alpha
    dropped, 16-bit -> 8-bit (``v >> 8``); decoded by OpenCV (EXIF orientation
    applied, as for maps and GT read with the ``cv2`` reader)."""
    cv2 = _cv2()
    img = _decode_cv2(path, cv2.IMREAD_COLOR)
    try:
        img = _to_u8(img)
    except TypeError as exc:
        raise InputError(path, str(exc)) from None
    return np.ascontiguousarray(img[..., ::-1])


def write_png_atomic(path: str | Path, arr: np.ndarray) -> Path:
    """Write ``arr`` (``uint8``, (H, W) grey or (H, W, 3) RGB) as a PNG.

    The bytes go to a temporary file in the same folder, are flushed to disk,
    then ``os.replace``-d onto ``path``: a killed run never leaves a
    half-written PNG under the final name.
    """
    arr = np.asarray(arr)
    if arr.dtype != np.uint8:
        raise ValueError(f"write_png_atomic({path}): expected a uint8 array, got {arr.dtype}")
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3))) or arr.size == 0:
        raise ValueError(f"write_png_atomic({path}): expected (H, W) or (H, W, 3), got shape {arr.shape}")
    cv2 = _cv2()
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = arr[..., ::-1]
    ok, enc = cv2.imencode(".png", np.ascontiguousarray(arr))
    if not ok:  # pragma: no cover
        raise InputError(path, "PNG encoding failed")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(enc.tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
