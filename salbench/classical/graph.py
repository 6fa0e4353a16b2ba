"""Superpixel graphs: adjacency, edge lists and edge weights.

Two adjacency rules, after the two code bases: :func:`adjacency_yang` is
``AdjcProcloop.m`` (MR, BSCA: 8-connectivity, scanning only the top-left
(m-1)×(n-1) block, plus a clique over the 1-pixel boundary superpixels);
:func:`adjacency_zhu` is ``GetAdjMatrix.m`` (RBD: 4-connectivity, ``A + A'``
so a pair can count twice, unit diagonal). Around them: :func:`link_clique`
(join a set of superpixels), :func:`two_hop_edges` (the MR / BSCA edge list of
neighbours and neighbours of neighbours), Grady's ``makeweights.m`` and
``adjacency.m`` (:func:`grady_weights`, :func:`symmetric_from_edges`) and dense
feature distances (:func:`pairwise_dist`). Matrices are ``scipy.sparse``; the
adjacency scan is a numba kernel.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy import sparse

from salbench.classical.matlab import minmax


@njit(cache=True)
def _adjacency_kernel(labels, n, mode):  # pragma: no cover - numba
    """Dense 0/1 neighbour marks. mode 0 (``AdjcProcloop``): symmetric, the four
    pixel pairs (right, down, down-right, anti-diagonal) inside the top-left
    (m-1)×(n-1) window. mode 1 (``GetAdjMatrix``): directed (upper→lower,
    left→right) 4-neighbour pairs over the whole image."""
    h, w = labels.shape
    a = np.zeros((n, n), np.uint8)
    if mode == 0:
        for y in range(h - 1):
            for x in range(w - 1):
                p = labels[y, x]; r = labels[y, x + 1]; d = labels[y + 1, x]; dr = labels[y + 1, x + 1]
                if p != r:
                    a[p, r] = 1; a[r, p] = 1
                if p != d:
                    a[p, d] = 1; a[d, p] = 1
                if p != dr:
                    a[p, dr] = 1; a[dr, p] = 1
                if d != r:
                    a[d, r] = 1; a[r, d] = 1
    else:
        for y in range(h):
            for x in range(w):
                p = labels[y, x]
                if y + 1 < h and labels[y + 1, x] != p:
                    a[p, labels[y + 1, x]] = 1
                if x + 1 < w and labels[y, x + 1] != p:
                    a[p, labels[y, x + 1]] = 1
    return a


def adjacency_yang(labels: np.ndarray, n: int, link_boundary: bool = True) -> sparse.csr_matrix:
    """``AdjcProcloop.m`` (MR, BSCA): superpixels touching through a horizontal,
    vertical or either diagonal pixel pair inside the top-left (m-1)×(n-1) scan
    window, made symmetric; then (``link_boundary``) every pair of superpixels on
    the 1-pixel image boundary is linked. Binary, zero diagonal."""
    L = np.ascontiguousarray(labels, dtype=np.int64)
    m = sparse.csr_matrix(_adjacency_kernel(L, n, 0).astype(np.float64))
    if link_boundary:
        bd = np.unique(np.concatenate([L[0], L[-1], L[:, 0], L[:, -1]]))
        m = link_clique(m, bd)
    return m


def adjacency_zhu(labels: np.ndarray, n: int) -> sparse.csr_matrix:
    """``GetAdjMatrix.m`` (RBD): 4-connected neighbour pairs recorded in the
    direction (upper, lower) and (left, right), then ``A + A'`` (a pair seen in
    both directions counts 2) and a unit diagonal."""
    L = np.ascontiguousarray(labels, dtype=np.int64)
    d = _adjacency_kernel(L, n, 1).astype(np.float64)
    a = d + d.T
    np.fill_diagonal(a, 1.0)
    return sparse.csr_matrix(a)


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
    from scipy.spatial.distance import cdist

    return cdist(x, x)
