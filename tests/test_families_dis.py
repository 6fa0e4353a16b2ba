"""HCE, context measures and BASNet's relaxed boundary F: parity of the families
with PySODMetrics 1.6.2 (HCE, Cβ, Cωβ) and with a plain NumPy/SciPy
implementation (relaxed boundary F), on random, edge-case, Hypothesis and real
SOD pairs; exactness of merged accumulators."""

from __future__ import annotations

import math
import warnings

import cv2
import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salbench.metrics.families.base import Accumulator, image_input
from salbench.metrics.families.boundary import RelaxedBoundaryFamily, relax_boundary_scores
from salbench.metrics.families.context import ContextFamily
from salbench.metrics.families.hce import HCEFamily
from salbench.metrics.kernels.boundary import boundary_counts
from salbench.metrics.kernels.context import nearest_patches, standardise
from salbench.metrics.kernels.hce import zhang_skeleton
from salbench.metrics.numeric import BETA2, PARITY_TOL

psm = pytest.importorskip("py_sod_metrics")
from py_sod_metrics.context_measure import CamouflageContextMeasure, ContextMeasure  # noqa: E402

from helpers import sod_triples

#: the context measures' forward term is float32 in the reference
#: (``cv2.filter2D(..., CV_32F)``); the family makes the same call on the GT box,
#: which OpenCV may round differently from the whole image on small images.
FLOAT32_TOL = 1e-6


class ExactCamouflageContextMeasure(CamouflageContextMeasure):
    """The reference with its nearest-neighbour search replaced by a plain
    NumPy brute force over the same float32 features (float64 differences,
    first index on ties)."""

    def _ann_with_spatial_faiss(self, x, q, x_coords, q_coords, m=16):
        from sklearn.preprocessing import StandardScaler

        sc = StandardScaler().fit_transform(np.vstack([x_coords, q_coords]))
        xa = np.hstack([x, self.lambda_spatial * sc[:len(x_coords)]]).astype(np.float32).astype(np.float64)
        qa = np.hstack([q, self.lambda_spatial * sc[len(x_coords):]]).astype(np.float32).astype(np.float64)
        out = np.empty((len(qa), 1), np.int64)
        for i in range(len(qa)):
            lab = ((qa[i, :-2] - xa[:, :-2]) ** 2).sum(axis=1)
            sp = (qa[i, -2] - xa[:, -2]) ** 2 + (qa[i, -1] - xa[:, -1]) ** 2
            out[i, 0] = int(np.argmin(lab + sp))
        return out


