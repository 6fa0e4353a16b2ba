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

Both readers accept and refuse the same files: before decoding, the
container is checked (:func:`check_container`): a PNG must have intact chunks
(CRC) up to its ``IEND`` chunk, a JPEG its end-of-image marker (libpng /
libjpeg would otherwise decode a truncated file partially under ``cv2``,
print raw ``libpng error`` lines on stderr, while PIL refuses it), and an
image larger than PIL's decompression-bomb limit is refused under both.
"""

from __future__ import annotations

import io
import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

from salbench.errors import InputError

#: PIL's default ``Image.MAX_IMAGE_PIXELS``; PIL refuses twice that as a bomb
_PIL_MAX_PIXELS = 89_478_485

READERS = ("cv2", "pil")


def _cv2():
    import cv2  # deferred: ~0.15 s import

    return cv2


def _max_pixels() -> int:
    pil = sys.modules.get("PIL.Image")
    limit = getattr(pil, "MAX_IMAGE_PIXELS", _PIL_MAX_PIXELS) if pil is not None else _PIL_MAX_PIXELS
    return 2 * int(limit) if limit else 0


def _check_size(path, w: int, h: int) -> None:
    limit = _max_pixels()
    if limit and w * h > limit:
        raise InputError(path, f"image of {w}x{h} pixels exceeds the decompression-bomb limit "
                               f"({limit} pixels, PIL's); skipped")


_PNG_SIG = b"\x89PNG\r\n\x1a\n"


def png_header(path: str | Path) -> tuple[int, int, int, int] | None:
    """``(width, height, bit depth, colour type)`` from a PNG's IHDR, or None
    when the file is not a PNG (or unreadable: the readers will say why)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(26)
    except OSError:
        return None
    if len(head) < 26 or head[:8] != _PNG_SIG or head[12:16] != b"IHDR":
        return None
    return (int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"), head[24], head[25])


def header_size(path: str | Path) -> tuple[int, int] | None:
    """(W, H) from an image file's header, without decoding it; None if unreadable."""
    head = png_header(path)
    if head is not None:
        return head[0], head[1]
    from PIL import Image
    try:
        with Image.open(path) as im:
            return im.size
    except Exception:
        return None


def check_container(path, data) -> None:
    """Refuse a PNG / JPEG that is truncated or corrupt at the container level,
    and any PNG / JPEG / BMP above the decompression-bomb limit, before a
    decoder sees it (same verdict for both readers)."""
    mv = memoryview(data)
    n = len(mv)
    if bytes(mv[:8]) == _PNG_SIG:
        pos = 8
        ihdr = None
        idat: list = []
        while True:
            if pos + 8 > n:
                raise InputError(path, "truncated PNG (no IEND chunk: the file is cut short)")
            length, ctype = struct.unpack(">I4s", mv[pos:pos + 8])
            end = pos + 12 + length
            if end > n:
                raise InputError(path, f"truncated PNG (chunk {ctype.decode('latin-1')!r} cut short)")
            crc = struct.unpack(">I", mv[end - 4:end])[0]
            if zlib.crc32(mv[pos + 4:end - 4]) != crc:
                raise InputError(path, f"corrupt PNG (CRC error in chunk {ctype.decode('latin-1')!r})")
            if ctype == b"IHDR" and length >= 13:
                ihdr = struct.unpack(">IIBBBBB", mv[pos + 8:pos + 21])
                _check_size(path, ihdr[0], ihdr[1])
            elif ctype == b"IDAT":
                idat.append(mv[pos + 8:end - 4])
            if ctype == b"IEND":
                _check_png_data(path, ihdr, idat)
                return
            pos = end
    if bytes(mv[:2]) == b"\xff\xd8":
        if bytes(data[-2:]) != b"\xff\xd9" and bytes(data).rfind(b"\xff\xd9") < 0:
            raise InputError(path, "truncated JPEG (no end-of-image marker: the file is cut short)")
        pos = 2
        while pos + 4 <= n:  # marker segments up to the first frame header
            if mv[pos] != 0xFF:
                break
            marker = mv[pos + 1]
            if marker == 0xFF:
                pos += 1
                continue
            seg = struct.unpack(">H", mv[pos + 2:pos + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and pos + 9 <= n:
                h, w = struct.unpack(">HH", mv[pos + 5:pos + 9])
                _check_size(path, w, h)
                break
            if marker == 0xDA:  # start of scan without a frame header: let the decoders decide
                break
            pos += 2 + seg
        return
    if bytes(mv[:2]) == b"BM" and n >= 26:
        w, h = struct.unpack("<ii", mv[18:26])
        _check_size(path, abs(w), abs(h))


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}

#: also inflate a PNG's image data before decoding it. Off by default: it costs
#: ~0.4 ms a map (+30 % on ``salbench eval``), and the chunk CRCs already catch
#: truncation and bit-rot; what it adds is only the rare file whose deflate
#: stream is broken under valid CRCs (a broken encoder), which both readers
#: refuse anyway, but for which libpng prints its own ``libpng error`` line.
#: ``SALBENCH_PNG_INFLATE_CHECK=1`` turns it on.
INFLATE_CHECK = os.environ.get("SALBENCH_PNG_INFLATE_CHECK") == "1"


def _check_png_data(path, ihdr, idat) -> None:
    """The image data inflates and is long enough (else libpng prints raw
    ``libpng error`` lines on stderr and the readers disagree)."""
    if ihdr is None:
        raise InputError(path, "corrupt PNG (no IHDR chunk)")
    if not idat:
        raise InputError(path, "corrupt PNG (no image data)")
    if not INFLATE_CHECK:
        return
    d = zlib.decompressobj()
    try:
        raw = sum(len(d.decompress(c)) for c in idat) + len(d.flush())
    except zlib.error as exc:
        raise InputError(path, f"corrupt PNG (image data does not inflate: {exc})") from None
    w, h, depth, ctype, _, _, interlace = ihdr
    if interlace == 0 and ctype in _PNG_CHANNELS:
        need = h * (1 + (w * _PNG_CHANNELS[ctype] * depth + 7) // 8)
        if raw < need:
            raise InputError(path, f"truncated PNG (image data {raw} of {need} bytes)")


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
    check_container(path, data)
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
    except Image.DecompressionBombError as exc:
        raise InputError(path, f"image exceeds the decompression-bomb limit; skipped ({exc})") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
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

    The bytes go through :func:`salbench.data.paths.atomic_file` (flushed to
    disk before the rename): a killed run never leaves a half-written PNG
    under the final name.
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
    from salbench.data.paths import atomic_file
    with atomic_file(path, "wb", fsync=True) as fh:
        fh.write(enc.tobytes())
    return path
