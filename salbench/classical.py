"""Shared machinery of the classical (superpixel-graph) saliency methods MR,
wCtr* and BSCA: input normalisation, frame removal, SLIC superpixels and their
features, superpixel adjacency graphs and the small MATLAB-equivalent helpers
(``rgb2gray``, ``edge``, ``graythresh``, Getreuer's ``colorspace('Lab<-')``).

Everything here follows the authors' released MATLAB code rather than the
papers; where the three code bases disagree (they were written by different
groups) both variants are provided and the method modules pick their own:

* ``remove_frame(..., style="zhu")`` is Wangjiang Zhu's ``removeframe.m`` (RBD /
  wCtr* code: Sobel edges, one framed side is enough, the crop starts *after*
  the last dense edge row); ``style="yang"`` is the ``removeframe.m`` shipped
  with the MR and BSCA code (Canny edges, at least two framed sides, the crop
  starts *at* the last dense edge row, undetected sides take the widest width).
* ``adjacency_yang`` is ``AdjcProcloop.m`` (MR, BSCA: 8-connectivity, scanning
  only the top-left (m-1)×(n-1) block, plus a clique over the 1-pixel boundary
  superpixels); ``adjacency_zhu`` is ``GetAdjMatrix.m`` (RBD: 4-connectivity,
  ``A + A'`` so a pair can count twice, unit diagonal).

Superpixels come from scikit-image's SLIC (``compactness`` as in the code,
``sigma=0``, connectivity enforced, ``min_size_factor=0.25``) instead of
Achanta's SLIC executable / mex the authors call; the actual label count is
always used, as the MATLAB code does (``max(sulabel(:))``).

Numerical kernels are vectorised NumPy / SciPy (``np.bincount`` reductions,
sparse matrices, ``scipy.sparse.csgraph`` shortest paths); nothing loops over
pixels in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage as ndi
from scipy import sparse

from salbench.errors import SalbenchError

#: frame removal: a row / column is a frame line when its edge density exceeds this.
FRAME_EDGE_DENSITY = 0.6
#: frame removal: frames are assumed to be at most this many pixels wide.
FRAME_MAX_WIDTH = 30
#: SLIC ``min_size_factor`` (segments smaller than this fraction of the expected size are merged).
SLIC_MIN_SIZE_FACTOR = 0.25
#: MATLAB's ``eps`` (``np.spacing(1)``), which the RBD code adds to denominators.
MATLAB_EPS: float = float(np.finfo(np.float64).eps)
#: images whose frame-free part is smaller than this (either side) are not segmented.
MIN_SIDE = 2


class ClassicalInputError(SalbenchError, ValueError):
    """An image a classical method cannot read (wrong shape or dtype)."""


# ----------------------------------------------------------------------------
# input normalisation
# ----------------------------------------------------------------------------

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


def to_uint8_map(values01: np.ndarray) -> np.ndarray:
    """MATLAB's ``imwrite`` of a double image in [0, 1] (``im2uint8``: round half away)."""
    v = np.clip(np.nan_to_num(values01, nan=0.0), 0.0, 1.0)
    return np.floor(v * 255.0 + 0.5).astype(np.uint8)


def minmax(x: np.ndarray, eps: float = 0.0) -> np.ndarray:
    """``(x - min) / (max - min + eps)``; a constant vector maps to zeros
    (MATLAB would give NaN, which ``imwrite`` writes as 0)."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return x.copy()
    lo = x.min()
    rng = x.max() - lo + eps
    if not rng > 0:
        return np.zeros_like(x)
    return (x - lo) / rng


# ----------------------------------------------------------------------------
# MATLAB-equivalent image helpers
# ----------------------------------------------------------------------------

def rgb2gray(rgb01: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` on a double image (its exact luma coefficients)."""
    return rgb01[..., 0] * 0.298936021293775 + rgb01[..., 1] * 0.587043074451121 \
        + rgb01[..., 2] * 0.114020904255103


