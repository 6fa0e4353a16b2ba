"""BSCA — background-based map refined by a single-layer cellular automaton
(Qin, Lu, Xu & Wang, "Saliency Detection via Cellular Automata", CVPR 2015).

Follows Yao Qin's released MATLAB code (``demo_BSCA.m`` with ``removeframe.m``,
``extractSupfeatBSCA.m``, ``labelCluster.m``, ``normalization.m`` and MR's
``AdjcProcloop.m`` / ``makeweights.m``) where it differs from the paper:

1. Frame removal as in the MR / BSCA code (``remove_frame(style="yang")``);
   the map is pasted back with zeros in the frame.
2. Two SLIC segmentations of 300 superpixels, compactness 30 for the boundary
   clusters, 20 for everything else. The authors call Achanta's executable
   ``SLICSuperpixelSegmentation.exe`` (on a ``.bmp`` copy of the image); here
   ``salbench.classical.slic.slic(variant="achanta_exe")``, which follows that
   executable as read from its machine code (the copy shipped with the Dalian
   group's MATLAB code, byte-identical in the DSR, GR, SRD packages): seeds on a
   grid of real step √(HW/300) (21×14 seeds on 481×321), perturbed to the
   lowest gradient, window and spatial normaliser ⌊√(HW/300) + 2⌋ = 24, merge
   threshold ``(HW // 300) >> 2``. The older ``SLIC.cpp`` source
   (``variant="achanta"``: 20×13 seeds, S = 23) is available as
   ``bsca_superpixel_saliency(..., slic_variant="achanta")``.
   The authors' BSCA maps on SOD are piecewise constant over their
   superpixels, and their regions match the executable's grid far better
   (mean IoU with our superpixels 0.44 → 0.61 on 12 images) and the maps move
   closer (MAD on every 5th SOD image 0.0927 → 0.0902; full figures in
   ``reports/classical_validation.md`` section 1.0).
3. Background seeds: the superpixels on the 1-pixel image boundary (of the
   compactness-30 segmentation) are clustered by K-means, K = 3, at most 200
   iterations, on their mean *pixel* Lab colour, where pixel Lab is Ruzon's
   ``RGB2Lab`` (no gamma linearisation) with each channel min-max normalised
   over the image. The authors' K-means (``form_codebook`` → ``vgg_kmeans``)
   starts from K distinct boundary superpixels drawn at random (``randperm``);
   here the same, from ``numpy.random.default_rng(KMEANS_SEED)``, so the map is
   deterministic where theirs is not (different seeds move the map by a mean
   absolute difference of about 0.01 on SOD). Lloyd passes until the sse stops
   dropping, labels from the nearest final centre (``labelCluster``), and the
   code's re-clustering with fewer centres when some cluster ends up empty.
4. Global colour distinction per cluster k: ``mean_j 1/(exp(-‖f_i - f_kj‖ /
   (2σ₁²)) + β)`` with σ₁ = 0.2, β = 10 (the paper writes ``exp(-‖·‖/2σ₁²)``
   on the same normalised features), min-max normalised per cluster.
5. Global spatial distance: ``mean_j exp(-‖p_i - p_kj‖² / (2σ₂²))``, σ₂ = 1.3,
   on mean (row, col) positions min-max normalised *jointly over both
   coordinates* — per cluster for the seeds, over all superpixels for the
   rest (the code's ``normalization``; a one-member cluster, whose
   normalisation MATLAB turns into NaN, is placed at the origin here).
6. ``S_bg = Σ_k GSD_k · GCD_k``, min-max normalised.
7. Cellular automaton on the compactness-20 segmentation: MR's graph (8-adjacency
   plus boundary clique, two hops), weights ``exp(-10·d) + 1e-5`` with
   Lab-of-mean-RGB distances min-max normalised over the edges (Lab from
   ``colorspace('Lab<-', rgb_vals)`` of the MR code base: Getreuer's version
   1.1 with the Rec. 709 curve, ``rgb_to_lab_colorspace11``); impact matrix
   row-normalised; coherence ``c = 0.6·norm(1/max_j f_ij) + 0.2``; synchronous
   update ``S ← c∘S + (1-c)∘(F*·S)``. The code runs 20 updates in three phases
   (not in the paper): 5 updates that first lower the boundary superpixels by 0.6
   (negatives → 0.001) and then renormalise the non-boundary ones; 5 more that
   additionally renormalise everything but the superpixels above 0.93 when those
   are fewer than 2 %; 10 plain updates with full renormalisation.
8. Output ``S`` per pixel, rounded to uint8, zeros in the frame.

Degenerate inputs (one superpixel, a constant image, an image that is all
frame) give an all-zero map.

Options (``--option key=value``; the defaults are the code's values above):
``n_superpixels`` (int, 300), ``compactness`` (float, 20), ``compactness_bg``
(float, 30), ``slic_variant`` (``achanta_exe`` or ``achanta``), ``n_clusters``
(int, 3), ``kmeans_seed`` (int, 0), ``sigma_1`` (float, 0.2), ``sigma_2``
(float, 1.3), ``beta`` (float, 10), ``theta`` (float, 10), ``phases``
(tuple of three ints, 5,5,10: the cellular automaton's updates per phase).
"""

