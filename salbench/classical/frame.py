"""Frame removal and the per-image loop around it.

:func:`remove_frame` detects an artificial image frame as the authors'
``removeframe.m`` does, in two styles (the code bases disagree):
``style="zhu"`` is Wangjiang Zhu's version (RBD / wCtr* code: Sobel edges, one
framed side is enough, the crop starts *after* the last dense edge row);
``style="yang"`` is the version shipped with the MR and BSCA code (Canny edges,
at least two framed sides, the crop starts *at* the last dense edge row,
undetected sides take the widest width). It returns a :class:`Frame`, which
crops the image and pastes the map back. :func:`framed_saliency` is the outer
loop all three methods share: remove the frame, compute superpixel saliency on
the inner image, paint it, convert to uint8 and paste it back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from salbench.classical.matlab import edge_canny, edge_sobel, rgb2gray, to_uint8_map

#: a row / column is a frame line when its edge density exceeds this.
FRAME_EDGE_DENSITY = 0.6
#: frames are assumed to be at most this many pixels wide.
FRAME_MAX_WIDTH = 30
#: images whose frame-free part is smaller than this (either side) are not segmented.
MIN_SIDE = 2


@dataclass(frozen=True)
class Frame:
    """Where the frame-free part sits in the original image (0-based, end-exclusive)."""

    height: int
    width: int
    top: int
    bottom: int
    left: int
    right: int

    @property
    def is_full(self) -> bool:
        """True when there is no frame (the kept part is the whole image)."""
        return (self.top, self.bottom, self.left, self.right) == (0, self.height, 0, self.width)

    def crop(self, image: np.ndarray) -> np.ndarray:
        """The frame-free part of ``image`` (a view)."""
        return image[self.top:self.bottom, self.left:self.right]

    def paste(self, inner: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """The map at full size with ``fill`` in the frame (``SaveSaliencyMap``)."""
        out = np.full((self.height, self.width), fill, dtype=inner.dtype)
        out[self.top:self.bottom, self.left:self.right] = inner
        return out


def _side_densities(edges: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """Edge densities of the first ``k`` rows/columns from each side, ordered
    from the border inwards: (top, bottom, left, right)."""
    top = edges[:k, :].mean(axis=1)
    bottom = edges[::-1][:k, :].mean(axis=1)
    left = edges[:, :k].mean(axis=0)
    right = edges[:, ::-1][:, :k].mean(axis=0)
    return top, bottom, left, right


def remove_frame(rgb: np.ndarray, style: str) -> Frame:
    """Detect an artificial image frame (the authors' ``removeframe.m``).

    ``style="zhu"`` (wCtr*): Sobel edges of the grey image; on each side, the
    frame width is the largest k ≤ 30 whose k-th line has edge density > 0.6;
    any one side suffices; undetected sides take the largest width; the kept
    part starts after the frame lines. ``style="yang"`` (MR, BSCA): Canny
    edges; at least two sides must be detected; a side with width 1
    (undetected, or detected only on its outermost line) takes the largest
    width; the kept part starts *at* the last frame line (rows t..m-d+1 in
    MATLAB's 1-based indexing).
    """
    h, w = rgb.shape[:2]
    full = Frame(h, w, 0, h, 0, w)
    if h < 3 or w < 3:
        return full
    gray = rgb2gray(rgb.astype(np.float64) / 255.0)
    if style == "zhu":
        # Zhu's removeframe.m calls rgb2gray on the uint8 image, which rounds to
        # uint8; the MR / BSCA version converts with im2double first (no rounding)
        gray = np.floor(gray * 255.0 + 0.5) / 255.0
    k = min(FRAME_MAX_WIDTH, h, w)
    if style == "zhu":
        edges = edge_sobel(gray)
        dens = _side_densities(edges, k)
        widths = []
        for d in dens:
            idx = np.nonzero(d > FRAME_EDGE_DENSITY)[0]
            widths.append(int(idx[-1]) + 1 if idx.size else 0)
        if max(widths) == 0:
            return full
        mw = max(widths)
        t, b, l, r = (x if x else mw for x in widths)
        fr = Frame(h, w, t, h - b, l, w - r)
    elif style == "yang":
        edges = edge_canny(gray)
        dens = _side_densities(edges, k)
        widths, flags = [], 0
        for d in dens:
            idx = np.nonzero(d > FRAME_EDGE_DENSITY)[0]
            widths.append(int(idx[-1]) + 1 if idx.size else 1)
            flags += bool(idx.size)
        if flags <= 1:
            return full
        mw = max(widths)
        t, b, l, r = (x if x != 1 else mw for x in widths)
        fr = Frame(h, w, t - 1, h - b + 1, l - 1, w - r + 1)
    else:
        raise ValueError(f"unknown frame style {style!r}")
    if fr.bottom - fr.top < MIN_SIDE or fr.right - fr.left < MIN_SIDE:
        return Frame(h, w, 0, 0, 0, 0)  # all frame: nothing left to segment
    return fr


def framed_saliency(rgb: np.ndarray, frame_rule: str, superpixel_saliency) -> np.ndarray:
    """The outer loop all three authors' codes share: remove the image frame
    (``frame_rule``: ``"yang"`` or ``"zhu"``), compute per-superpixel saliency
    on the inner image with ``superpixel_saliency(inner) -> (superpixels,
    values)``, paint it, convert to uint8 and paste it back with zeros in the
    frame. An image that is all frame gives an all-zero map."""
    frame = remove_frame(rgb, frame_rule)
    inner = frame.crop(rgb)
    if inner.size == 0:
        return np.zeros(rgb.shape[:2], dtype=np.uint8)
    sp, vals = superpixel_saliency(inner)
    return frame.paste(to_uint8_map(sp.paint(vals)))