def edge_sobel(gray: np.ndarray) -> np.ndarray:
    """MATLAB ``edge(I, 'sobel')`` with its automatic threshold and thinning:
    ``b = bx² + by²`` from the ``fspecial('sobel')/8`` masks (replicate border),
    cutoff ``4·mean(b)``, and a pixel is an edge when ``b > cutoff`` and it is a
    strict local maximum across the dominant gradient direction."""
    g = gray.astype(np.float64)
    p = np.pad(g, 1, mode="edge")
    # correlation with [1 0 -1; 2 0 -2; 1 0 -1]/8 and its transpose
    bx = ((p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2]) - (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:])) / 8.0
    by = ((p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:]) - (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:])) / 8.0
    b = bx * bx + by * by
    cutoff = 4.0 * b.mean()
    if not cutoff > 0:
        return np.zeros(g.shape, dtype=bool)
    ax, ay = np.abs(bx), np.abs(by)
    bp = np.pad(b, 1, mode="edge")
    left, right = bp[1:-1, :-2], bp[1:-1, 2:]
    up, down = bp[:-2, 1:-1], bp[2:, 1:-1]
    horiz = (ax >= ay) & (b > left) & (b > right)
    vert = (ay >= ax) & (b > up) & (b > down)
    return (b > cutoff) & (horiz | vert)


def edge_canny(gray: np.ndarray) -> np.ndarray:
    """MATLAB ``edge(I, 'canny')`` with its default thresholds: σ = √2, the high
    threshold at the 70th percentile of the 64-bin histogram of the
    max-normalised gradient magnitude, the low one at 0.4 × high; non-maximum
    suppression and hysteresis from scikit-image."""
    from skimage.feature import canny

    g = gray.astype(np.float64)
    if g.shape[0] < 3 or g.shape[1] < 3:
        return np.zeros(g.shape, dtype=bool)
    sigma = np.sqrt(2.0)
    sm = ndi.gaussian_filter(g, sigma, mode="nearest", truncate=4.0)
    mag = np.hypot(ndi.sobel(sm, axis=1), ndi.sobel(sm, axis=0))
    mmax = mag.max()
    if not mmax > 0:
        return np.zeros(g.shape, dtype=bool)
    counts, _ = np.histogram(mag / mmax, bins=64, range=(0.0, 1.0))
    k = int(np.argmax(np.cumsum(counts) > 0.7 * mag.size)) + 1
    high = k / 64.0 * mmax
    low = 0.4 * high
    return canny(g, sigma=sigma, low_threshold=low, high_threshold=high, mode="nearest")


