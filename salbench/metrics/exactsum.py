"""Exact, order-independent sums of float64 arrays (the Evaluator's accumulators).

A dataset score is a mean over images. Summed in float64, the result depends
(in the last bits) on the order of the additions, so two shards evaluated on
different machines and merged would differ from a single pass by ~1e-16. Here
every value is added *exactly*, in fixed point: a non-negative float64 ``x``
(below 2**62) is split, without rounding, into two 32-bit integer limbs and
:data:`N_LIMBS` 32-bit fraction limbs (``x = a · 2**32 + b + Σ_k d_k ·
2**(-32·k)``; 34 fraction limbs reach 2**-1088, below the smallest float64),
and the limbs are summed in int64 (with carries propagated before they could
overflow). Values above 1 do occur: PySODMetrics' E-measure of a one-pixel
image divides by ``eps`` (~4.5e15). The sum is
therefore the exact rational sum of the values, whatever the order or the
sharding; :meth:`ExactSum.means` divides it by the count and rounds once
(Python's integer division is correctly rounded). Hence ``merge`` of shards
equals a single pass **bit for bit**, and the means are the correctly rounded
means of the per-image values.

The split runs in a compiled kernel (:func:`salbench.metrics.kernels.counts.exact_add`, in
the build :mod:`salbench.metrics.kernels.build` picks): a few µs per image for the
Evaluator's 1541 values; typical values (≥ ~1e-10) end after 2–3 limbs, and
only the limbs that occur are carried.
"""

from __future__ import annotations

import numpy as np

#: bits per fraction limb
LIMB_BITS = 32
#: fraction limbs: 34 · 32 = 1088 bits, enough for every float64 (2**-1074)
N_LIMBS = 34
_SCALE = float(1 << LIMB_BITS)
_MASK = (1 << LIMB_BITS) - 1
#: adds between carry propagations: each adds < 2**32 to a limb, so limbs stay
#: below 2**32 · (2**30 + 1) < 2**63
_CARRY_EVERY = 1 << 30
#: values must lie below this (the top limb then gains < 2**30 per add)
_MAX_VALUE = float(1 << 62)
#: limbs before the first fraction limb (2**32 units, units)
_INT_LIMBS = 2


class ExactSum:
    """Exact running sum of float64 arrays of one ``shape``, values in
    [0, 2**62). ``add`` one array at a time, ``merge`` another ExactSum,
    ``means(count)`` for the correctly rounded sums / count."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(shape)
        # limbs[i]: multiples of 2**(32·(1 - i)): [0] 2**32, [1] units, [1 + k] 2**(-32·k)
        self.limbs = np.zeros((_INT_LIMBS + N_LIMBS,) + self.shape, dtype=np.int64)
        self.used = _INT_LIMBS  # limbs[used:] are all zero
        self._pending = 0  # adds since the last carry propagation

    # --- adding ---------------------------------------------------------------
    def add(self, x) -> None:
        """Add a float64 array of :attr:`shape` (exactly). A value outside
        [0, 2**62) or NaN raises ``ValueError`` and adds nothing."""
        from salbench.metrics.kernels import build as _fastpath  # the compiled split (no numba when built at install)

        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.shape != self.shape:
            raise ValueError(f"ExactSum.add: shape {x.shape}, expected {self.shape}")
        used = _fastpath.active().exact_add(x.reshape(-1), self.limbs.reshape(self.limbs.shape[0], -1),
                                            _SCALE, _MAX_VALUE)
        if used < 0:
            bad = x.reshape(-1)[-1 - used]
            raise ValueError(f"ExactSum.add: values must be finite and in [0, 2**62), got {bad!r} "
                             f"at flat index {-1 - used}")
        if used > self.used:
            self.used = used
        self._pending += 1
        if self._pending >= _CARRY_EVERY:
            self._carry()

    def merge(self, other: "ExactSum") -> None:
        """Add ``other``'s sum (exactly)."""
        if other.shape != self.shape:
            raise ValueError(f"ExactSum.merge: shape {other.shape}, expected {self.shape}")
        if self._pending + other._pending >= _CARRY_EVERY:
            self._carry()
            other = other.copy()
            other._carry()
        self.limbs += other.limbs
        self.used = max(self.used, other.used)
        self._pending += other._pending

    def copy(self) -> "ExactSum":
        """An independent copy of this sum."""
        c = ExactSum(self.shape)
        c.limbs[...] = self.limbs
        c.used = self.used
        c._pending = self._pending
        return c

    def _carry(self) -> None:
        """Propagate carries so that every limb but the top one is below 2**32."""
        for k in range(self.used - 1, 0, -1):
            carry = self.limbs[k] >> LIMB_BITS
            self.limbs[k] &= _MASK
            self.limbs[k - 1] += carry
        self._pending = 1

    # --- reading --------------------------------------------------------------
    def _exact(self) -> list[int]:
        """The sums as integers in units of 2**(-32·(used-2)), flattened."""
        used = self.used
        flat = self.limbs[:used].reshape(used, -1)
        out = []
        for j in range(flat.shape[1]):
            total = 0
            for k in range(used):
                total = (total << LIMB_BITS) + int(flat[k, j])
            out.append(total)
        return out

    def means(self, count: int | np.ndarray) -> np.ndarray:
        """Correctly rounded ``sum / count`` (float64, :attr:`shape`); ``count``
        a positive int or an int array of :attr:`shape` (0 gives NaN)."""
        shift = LIMB_BITS * (self.used - _INT_LIMBS)
        counts = np.broadcast_to(np.asarray(count, dtype=np.int64), self.shape).reshape(-1)
        out = np.empty(counts.shape[0], dtype=np.float64)
        for j, total in enumerate(self._exact()):
            c = int(counts[j])
            out[j] = total / (c << shift) if c > 0 else np.nan  # int / int: correctly rounded
        return out.reshape(self.shape)

    def sums(self) -> np.ndarray:
        """Correctly rounded sums (float64)."""
        return self.means(1)

    # --- serialising ----------------------------------------------------------
    def to_json(self) -> dict:
        """Plain JSON: the used limbs as (exact) integers per element."""
        self._carry()
        return {"limb_bits": LIMB_BITS, "limbs": self.limbs[:self.used].reshape(self.used, -1).tolist()}

    @classmethod
    def from_json(cls, shape: tuple[int, ...], d: dict) -> "ExactSum":
        """Rebuild a sum of ``shape`` from :meth:`to_json`; malformed limbs raise ``ValueError``."""
        if d.get("limb_bits") != LIMB_BITS:
            raise ValueError(f"exact-sum state with limb_bits {d.get('limb_bits')!r}, expected {LIMB_BITS}")
        rows = np.asarray(d["limbs"], dtype=np.int64)
        size = int(np.prod(shape)) if shape else 1
        if rows.ndim != 2 or rows.shape[1] != size or not _INT_LIMBS <= rows.shape[0] <= _INT_LIMBS + N_LIMBS:
            raise ValueError(f"exact-sum state of shape {rows.shape} does not fit {shape}")
        if (rows < 0).any() or (rows[1:] > _MASK).any():
            raise ValueError("exact-sum state has limbs out of range")
        s = cls(shape)
        s.limbs[:rows.shape[0]] = rows.reshape((rows.shape[0],) + tuple(shape))
        s.used = rows.shape[0]
        s._pending = 1
        return s