from __future__ import annotations

from functools import partial

import numpy as np
from scipy import sparse

from salbench.classical.base import ClassicalMethod
from salbench.classical.colour import rgb_to_lab_colorspace11, rgb_to_lab_ruzon
from salbench.classical.frame import framed_saliency
from salbench.classical.graph import adjacency_yang, grady_weights, symmetric_from_edges, two_hop_edges
from salbench.classical.matlab import minmax
from salbench.classical.slic import is_degenerate, slic_lab, slic_superpixels
from salbench.plugins.options import Option, OptionError
from salbench.plugins.registry import register_method

N_SUPERPIXELS = 300
COMPACTNESS_BG = 30
COMPACTNESS = 20
SIGMA_1 = 0.2
SIGMA_2 = 1.3
BETA = 10.0
THETA = 10.0
COHERENCE_A = 0.6
COHERENCE_B = 0.2
N_CLUSTERS = 3
KMEANS_MAX_ITER = 200
KMEANS_SEED = 0
#: segmentation of ``SLICSuperpixelSegmentation.exe`` (``salbench.classical.slic``).
SLIC_VARIANT = "achanta_exe"
#: boundary superpixels are lowered by this much in the first two phases.
BOUNDARY_DROP = 0.6
#: value given to negative saliency after the drop.
NEG_FLOOR = 0.001
#: phase 2: superpixels above this are "most salient" ...
MOST_SALIENT = 0.93
#: ... and are kept out of the renormalisation when fewer than this fraction.
MOST_SALIENT_RATIO = 0.02
#: updates in the three phases (5 + 5 + 10 = 20).
PHASES = (5, 5, 10)


def _lloyd(x: np.ndarray, centres: np.ndarray, max_iter: int) -> np.ndarray:
    """``vgg_kmeans``' loop: each pass assigns every point to its nearest centre
    (sse measured against those centres) and moves the centres to their
    members' means (a centre without members stays); it stops when the sse no
    longer drops by more than ``eps`` or after ``max_iter`` passes. Returns the
    final centres."""
    c = centres.astype(np.float64).copy()
    sse0 = np.inf
    eps = np.finfo(np.float64).eps
    for _ in range(max_iter):
        d2 = ((x[:, None, :] - c[None]) ** 2).sum(-1)
        lab = d2.argmin(1)
        sse = float(d2[np.arange(x.shape[0]), lab].sum())
        for j in range(c.shape[0]):
            m = lab == j
            if m.any():
                c[j] = x[m].mean(0)
        if sse0 - sse < eps:
            break
        sse0 = sse
    return c


def kmeans(x: np.ndarray, k: int, max_iter: int = KMEANS_MAX_ITER, seed: int = KMEANS_SEED) -> np.ndarray:
    """The code's boundary clustering (``form_codebook`` → ``vgg_kmeans``, then
    ``labelCluster``): initial centres are ``k`` distinct data points drawn at
    random (``randperm``; here from ``numpy.random.default_rng(seed)``, so the
    result is deterministic where MATLAB's is not), Lloyd passes until the sse
    stops dropping, then every point takes the label of its nearest final centre.
    When fewer than ``k`` clusters are used and the used ones are not the first
    ones, the code clusters again with that many centres (fresh random start);
    labels are returned as 0..k'-1 (k' ≤ k)."""
    n = x.shape[0]
    k = max(1, min(k, n))
    x = np.asarray(x, dtype=np.float64)
    rng = np.random.default_rng(seed)

    def run(kk: int) -> np.ndarray:
        c = _lloyd(x, x[rng.permutation(n)[:kk]], max_iter)
        return np.sqrt(((x[:, None, :] - c[None]) ** 2).sum(-1)).argmin(1)

    labels = run(k)
    used = np.unique(labels)
    if used.size != k and used.max() + 1 != used.size:
        labels = run(int(used.size))
    _, labels = np.unique(labels, return_inverse=True)
    return labels