def graythresh(values01: np.ndarray) -> float:
    """MATLAB ``graythresh`` (Otsu on the 256-bin histogram of ``im2uint8(x)``;
    ties between maxima resolved by their mean index, as MATLAB does)."""
    q = np.floor(np.clip(values01, 0, 1) * 255.0 + 0.5).astype(np.int64).ravel()
    if q.size == 0:
        return 0.0
    counts = np.bincount(q, minlength=256).astype(np.float64)
    p = counts / counts.sum()
    omega = np.cumsum(p)
    mu = np.cumsum(p * np.arange(1, 257))
    mu_t = mu[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        sb = (mu_t * omega - mu) ** 2 / (omega * (1 - omega))
    finite = np.isfinite(sb)
    if not finite.any():
        return 0.0
    maxval = sb[finite].max()
    idx = np.mean(np.nonzero(finite & (sb == maxval))[0]) + 1  # 1-based as in MATLAB
    return float((idx - 1) / 255.0)


def rgb_to_lab(rgb01: np.ndarray) -> np.ndarray:
    """Pascal Getreuer's ``colorspace('Lab<-', rgb)`` (sRGB companding, D65
    white [0.950456, 1, 1.088754]) on values in [0, 1]; any leading shape."""
    c = np.asarray(rgb01, dtype=np.float64)
    lin = np.where(c <= 0.0404482362771076, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return _xyz_lab(lin)


def rgb_to_lab_ruzon(rgb01: np.ndarray) -> np.ndarray:
    """Mark Ruzon's ``RGB2Lab.m`` (used by the BSCA code for pixel features): the
    same matrix and white point but *no* gamma linearisation, and L = 903.3·Y in
    the linear segment."""
    c = np.asarray(rgb01, dtype=np.float64)
    xyz = c @ _RGB2XYZ.T
    x = xyz[..., 0] / 0.950456
    y = xyz[..., 1]
    z = xyz[..., 2] / 1.088754
    t = 0.008856

    def f(v: np.ndarray) -> np.ndarray:
        return np.where(v > t, np.cbrt(v), 7.787 * v + 16.0 / 116.0)

    fx, fy, fz = f(x), f(y), f(z)
    L = np.where(y > t, 116.0 * np.cbrt(y) - 16.0, 903.3 * y)
    return np.stack([L, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


_RGB2XYZ = np.array([[0.412453, 0.357580, 0.180423],
                     [0.212671, 0.715160, 0.072169],
                     [0.019334, 0.119193, 0.950227]])


def _xyz_lab(lin: np.ndarray) -> np.ndarray:
    xyz = lin @ _RGB2XYZ.T
    x = xyz[..., 0] / 0.950456
    y = xyz[..., 1]
    z = xyz[..., 2] / 1.088754

    def f(v: np.ndarray) -> np.ndarray:
        return np.where(v < 0.008856, v * (841.0 / 108.0) + 4.0 / 29.0, np.cbrt(v))

    fx, fy, fz = f(x), f(y), f(z)
    return np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


# ----------------------------------------------------------------------------
# frame removal
# ----------------------------------------------------------------------------

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
        return (self.top, self.bottom, self.left, self.right) == (0, self.height, 0, self.width)

    def crop(self, image: np.ndarray) -> np.ndarray:
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


# ----------------------------------------------------------------------------
# superpixels and their features
# ----------------------------------------------------------------------------

@dataclass
class Superpixels:
    """A SLIC segmentation with the per-superpixel quantities every method needs."""

    labels: np.ndarray      # H×W int, 0..n-1
    n: int
    counts: np.ndarray      # pixels per superpixel
    mean_rgb: np.ndarray    # n×3, 0..255
    mean_pos: np.ndarray    # n×2 (row, col), 1-based pixel coordinates as in MATLAB

    def boundary(self, thickness: int = 1) -> np.ndarray:
        """Sorted ids of superpixels touching a band of ``thickness`` pixels
        (``extract_bg_sp.m`` for 1, ``GetBndPatchIds.m`` for 8)."""
        L = self.labels
        t = max(1, min(thickness, L.shape[0], L.shape[1]))
        ids = np.concatenate([L[:t].ravel(), L[-t:].ravel(), L[:, :t].ravel(), L[:, -t:].ravel()])
        return np.unique(ids)

    def side(self, which: str) -> np.ndarray:
        """Superpixels on one 1-pixel image side: top, bottom, left, right."""
        L = self.labels
        line = {"top": L[0], "bottom": L[-1], "left": L[:, 0], "right": L[:, -1]}[which]
        return np.unique(line)

    def mean_of(self, values: np.ndarray) -> np.ndarray:
        """Per-superpixel mean of an H×W or H×W×C array."""
        lab = self.labels.ravel()
        v = values.reshape(lab.size, -1).astype(np.float64)
        out = np.stack([np.bincount(lab, weights=v[:, c], minlength=self.n) for c in range(v.shape[1])], 1)
        out /= self.counts[:, None]
        return out if values.ndim == 3 else out[:, 0]

    def paint(self, values: np.ndarray) -> np.ndarray:
        """Per-pixel image of per-superpixel values."""
        return np.asarray(values, dtype=np.float64)[self.labels]


def slic_superpixels(rgb: np.ndarray, n_segments: int, compactness: float) -> Superpixels:
    """SLIC superpixels (scikit-image) with consecutive labels 0..n-1 and their
    mean colour and position. Images too small for SLIC get one superpixel."""
    from skimage.segmentation import slic

    h, w = rgb.shape[:2]
    n_segments = max(1, int(n_segments))
    if h * w >= 4 and n_segments > 1:
        lab = slic(rgb, n_segments=n_segments, compactness=compactness, sigma=0,
                   enforce_connectivity=True, min_size_factor=SLIC_MIN_SIZE_FACTOR,
                   start_label=0, convert2lab=True, channel_axis=-1)
        _, inv = np.unique(lab, return_inverse=True)
        labels = inv.reshape(h, w).astype(np.int64)
    else:
        labels = np.zeros((h, w), dtype=np.int64)
    n = int(labels.max()) + 1
    flat = labels.ravel()
    counts = np.bincount(flat, minlength=n).astype(np.float64)
    px = rgb.reshape(-1, 3).astype(np.float64)
    mean_rgb = np.stack([np.bincount(flat, weights=px[:, c], minlength=n) for c in range(3)], 1) / counts[:, None]
    rr, cc = np.divmod(np.arange(h * w), w)
    mean_pos = np.stack([np.bincount(flat, weights=rr + 1.0, minlength=n),
                         np.bincount(flat, weights=cc + 1.0, minlength=n)], 1) / counts[:, None]
    return Superpixels(labels, n, counts, mean_rgb, mean_pos)


# ----------------------------------------------------------------------------
# graphs
# ----------------------------------------------------------------------------

def _pairs_to_matrix(a: np.ndarray, b: np.ndarray, n: int) -> sparse.csr_matrix:
    keep = a != b
    a, b = a[keep], b[keep]
    m = sparse.coo_matrix((np.ones(a.size), (a, b)), shape=(n, n)).tocsr()
    m.data[:] = 1.0  # duplicates collapse to one (MATLAB assigns 1)
    return m


def adjacency_yang(labels: np.ndarray, n: int, link_boundary: bool = True) -> sparse.csr_matrix:
    """``AdjcProcloop.m`` (MR, BSCA): superpixels touching through a horizontal,
    vertical or either diagonal pixel pair inside the top-left (m-1)×(n-1) scan
    window, made symmetric; then (``link_boundary``) every pair of superpixels on
    the 1-pixel image boundary is linked. Binary, zero diagonal."""
    L = labels
    if L.shape[0] < 2 or L.shape[1] < 2:
        m = sparse.csr_matrix((n, n))
    else:
        a00, a01, a10, a11 = L[:-1, :-1], L[:-1, 1:], L[1:, :-1], L[1:, 1:]
        src = np.concatenate([a00.ravel(), a00.ravel(), a00.ravel(), a10.ravel()])
        dst = np.concatenate([a01.ravel(), a10.ravel(), a11.ravel(), a01.ravel()])
        m = _pairs_to_matrix(np.concatenate([src, dst]), np.concatenate([dst, src]), n)
    if link_boundary:
        bd = np.unique(np.concatenate([L[0], L[-1], L[:, 0], L[:, -1]]))
        m = link_clique(m, bd)
    return m


def adjacency_zhu(labels: np.ndarray, n: int) -> sparse.csr_matrix:
    """``GetAdjMatrix.m`` (RBD): 4-connected neighbour pairs recorded in the
    direction (upper, lower) and (left, right), then ``A + A'`` (a pair seen in
    both directions counts 2) and a unit diagonal."""
    L = labels
    src, dst = [], []
    if L.shape[0] > 1:
        src.append(L[:-1, :].ravel()); dst.append(L[1:, :].ravel())
    if L.shape[1] > 1:
        src.append(L[:, :-1].ravel()); dst.append(L[:, 1:].ravel())
    if src:
        d = _pairs_to_matrix(np.concatenate(src), np.concatenate(dst), n)
    else:
        d = sparse.csr_matrix((n, n))
    return (d + d.T + sparse.identity(n, format="csr")).tocsr()


def link_clique(m: sparse.spmatrix, ids: np.ndarray) -> sparse.csr_matrix:
    """Set ``m[ids, ids] = 1`` off the diagonal (binary matrices only)."""
    n = m.shape[0]
    ids = np.asarray(ids)
    if ids.size < 2:
        return sparse.csr_matrix(m)
    ii, jj = np.meshgrid(ids, ids, indexing="ij")
    keep = ii != jj
    clique = sparse.coo_matrix((np.ones(keep.sum()), (ii[keep], jj[keep])), shape=(n, n))
    out = (sparse.csr_matrix(m) + clique).tocsr()
    out.data = np.minimum(out.data, 1.0)
    return out


def two_hop_edges(adj: sparse.spmatrix) -> np.ndarray:
    """Undirected edges (i < j) of ``A ∪ A²`` without self loops — the edge list
    the MR / BSCA code builds by looping over neighbours of neighbours."""
    a = sparse.csr_matrix(adj, dtype=np.float64)
    a.data[:] = 1.0
    reach = (a + a @ a).tocoo()
    keep = reach.row < reach.col
    return np.stack([reach.row[keep], reach.col[keep]], 1)


def grady_weights(edges: np.ndarray, feats: np.ndarray, scale: float, epsilon: float = 1e-5) -> np.ndarray:
    """Leo Grady's ``makeweights.m`` as called by MR / BSCA: Euclidean feature
    distances over the edges, min-max normalised over the edges, then
    ``exp(-scale·d) + epsilon``."""
    if edges.size == 0:
        return np.zeros(0)
    d = np.sqrt(((feats[edges[:, 0]] - feats[edges[:, 1]]) ** 2).sum(1))
    return np.exp(-scale * minmax(d)) + epsilon


def symmetric_from_edges(edges: np.ndarray, weights: np.ndarray, n: int) -> sparse.csr_matrix:
    """Grady's ``adjacency.m``: the symmetric sparse matrix of an edge list."""
    if edges.size == 0:
        return sparse.csr_matrix((n, n))
    r = np.concatenate([edges[:, 0], edges[:, 1]])
    c = np.concatenate([edges[:, 1], edges[:, 0]])
    return sparse.coo_matrix((np.concatenate([weights, weights]), (r, c)), shape=(n, n)).tocsr()


def pairwise_dist(x: np.ndarray) -> np.ndarray:
    """Dense Euclidean distance matrix of the rows of ``x``."""
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    return np.sqrt(d2)


def is_degenerate(sp: Superpixels) -> bool:
    """True when a graph method has nothing to rank: one superpixel, or all
    superpixels of the same colour."""
    return sp.n < 2 or np.ptp(sp.mean_rgb, axis=0).max() == 0


def predict_many(fn, images: Sequence[np.ndarray], names: Sequence[str]) -> list[np.ndarray]:
    """Apply a one-image saliency function to a batch, normalising the input."""
    names = list(names) if names is not None else [f"<image {i}>" for i in range(len(images))]
    out = []
    for i, img in enumerate(images):
        name = names[i] if i < len(names) else f"<image {i}>"
        out.append(fn(as_rgb_uint8(img, name)))
    return out


__all__ = [
    "ClassicalInputError", "Frame", "Superpixels", "adjacency_yang", "adjacency_zhu",
    "as_rgb_uint8", "edge_canny", "edge_sobel", "grady_weights", "graythresh", "is_degenerate",
    "link_clique", "minmax", "pairwise_dist", "predict_many", "remove_frame", "rgb2gray",
    "rgb_to_lab", "rgb_to_lab_ruzon", "slic_superpixels", "symmetric_from_edges",
    "to_uint8_map", "two_hop_edges", "MATLAB_EPS",
]
