"""MR — graph-based manifold ranking (Yang, Zhang, Lu, Ruan & Yang, CVPR 2013).

Follows Chuan Yang's released MATLAB code (``saliencymap`` demo with
``removeframe.m``, ``AdjcProcloop.m``, ``makeweights.m``) rather than the paper:

1. Frame removal as in the MR code (``remove_frame(style="yang")``: Canny edges,
   edge density > 0.6 within 30 border lines, two sides needed); the map is
   pasted back with zeros in the frame.
2. SLIC with 200 superpixels, compactness 20: the authors call Achanta's
   ``SLICSuperpixelSegmentation`` executable; here
   ``salbench.classical.slic.slic(variant="achanta_exe")``, a numba re-implementation
   of that executable's seeding, step and merging as read from its machine code
   (the copy the Dalian group ships with DSR, GR, BSCA-family code; MR's own copy
   is not in the public index, so its identity is inferred). Not bit-identical.
   The older ``SLIC.cpp`` source revision is available as
   ``mr_superpixel_saliency(..., slic_variant="achanta")``. The actual label
   count is used.
3. Features: mean RGB (in [0, 1]) per superpixel converted to CIELab with
   Getreuer's ``colorspace`` in the version 1.1 that this lab's code ships
   (Rec. 709 inverse gamma; ``rgb_to_lab_colorspace11``).
4. Graph: ``AdjcProcloop`` 8-adjacency plus a clique over the boundary
   superpixels, extended to two hops; edge weights ``exp(-10·d) + 1e-5`` with the
   colour distances d min-max normalised *over the edges* (the paper's
   ``exp(-||c_i - c_j|| / σ²)`` with σ² = 0.1 on unnormalised Lab).
5. Ranking matrix ``A = (D - αW)⁻¹`` with α = 0.99 and its diagonal set to zero
   (the paper uses ``A`` as is; the zero diagonal keeps a query from ranking
   itself).
6. Stage 1: the top, bottom, left and right 1-pixel boundary superpixels are
   used as four separate queries; each ranking is min-max normalised and
   complemented, the four are multiplied and the product min-max normalised.
7. Stage 2: the stage-1 map binarised at its mean is the foreground query;
   ``A·q`` min-max normalised is the map (the code ranks with the foreground
   query directly; the paper's description is the same).
8. Output ``uint8(255·map)`` (rounded), frame zeros.

Degenerate inputs (one superpixel, a constant image, an image that is all
frame) give an all-zero map: the MATLAB code would divide 0 by 0 there.

Options (``--option key=value``; the defaults are the code's values above):
``n_superpixels`` (int, 200), ``compactness`` (float, 20), ``theta`` (float,
10), ``alpha`` (float, 0.99), ``slic_variant`` (``achanta_exe`` or ``achanta``).
"""

from __future__ import annotations

from functools import partial
from typing import Sequence

import numpy as np

from salbench.classical.base import ClassicalMethod
from salbench.classical.colour import rgb_to_lab_colorspace11
from salbench.classical.frame import framed_saliency
from salbench.classical.graph import adjacency_yang, grady_weights, symmetric_from_edges, two_hop_edges
from salbench.classical.matlab import minmax
from salbench.classical.slic import is_degenerate, slic_superpixels
from salbench.plugins.options import Option
from salbench.plugins.registry import register_method

#: superpixels requested from SLIC (``spnumber`` in the MR code).
N_SUPERPIXELS = 200
#: SLIC compactness of the MR code.
COMPACTNESS = 20
#: segmentation of ``SLICSuperpixelSegmentation.exe`` (``salbench.classical.slic``).
SLIC_VARIANT = "achanta_exe"
#: edge-weight scale θ (``makeweights(edges, seg_vals, theta)``).
THETA = 10.0
#: manifold-ranking balance α.
ALPHA = 0.99


def ranking_matrix(weights, alpha: float = ALPHA) -> np.ndarray:
    """``optAff = (D - αW)⁻¹`` with a zero diagonal, from a symmetric affinity ``W``."""
    w = np.asarray(weights.todense() if hasattr(weights, "todense") else weights, dtype=np.float64)
    d = np.diag(w.sum(axis=0))
    a = np.linalg.inv(d - alpha * w)
    np.fill_diagonal(a, 0.0)
    return a


def boundary_stage(aff: np.ndarray, sides: Sequence[np.ndarray]) -> np.ndarray:
    """Stage 1: product of the complemented, normalised rankings of each side query."""
    n = aff.shape[0]
    out = np.ones(n)
    for ids in sides:
        y = np.zeros(n)
        y[ids] = 1.0
        out *= 1.0 - minmax(aff @ y)
    return minmax(out)


def foreground_stage(aff: np.ndarray, stage1: np.ndarray) -> np.ndarray:
    """Stage 2: rank with the stage-1 map binarised at its mean."""
    q = (stage1 >= stage1.mean()).astype(np.float64)
    return minmax(aff @ q)


def mr_superpixel_saliency(rgb: np.ndarray, return_details: bool = False,
                           slic_variant: str = SLIC_VARIANT, n_superpixels: int = N_SUPERPIXELS,
                           compactness: float = COMPACTNESS, theta: float = THETA,
                           alpha: float = ALPHA):
    """MR on a frame-free RGB uint8 image: (superpixels, stage-2 values[, details]).
    The keyword parameters are the method's options (module docstring)."""
    sp = slic_superpixels(rgb, n_superpixels, compactness, variant=slic_variant)
    if is_degenerate(sp):
        vals = np.zeros(sp.n)
        return (sp, vals, {}) if return_details else (sp, vals)
    lab = rgb_to_lab_colorspace11(sp.mean_rgb / 255.0)
    adj = adjacency_yang(sp.labels, sp.n, link_boundary=True)
    edges = two_hop_edges(adj)
    w = symmetric_from_edges(edges, grady_weights(edges, lab, theta), sp.n)
    aff = ranking_matrix(w, alpha)
    sides = [sp.side("top"), sp.side("bottom"), sp.side("left"), sp.side("right")]
    s1 = boundary_stage(aff, sides)
    s2 = foreground_stage(aff, s1)
    if return_details:
        return sp, s2, {"affinity": aff, "weights": w, "stage1": s1, "edges": edges, "sides": sides}
    return sp, s2


def mr_saliency(rgb: np.ndarray, **options) -> np.ndarray:
    """MR saliency map (uint8, the image's size) of an RGB uint8 image;
    ``options`` as :func:`mr_superpixel_saliency`'s keywords."""
    fn = partial(mr_superpixel_saliency, **options) if options else mr_superpixel_saliency
    return framed_saliency(rgb, "yang", fn)


@register_method
class MR(ClassicalMethod):
    """MR: graph-based manifold ranking (Yang et al., CVPR 2013), after the authors' MATLAB code."""

    name = "mr"
    paper = "Yang et al., CVPR 2013"
    OPTIONS = (
        Option("n_superpixels", int, N_SUPERPIXELS, "superpixels requested from SLIC (spnumber)"),
        Option("compactness", float, float(COMPACTNESS), "SLIC compactness"),
        Option("theta", float, THETA, "edge-weight scale: exp(-theta*d) + 1e-5 on edge-normalised Lab distances"),
        Option("alpha", float, ALPHA, "manifold-ranking balance in (D - alpha*W)^-1"),
        Option("slic_variant", str, SLIC_VARIANT, "SLIC seeding: achanta_exe (the executable the code "
               "calls) or achanta (the SLIC.cpp source)", choices=("achanta_exe", "achanta")),
    )
    saliency = staticmethod(mr_saliency)