def pixel_features(rgb: np.ndarray, lab: np.ndarray | None = None) -> np.ndarray:
    """``RGB2Lab`` pixel features with each channel min-max normalised over the
    image. ``lab``: the image's Ruzon Lab if already computed (it is the
    executable's SLIC Lab, ``salbench.classical.colour.image_lab_exe``)."""
    if lab is None:
        lab = rgb_to_lab_ruzon(rgb.astype(np.float64) / 255.0)
    out = np.empty_like(lab)
    for c in range(3):
        out[..., c] = minmax(lab[..., c])
    return out


def background_map(rgb: np.ndarray, sp, return_details: bool = False, lab: np.ndarray | None = None,
                   slic_variant: str = SLIC_VARIANT, n_superpixels: int = N_SUPERPIXELS,
                   compactness_bg: float = COMPACTNESS_BG, n_clusters: int = N_CLUSTERS,
                   kmeans_seed: int = KMEANS_SEED, sigma_1: float = SIGMA_1, sigma_2: float = SIGMA_2,
                   beta: float = BETA):
    """S_bg on the superpixels ``sp`` (compactness 20) from the boundary clusters
    of a compactness-30 segmentation."""
    h, w = rgb.shape[:2]
    feats_px = pixel_features(rgb, lab if slic_variant == "achanta_exe" and lab is not None else None)
    sp_bg = slic_superpixels(rgb, n_superpixels, compactness_bg, lab, variant=slic_variant)
    f_bg = sp_bg.mean_of(feats_px)
    bd_bg = sp_bg.boundary(1)
    labels = kmeans(f_bg[bd_bg], n_clusters, seed=kmeans_seed)
    f_all = sp.mean_of(feats_px)
    pos_all = minmax(sp.mean_pos)  # joint over rows and columns, as normalization(weight, 0)
    gcd, gsd = [], []
    for k in range(labels.max() + 1):
        members = bd_bg[labels == k]
        fk = f_bg[members]
        pk = minmax(sp_bg.mean_pos[members])  # per cluster, joint over both coordinates
        dist = np.sqrt(((f_all[:, None, :] - fk[None]) ** 2).sum(-1))
        gcd.append(minmax((1.0 / (np.exp(-dist / (2 * sigma_1 ** 2)) + beta)).mean(1)))
        d2 = ((pos_all[:, None, :] - pk[None]) ** 2).sum(-1)
        gsd.append(np.exp(-d2 / (2 * sigma_2 ** 2)).mean(1))
    s_bg = minmax(np.sum([g * s for g, s in zip(gsd, gcd)], axis=0))
    if return_details:
        return s_bg, {"clusters": labels, "boundary_bg": bd_bg, "gcd": gcd, "gsd": gsd}
    return s_bg


def impact_matrices(sp, theta: float = THETA) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Row-normalised impact factor matrix F* and coherence vector c."""
    lab = rgb_to_lab_colorspace11(sp.mean_rgb / 255.0)
    adj = adjacency_yang(sp.labels, sp.n, link_boundary=True)
    edges = two_hop_edges(adj)
    f = symmetric_from_edges(edges, grady_weights(edges, lab, theta), sp.n)
    deg = np.asarray(f.sum(axis=1)).ravel()
    deg[deg == 0] = 1.0
    f_norm = sparse.diags(1.0 / deg) @ f
    rowmax = np.asarray(f.max(axis=1).todense()).ravel()
    with np.errstate(divide="ignore"):
        inv = np.where(rowmax > 0, 1.0 / np.where(rowmax > 0, rowmax, 1.0), 0.0)
    c = COHERENCE_A * minmax(inv) + COHERENCE_B
    return sparse.csr_matrix(f_norm), c


def cellular_automaton(s0: np.ndarray, f_norm: sparse.csr_matrix, c: np.ndarray,
                       boundary: np.ndarray, phases: tuple[int, int, int] = PHASES) -> np.ndarray:
    """The code's 20 synchronous updates in three phases (``phases``: updates per phase)."""
    n = s0.size
    s = s0.astype(np.float64).copy()
    inner = np.setdiff1d(np.arange(n), boundary)

    def step(v: np.ndarray) -> np.ndarray:
        return c * v + (1.0 - c) * (f_norm @ v)

    for _ in range(phases[0]):
        s[boundary] -= BOUNDARY_DROP
        s[s < 0] = NEG_FLOOR
        s = step(s)
        s[inner] = minmax(s[inner])
    for _ in range(phases[1]):
        s[boundary] -= BOUNDARY_DROP
        s[s < 0] = NEG_FLOOR
        most = s > MOST_SALIENT
        if most.sum() < MOST_SALIENT_RATIO * n:
            rest = ~most
            s[rest] = minmax(s[rest])
        s = step(s)
        s[inner] = minmax(s[inner])
    for _ in range(phases[2]):
        s = minmax(step(s))
    return s


