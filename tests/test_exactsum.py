"""salbench.metrics.exactsum: exact fixed-point sums against Python's exact rationals."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from salbench.metrics import exactsum
from salbench.metrics.exactsum import ExactSum
from salbench.metrics import Evaluator

from naive import exact_mean

_VALUES = st.one_of(
    st.floats(min_value=0.0, max_value=1.0, allow_nan=False, allow_subnormal=True),
    st.sampled_from([0.0, 1.0, 5e-324, 2.2250738585072014e-308, 1e-300, 0.1, 1 / 3, 1 - 2**-53]),
    st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    st.floats(min_value=0.0, max_value=2.0**61, allow_nan=False),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_VALUES, min_size=3, max_size=3), min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_sums_are_exact_and_order_free(rows, rnd):
    s = ExactSum((3,))
    for r in rows:
        s.add(np.array(r))
    want = [exact_mean([r[j] for r in rows], len(rows)) for j in range(3)]
    assert s.means(len(rows)).tolist() == want  # correctly rounded: equal, not close
    # any order and any split, merged through JSON, gives the same bits
    rnd.shuffle(rows)
    cut = rnd.randint(0, len(rows))
    a, b = ExactSum((3,)), ExactSum((3,))
    for r in rows[:cut]:
        a.add(np.array(r))
    for r in rows[cut:]:
        b.add(np.array(r))
    b = ExactSum.from_json((3,), json.loads(json.dumps(b.to_json())))
    b.merge(a)
    assert b.means(len(rows)).tolist() == want


def test_carries_keep_limbs_in_range(monkeypatch):
    monkeypatch.setattr(exactsum, "_CARRY_EVERY", 3)
    s = ExactSum((2,))
    vals = [np.array([1 - 2**-53, 0.75]), np.array([2**-40, 2.0**45 + 0.5])] * 7
    for v in vals:
        s.add(v)
        assert (s.limbs >= 0).all() and (s.limbs[1:] < 4 * 2**32).all()
    assert s.sums().tolist() == [float(sum(Fraction(v[j]) for v in vals)) for j in range(2)]


def test_limbs_add_in_int64():
    s = ExactSum((1,))
    s.limbs[2, 0] = 2**60 + 1  # beyond float64's integers: the addition must stay int64
    s.add(np.array([0.5]))
    assert int(s.limbs[2, 0]) == 2**60 + 1 + 2**31


def test_bad_values_raise():
    s = ExactSum((2,))
    for bad in ([np.nan, 0.0], [-1e-9, 0.0], [np.inf, 0.0], [2.0**62, 0.0]):
        with pytest.raises(ValueError, match=r"finite and in \[0, 2\*\*62\)"):
            s.add(np.array(bad))
    with pytest.raises(ValueError, match="shape"):
        s.add(np.zeros(3))
    # a bad value anywhere adds nothing at all
    s.add(np.array([0.25, 0.5]))
    before = s.limbs.copy()
    with pytest.raises(ValueError, match="flat index 1"):
        s.add(np.array([0.75, np.nan]))
    assert (s.limbs == before).all()
    with pytest.raises(ValueError, match="limbs out of range"):
        ExactSum.from_json((2,), {"limb_bits": 32, "limbs": [[0, 0], [0, 0], [-1, 0]]})


def test_zero_count_gives_nan_and_version_1_states_load():
    s = ExactSum((2,))
    s.add(np.array([0.5, 0.25]))
    m = s.means(np.array([2, 0]))
    assert m[0] == 0.25 and np.isnan(m[1])
    # a version-1 state (float64 sums) of the same images gives the same scores
    rng = np.random.default_rng(1)
    ev = Evaluator(structural=False)
    for _ in range(4):
        ev.update((rng.random((9, 11)) * 255).astype(np.uint8), ((rng.random((9, 11)) > 0.5) * 255).astype(np.uint8))
    sd = ev.state_dict()
    v1 = {"version": 1, "protocol": sd["protocol"], "structural": False, "count": sd["count"],
          "curve_sums": {k: ev._sums.sums()[256 * i:256 * (i + 1)].tolist() for i, k in enumerate(sd["curves"])},
          "scalar_sums": {k: float(ev._sums.sums()[256 * len(sd["curves"]) + i]) for i, k in enumerate(sd["scalars"])},
          "scalar_counts": sd["scalar_counts"]}
    old = Evaluator.from_state_dict(json.loads(json.dumps(v1))).compute()
    new = ev.compute()
    for k, v in new.items():
        if isinstance(v, float):
            assert old[k] == pytest.approx(v, abs=1e-15), k


def test_jit_and_installed_builds_split_alike():
    from salbench.metrics.kernels import build as FP

    rng = np.random.default_rng(3)
    rows = [rng.random(50) * rng.choice([1e-300, 1e-20, 1.0, 1e15], 50) for _ in range(20)]
    rows.append(np.array([5e-324, 2.0**61, 1 - 2**-53] + [0.0] * 47))
    sums = {}
    for mode in ("jit", "auto"):
        prev = FP.use(mode)
        try:
            s = ExactSum((50,))
            for r in rows:
                s.add(r)
            sums[FP.active().backend] = (s.limbs.copy(), s.means(len(rows)))
        finally:
            FP.use(prev)
    want = [exact_mean([r[j] for r in rows], len(rows)) for j in range(50)]
    for limbs, means in sums.values():
        assert means.tolist() == want
        assert (limbs == sums["jit"][0]).all()