def _blobs(rng, h, w, k=3, level=0.5):
    """Smooth random uint8 map and a GT made of a few random blobs."""
    noise = ndi.gaussian_filter(rng.random((h, w)), sigma=max(h, w) / 8)
    noise = (noise - noise.min()) / (np.ptp(noise) + 1e-12)
    pred = (noise * 255).astype(np.uint8)
    gt = np.zeros((h, w), np.uint8)
    for _ in range(k):
        r, c = rng.integers(0, h), rng.integers(0, w)
        rr, cc = np.ogrid[:h, :w]
        gt[(rr - r) ** 2 + (cc - c) ** 2 <= rng.integers(1, max(2, min(h, w) // 3)) ** 2] = 255
    return pred, gt


def _rgb(rng, h, w):
    base = ndi.gaussian_filter(rng.random((h, w, 3)) * 255, sigma=(2, 2, 0))
    return np.clip(base + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)


def _run(family, pairs, images=None):
    acc = Accumulator(family)
    per = []
    for i, (p, g) in enumerate(pairs):
        x = image_input(p, g)
        if images is not None:
            x.image = images[i]
        scores, contrib = family.image(x)
        per.append(scores)
        acc.add(contrib)
    return per, acc


def _edge_pairs(rng, h=32, w=40):
    """Empty GT, full GT, constant maps, one-pixel objects, many components."""
    z = np.zeros((h, w), np.uint8)
    f = np.full((h, w), 255, np.uint8)
    pred, gt = _blobs(rng, h, w)
    one = z.copy()
    one[h // 2, w // 3] = 255
    one_p = z.copy()
    one_p[h // 2 + 1, w // 3 + 2] = 255
    salt = ((rng.random((h, w)) < 0.15) * 255).astype(np.uint8)
    salt_p = ((rng.random((h, w)) < 0.2) * 255).astype(np.uint8)
    half = z.copy()
    half[:, : w // 2] = 255
    return [(pred, z), (pred, f), (z, gt), (f, gt), (np.full((h, w), 128, np.uint8), gt),
            (z, z), (f, f), (one_p, one), (one, one), (pred, one), (salt_p, salt), (pred, salt),
            (half, half), (pred, half), (salt_p, gt)]


# ----------------------------------------------------------------------------- HCE


def test_skeleton_matches_skimage():
    from skimage.morphology import skeletonize

    rng = np.random.default_rng(3)
    for t in range(150):
        h, w = rng.integers(1, 45, 2)
        m = rng.random((h, w)) < rng.random()
        if t % 2:
            m = cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert np.array_equal(zhang_skeleton(m), skeletonize(m)), t


def _hce_parity(pairs):
    ref = psm.HumanCorrectionEffortMeasure()
    for p, g in pairs:
        ref.step(p, g)
    per, acc = _run(HCEFamily(), pairs)
    assert [s["hce"] for s in per] == [float(v) for v in ref.hces]
    assert abs(acc.compute()["hce"] - ref.get_results()["hce"]) <= PARITY_TOL
    return per


def test_hce_random_and_edge_cases():
    rng = np.random.default_rng(0)
    pairs = [_blobs(rng, *rng.integers(20, 70, 2), k=int(rng.integers(1, 6))) for _ in range(20)]
    pairs += _edge_pairs(rng)
    per = _hce_parity(pairs)
    assert any(s["hce"] > 0 for s in per) and all(s["hce"] >= 0 for s in per)


def test_hce_parameters():
    rng = np.random.default_rng(10)
    pairs = [_blobs(rng, 48, 56, k=4) for _ in range(6)] + _edge_pairs(rng)[-4:]
    for relax, eps in ((3, 1.0), (1, 3.5), (0, 2.0)):
        ref = psm.HumanCorrectionEffortMeasure(relax=relax, epsilon=eps)
        for p, g in pairs:
            ref.step(p, g)
        per, _ = _run(HCEFamily(relax=relax, epsilon=eps), pairs)
        assert [s["hce"] for s in per] == [float(v) for v in ref.hces], (relax, eps)


def test_hce_empty_union_is_zero():
    z = np.zeros((10, 12), np.uint8)
    per, acc = _run(HCEFamily(), [(z, z)])
    assert per[0]["hce"] == 0.0 and acc.compute()["hce"] == 0.0


# ----------------------------------------------------------------------- context


def _context_parity(pairs, images, cmw_ref_cls=ExactCamouflageContextMeasure, tol=FLOAT32_TOL):
    a, b = ContextMeasure(), cmw_ref_cls()
    kept = []
    for (p, g), im in zip(pairs, images):
        try:
            ContextMeasure().step(p, g)
        except np.linalg.LinAlgError:  # GT on one slanted line: ours is NaN (own test)
            continue
        a.step(p, g)
        b.step(p, g, img=im)
        kept.append(((p, g), im))
    if not kept:
        return []
    pairs, images = [k[0] for k in kept], [k[1] for k in kept]
    per, acc = _run(ContextFamily(), pairs, images)
    np.testing.assert_allclose([s["cm"] for s in per], a.scores, rtol=0, atol=tol)
    np.testing.assert_allclose([s["cm_w"] for s in per], b.scores, rtol=0, atol=tol)
    res = acc.compute()
    # an image whose window is not finite (the reference's NaN, without raising)
    # leaves the key out here, where it makes the reference's mean NaN
    for ours, ref in ((res["cm"], a.scores), (res["cm_w"], b.scores)):
        want = np.nanmean(ref) if not np.isnan(ref).all() else math.nan
        assert abs(ours - want) <= tol or (math.isnan(ours) and math.isnan(want))
    if not np.isnan(a.scores).any():
        assert abs(res["cm"] - a.get_results()["cm"]) <= tol
        assert abs(res["cm_w"] - b.get_results()["ccm"]) <= tol
    return per


def test_context_random_and_edge_cases():
    rng = np.random.default_rng(1)
    pairs = [_blobs(rng, *rng.integers(30, 80, 2), k=int(rng.integers(1, 4))) for _ in range(10)]
    pairs += _edge_pairs(rng, 40, 48)
    images = [_rgb(rng, *p.shape) for p, _ in pairs]
    per = _context_parity(pairs, images)
    assert all(0 <= s["cm"] <= 1 + 1e-12 for s in per)


def test_context_singular_covariance_is_nan():
    g = (np.eye(12) * 255).astype(np.uint8)  # the reference raises LinAlgError
    p = np.random.default_rng(9).integers(0, 256, (12, 12)).astype(np.uint8)
    with pytest.raises(np.linalg.LinAlgError):
        ContextMeasure().step(p, g)
    per, acc = _run(ContextFamily(), [(p, g)], [_rgb(np.random.default_rng(9), 12, 12)])
    assert math.isnan(per[0]["cm"]) and math.isnan(per[0]["cm_w"])
    assert acc.counts == {} and math.isnan(acc.compute()["cm"])


def test_context_two_pixel_gt_nan_like_the_reference_and_left_out_of_the_mean():
    # two GT pixels: a rank-1 covariance that NumPy happens to invert, so the
    # reference returns NaN without raising (found by Hypothesis)
    rng = np.random.default_rng(4)
    g = np.zeros((7, 10), np.uint8)
    g[0, 4] = g[6, 6] = 255
    p = rng.integers(0, 256, g.shape).astype(np.uint8)
    ref = ContextMeasure()
    ref.step(p, g)
    assert math.isnan(ref.scores[0])
    good = _blobs(rng, 30, 40, k=2)
    per = _context_parity([(p, g), good], [_rgb(rng, *g.shape), _rgb(rng, *good[0].shape)])
    assert math.isnan(per[0]["cm"]) and not math.isnan(per[1]["cm"])
    with warnings.catch_warnings():  # NaN without NumPy's overflow / sqrt warnings
        warnings.simplefilter("error")
        scores, _ = ContextFamily().image(image_input(p, g))
    assert math.isnan(scores["cm"])


def test_context_without_image_leaves_cm_w_out():
    rng = np.random.default_rng(2)
    pairs = [_blobs(rng, 40, 50) for _ in range(3)]
    per, acc = _run(ContextFamily(), pairs)
    assert all(math.isnan(s["cm_w"]) for s in per)
    res = acc.compute()
    assert math.isnan(res["cm_w"]) and not math.isnan(res["cm"])
    assert "cm_w" not in acc.counts


def test_nearest_patches_exact_with_ties():
    rng = np.random.default_rng(4)
    for _ in range(20):
        nx, nq = rng.integers(1, 40), rng.integers(1, 40)
        x = rng.integers(0, 3, (nx, 147)).astype(np.uint8)
        q = rng.integers(0, 3, (nq, 147)).astype(np.uint8)
        x[: nx // 2] = x[nx // 2: 2 * (nx // 2)]  # duplicated rows: exact ties
        xs = rng.integers(-2, 3, (nx, 2)).astype(np.float32)
        qs = rng.integers(-2, 3, (nq, 2)).astype(np.float32)
        d = ((q[:, None, :].astype(np.float64) - x[None].astype(np.float64)) ** 2).sum(-1) \
            + ((qs[:, None, :].astype(np.float64) - xs[None].astype(np.float64)) ** 2).sum(-1)
        assert np.array_equal(nearest_patches(q, x, qs, xs), np.argmin(d, axis=1))


def test_standardise_matches_scikit_learn():
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(5)
    for trial in range(60):
        # up to the sizes of real images' patch sets (thousands of rows)
        c = rng.integers(0, 400, (int(rng.integers(2, 300 if trial < 30 else 8000)), 2)) // 3 * 3
        if rng.random() < 0.3:
            c[:, 0] = 6
        assert np.array_equal(standardise(c), StandardScaler().fit_transform(c))


# --------------------------------------------------------------------- Hypothesis


@st.composite
def _pair(draw):
    # the reference's patch extraction raises on images under 7 px a side
    h = draw(st.integers(7, 24))
    w = draw(st.integers(7, 24))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    kind = draw(st.sampled_from(["blobs", "noise", "binary"]))
    if kind == "blobs":
        p, g = _blobs(rng, h, w, k=int(rng.integers(1, 4)))
    elif kind == "noise":
        p = rng.integers(0, 256, (h, w)).astype(np.uint8)
        g = ((rng.random((h, w)) < rng.random()) * 255).astype(np.uint8)
    else:
        p = ((rng.random((h, w)) < rng.random()) * 255).astype(np.uint8)
        g = ((rng.random((h, w)) < rng.random()) * 255).astype(np.uint8)
    return p, g, _rgb(rng, h, w)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_pair(), min_size=1, max_size=3))
def test_hypothesis_parity(items):
    pairs = [(p, g) for p, g, _ in items]
    _hce_parity(pairs)
    _context_parity(pairs, [im for _, _, im in items])
    for p, g in pairs:
        x = image_input(p, g)
        assert boundary_counts(x.pred > 0.5, x.gt, 3.0) == _boundary_reference(x.pred > 0.5, x.gt, 3.0)


# --------------------------------------------------------------------- real pairs


def _real_pairs(root, n=15):
    return sod_triples(root, n, 20)


def test_real_sod_pairs_hce(shared_data):
    items = _real_pairs(shared_data)
    per = _hce_parity([(p, g) for p, g, _ in items])
    assert len(per) == 15 and min(s["hce"] for s in per) > 0


def test_real_sod_pairs_context(shared_data):
    items = _real_pairs(shared_data)
    pairs, images = [(p, g) for p, g, _ in items], [im for _, _, im in items]
    # the reference as shipped (scikit-learn's brute-force search; on these
    # pairs the float32 forward term agrees to the last bit) ...
    _context_parity(pairs, images, CamouflageContextMeasure, tol=PARITY_TOL)
    # ... and with a plain exact search
    _context_parity(pairs[:4], images[:4], ExactCamouflageContextMeasure)


# ----------------------------------------------------------- relaxed boundary F


def _boundary_reference(pred, gt, rho):
    """Straightforward NumPy/SciPy counts: boundary = mask XOR erosion (3x3
    square, outside set); matches from Euclidean distance transforms."""
    sq = np.ones((3, 3), bool)
    pb = pred & ~ndi.binary_erosion(pred, sq, border_value=1)
    gb = gt & ~ndi.binary_erosion(gt, sq, border_value=1)

    def matched(a, b):
        if not b.any():
            return 0
        return int((a & (ndi.distance_transform_edt(~b) <= rho)).sum())

    return int(pb.sum()), int(gb.sum()), matched(pb, gb), matched(gb, pb)


def test_boundary_kernel_matches_scipy_reference():
    rng = np.random.default_rng(6)
    for t in range(200):
        h, w = rng.integers(1, 40, 2)
        p = rng.random((h, w)) < rng.random()
        g = rng.random((h, w)) < rng.random()
        if t % 3 == 0:
            p = ndi.binary_dilation(p, iterations=2)
        for rho in (3.0, 1.0, 2.5, 5.0):
            assert boundary_counts(p, g, rho) == _boundary_reference(p, g, rho), (t, rho)


def test_boundary_hand_examples():
    z = np.zeros((11, 11), bool)

    def at(*pts):
        m = z.copy()
        for r, c in pts:
            m[r, c] = True
        return m

    g = at((5, 5))
    assert boundary_counts(at((5, 8)), g, 3) == (1, 1, 1, 1)  # distance 3: matched
    assert boundary_counts(at((5, 9)), g, 3) == (1, 1, 0, 0)  # distance 4
    assert boundary_counts(at((7, 7)), g, 3) == (1, 1, 1, 1)  # √8 ≤ 3
    assert boundary_counts(at((7, 8)), g, 3) == (1, 1, 0, 0)  # √13 > 3, inside the 7x7 square
    block = z.copy()
    block[4:7, 4:7] = True
    pred = block.copy()
    pred[0, 10] = True
    f, p, r = relax_boundary_scores(pred.astype(float), block, 3)
    assert (p, r) == (8 / 9, 1.0)
    assert f == pytest.approx((1 + BETA2) * (8 / 9) / (BETA2 * 8 / 9 + 1), abs=1e-15)
    half = np.zeros((6, 8), bool)
    half[:, :4] = True  # the image frame is no boundary: only column 3 is
    assert boundary_counts(half, half, 3) == (6, 6, 6, 6)
    full = np.ones((5, 5), bool)
    assert boundary_counts(full, full, 3) == (0, 0, 0, 0)
    assert relax_boundary_scores(np.ones((5, 5)), full) == (0.0, 0.0, 0.0)
    assert relax_boundary_scores(np.zeros((5, 5)), np.zeros((5, 5), bool)) == (0.0, 0.0, 0.0)


def test_boundary_family_means():
    rng = np.random.default_rng(7)
    pairs = [_blobs(rng, 40, 50) for _ in range(6)] + _edge_pairs(rng)
    per, acc = _run(RelaxedBoundaryFamily(), pairs)
    res = acc.compute()
    for k in ("relax_bf", "relax_bp", "relax_br"):
        assert abs(res[k] - np.mean([s[k] for s in per])) <= PARITY_TOL
    for (p, g), s in zip(pairs, per):
        x = image_input(p, g)
        n_p, n_g, m_p, m_g = _boundary_reference(x.pred > 0.5, x.gt, 3.0)
        bp = m_p / n_p if n_p else 0.0
        br = m_g / n_g if n_g else 0.0
        assert s["relax_bp"] == bp and s["relax_br"] == br
        assert s["relax_bf"] == ((1 + BETA2) * bp * br / (BETA2 * bp + br) if bp + br else 0.0)


# ------------------------------------------------------------------- merging


@pytest.mark.parametrize("family", [HCEFamily, ContextFamily, RelaxedBoundaryFamily])
def test_merge_equals_one_pass(family):
    rng = np.random.default_rng(8)
    pairs = [_blobs(rng, 30, 36, k=int(rng.integers(1, 4))) for _ in range(7)]
    images = [_rgb(rng, 30, 36) for _ in pairs]
    _, one = _run(family(), pairs, images)
    _, a = _run(family(), pairs[:3], images[:3])
    _, b = _run(family(), pairs[3:], images[3:])
    a.merge(b)
    assert a.state_dict() == one.state_dict()
    assert a.compute() == one.compute()


def test_specs_cover_keys():
    for fam in (HCEFamily(), ContextFamily(), RelaxedBoundaryFamily()):
        specs = fam.specs()
        assert tuple(s.key for s in specs) == fam.keys
        assert all(s.family == fam.name and s.definition and s.header_md and s.header_tex for s in specs)