def bsca_superpixel_saliency(rgb: np.ndarray, return_details: bool = False,
                             slic_variant: str = SLIC_VARIANT, n_superpixels: int = N_SUPERPIXELS,
                             compactness: float = COMPACTNESS, compactness_bg: float = COMPACTNESS_BG,
                             n_clusters: int = N_CLUSTERS, kmeans_seed: int = KMEANS_SEED,
                             sigma_1: float = SIGMA_1, sigma_2: float = SIGMA_2, beta: float = BETA,
                             theta: float = THETA, phases: tuple[int, int, int] = PHASES):
    """BSCA on a frame-free RGB uint8 image: (superpixels, values[, details]).
    ``slic_variant="achanta"`` gives the segmentation of the ``SLIC.cpp``
    source revision instead of the executable's. The other
    keywords are the method's options (module docstring)."""
    if len(phases) != 3 or min(phases) < 0:
        raise OptionError(f"method 'bsca': option phases={','.join(map(str, phases))} must be three "
                          f"update counts >= 0 (default 5,5,10)")
    lab = slic_lab(rgb, slic_variant)
    sp = slic_superpixels(rgb, n_superpixels, compactness, lab, variant=slic_variant)
    if is_degenerate(sp):
        vals = np.zeros(sp.n)
        return (sp, vals, {}) if return_details else (sp, vals)
    s_bg, det = background_map(rgb, sp, return_details=True, lab=lab, slic_variant=slic_variant,
                               n_superpixels=n_superpixels, compactness_bg=compactness_bg,
                               n_clusters=n_clusters, kmeans_seed=kmeans_seed, sigma_1=sigma_1,
                               sigma_2=sigma_2, beta=beta)
    f_norm, c = impact_matrices(sp, theta)
    vals = cellular_automaton(s_bg, f_norm, c, sp.boundary(1), tuple(int(p) for p in phases))
    if return_details:
        return sp, vals, {"s_bg": s_bg, "impact": f_norm, "coherence": c, **det}
    return sp, vals


def bsca_saliency(rgb: np.ndarray, **options) -> np.ndarray:
    """BSCA saliency map (uint8, the image's size) of an RGB uint8 image;
    ``options`` as :func:`bsca_superpixel_saliency`'s keywords."""
    fn = partial(bsca_superpixel_saliency, **options) if options else bsca_superpixel_saliency
    return framed_saliency(rgb, "yang", fn)


@register_method
class BSCA(ClassicalMethod):
    """BSCA: background-based map refined by a single-layer cellular automaton (Qin et al., CVPR 2015), after the authors' MATLAB code."""

    name = "bsca"
    paper = "Qin et al., CVPR 2015"
    OPTIONS = (
        Option("n_superpixels", int, N_SUPERPIXELS, "superpixels requested from each SLIC segmentation"),
        Option("compactness", float, float(COMPACTNESS), "SLIC compactness of the automaton's segmentation"),
        Option("compactness_bg", float, float(COMPACTNESS_BG),
               "SLIC compactness of the segmentation whose boundary is clustered"),
        Option("slic_variant", str, SLIC_VARIANT, "SLIC seeding: achanta_exe (the executable the code "
               "calls) or achanta (the SLIC.cpp source)", choices=("achanta_exe", "achanta")),
        Option("n_clusters", int, N_CLUSTERS, "K-means clusters of the boundary superpixels"),
        Option("kmeans_seed", int, KMEANS_SEED, "seed of the K-means initial centres"),
        Option("sigma_1", float, SIGMA_1, "colour sigma of the global colour distinction"),
        Option("sigma_2", float, SIGMA_2, "spatial sigma of the global spatial distance"),
        Option("beta", float, BETA, "beta of the global colour distinction 1/(exp(.) + beta)"),
        Option("theta", float, THETA, "impact-factor scale: exp(-theta*d) + 1e-5"),
        Option("phases", tuple, PHASES, "cellular-automaton updates in its three phases",
               item_type=int),
    )
    saliency = staticmethod(bsca_saliency)
