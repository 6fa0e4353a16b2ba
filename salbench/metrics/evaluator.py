"""The accumulating :class:`Evaluator`: exact sums of every image's curves and
scalars under one protocol (memory constant in the number of images, shards
merge bit for bit), plus the metric families asked for beyond the classic set
(:mod:`salbench.metrics.families`)."""

from __future__ import annotations

import numpy as np

from salbench.metrics import numeric, table
from salbench.metrics.families.base import Accumulator
from salbench.metrics.exactsum import ExactSum
from salbench.metrics.pair import (_I_DICE, _I_E, _I_F, _I_IOU, _I_P, _I_R, _N_CURVE_SUMS, _N_SUMS,
                                   CURVES, SCALARS, PairStats, _plain, image_stats)
from salbench.metrics.protocols import DEFAULT_PROTOCOL, Protocol, get_protocol


def f_of(p: np.ndarray, r: np.ndarray, beta2: float) -> np.ndarray:
    """F-measure curve from P and R curves, 0 where the numerator is 0."""
    num = (1.0 + beta2) * p * r
    den = np.where(num == 0, 1.0, beta2 * p + r)
    return num / den


class Evaluator:
    """Accumulates images under one protocol; memory is constant in the
    number of images (exact sums of six 256-point curves and five scalars,
    and counts).

    ``update(pred, gt)`` returns that image's scores; ``compute()`` the dataset
    scores; ``merge(other)`` adds another evaluator's state (shards from
    different processes combine). The sums are exact (fixed point, see
    :mod:`salbench.metrics.exactsum`) and every mean is rounded once, so the result
    does not depend on the order of the images: a merge of shards equals a
    single pass bit for bit. ``state_dict()`` / ``from_state_dict`` serialise
    to plain JSON types (version 1 states, float64 sums, still load).
    """

    STATE_VERSION = 2

    def __init__(self, protocol: str | Protocol = DEFAULT_PROTOCOL, structural: bool = True,
                 metrics=()) -> None:
        self.protocol = get_protocol(protocol)
        self.structural = bool(structural)
        #: metric families beyond the classic set (names of :data:`salbench.metrics.table.FAMILIES`)
        self.metrics = table.parse_metrics(metrics)
        self.families = table.make_families(self.metrics)
        table.check_protocol(self.families, self.protocol.name)
        self.reset()

    def reset(self) -> None:
        """Forget every image added (the protocol and metric families stay)."""
        self.count = 0
        # one exact sum: the curves (row after row), then the scalars
        self._sums = ExactSum((_N_SUMS,))
        self._scalar_counts = np.zeros(len(SCALARS), dtype=np.int64)
        self._acc = {f.name: Accumulator(f) for f in self.families}

    def update(self, pred, gt, image=None) -> dict:
        """Add one pair; returns its scores (keys :data:`SCORE_KEYS`, then the
        metric families'). ``image``: the photo (H x W x 3 uint8 RGB) for
        families that need it (the camouflage context measure)."""
        st = image_stats(pred, gt, self.protocol, self.structural, families=self.families, image=image)
        self.add_stats(st)
        return st.scores()

    def add_stats(self, st: PairStats) -> None:
        """Add an image's precomputed :class:`PairStats` (engine threads compute
        them; the main thread adds them)."""
        vals = np.zeros(_N_SUMS, dtype=np.float64)
        vals[:_N_CURVE_SUMS] = st.curves.reshape(-1)
        for i, key in enumerate(SCALARS):
            v = getattr(st, key)
            if v is not None:
                vals[_N_CURVE_SUMS + i] = v
                self._scalar_counts[i] += 1
        missing = [name for name in self._acc if name not in st.extra]
        if missing:
            raise ValueError(f"Evaluator.add_stats: the image's stats lack metric famil"
                             f"{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)} "
                             "(compute them with image_stats(..., families=evaluator.families))")
        self._sums.add(vals)
        for name, acc in self._acc.items():
            acc.add(st.extra[name][1])
        self.count += 1

    def merge(self, other: "Evaluator") -> "Evaluator":
        """Add ``other``'s state to this one (in place; returns self)."""
        if other.protocol.name != self.protocol.name:
            raise ValueError(f"cannot merge protocol {other.protocol.name!r} into {self.protocol.name!r}")
        if other.structural != self.structural:
            raise ValueError("cannot merge an evaluator with S-measure / weighted F into one without (structural differs)")
        if other.metrics != self.metrics:
            raise ValueError(f"cannot merge an evaluator with metric families {list(other.metrics)} "
                             f"into one with {list(self.metrics)}")
        self._sums.merge(other._sums)
        for name, acc in self._acc.items():
            acc.merge(other._acc[name])
        self._scalar_counts += other._scalar_counts
        self.count += other.count
        return self

    def state_dict(self) -> dict:
        """Plain JSON types: the exact sums as integer limbs (see
        :mod:`salbench.metrics.exactsum`), the counts, the protocol's name."""
        return {
            "version": self.STATE_VERSION,
            "protocol": self.protocol.name,
            "structural": self.structural,
            "count": int(self.count),
            "curves": list(CURVES),
            "scalars": list(SCALARS),
            # the curves (row after row, 256 points each), then the scalars
            "sums": self._sums.to_json(),
            "scalar_counts": {k: int(self._scalar_counts[i]) for i, k in enumerate(SCALARS)},
            "metrics": list(self.metrics),
            "families": {name: acc.state_dict() for name, acc in self._acc.items()},
        }

    @classmethod
    def _validate_state(cls, d) -> None:
        """Counts, keys and types of a state dict; a clear ValueError otherwise."""
        from collections.abc import Mapping

        if not isinstance(d, Mapping):
            raise ValueError(f"Evaluator state must be a dict, got {type(d).__name__}")
        version = d.get("version")
        if version not in (1, cls.STATE_VERSION) or isinstance(version, bool):
            raise ValueError(f"unsupported Evaluator state version {version!r} "
                             f"(this salbench reads 1 and {cls.STATE_VERSION})")
        need = ["protocol", "count", "scalar_counts"] + (
            ["curve_sums", "scalar_sums"] if version == 1 else ["sums"])
        missing = [k for k in need if k not in d]
        if missing:
            raise ValueError(f"Evaluator state (version {version}) lacks key(s) {', '.join(missing)}")
        if not isinstance(d["protocol"], str):
            raise ValueError(f"Evaluator state: 'protocol' must be a protocol name, got {type(d['protocol']).__name__}")
        if "structural" in d and not isinstance(d["structural"], bool):
            raise ValueError(f"Evaluator state: 'structural' must be true or false, got {d['structural']!r}")
        count = d["count"]
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"Evaluator state: 'count' must be a non-negative integer, got {_plain(count)!r}")
        sc = d["scalar_counts"]
        if not isinstance(sc, Mapping) or set(sc) != set(SCALARS):
            got = sorted(map(str, sc)) if isinstance(sc, Mapping) else type(sc).__name__
            raise ValueError(f"Evaluator state: 'scalar_counts' must have exactly the keys "
                             f"{', '.join(SCALARS)}; got {got}")
        for k in SCALARS:
            c = sc[k]
            if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or not 0 <= c <= count:
                raise ValueError(f"Evaluator state: scalar_counts[{k!r}] must be an integer in "
                                 f"0..{int(count)} (the image count), got {_plain(c)!r}")
        if version == 1:
            cs, ss = d["curve_sums"], d["scalar_sums"]
            if not isinstance(cs, Mapping) or set(cs) != set(CURVES):
                raise ValueError(f"Evaluator state: 'curve_sums' must have exactly the keys {', '.join(CURVES)}")
            if not isinstance(ss, Mapping) or set(ss) != set(SCALARS):
                raise ValueError(f"Evaluator state: 'scalar_sums' must have exactly the keys {', '.join(SCALARS)}")
            for k in SCALARS:
                if isinstance(ss[k], bool) or not isinstance(ss[k], (int, float, np.number)):
                    raise ValueError(f"Evaluator state: scalar_sums[{k!r}] must be a number, got {_plain(ss[k])!r}")

    @classmethod
    def from_state_dict(cls, d: dict) -> "Evaluator":
        """Rebuild from :meth:`state_dict` (the protocol is looked up by name
        in :data:`salbench.metrics.protocols.PROTOCOLS`). Version 1 states (float64
        sums) load too: their sums are taken as exact values."""
        cls._validate_state(d)
        version = d.get("version")
        try:
            ev = cls(d["protocol"], structural=d.get("structural", True), metrics=list(d.get("metrics", [])))
        except Exception as exc:  # SalbenchError of get_protocol
            raise ValueError(f"Evaluator state: {exc}") from None
        ev.count = int(d["count"])
        if version == 1:
            curves = np.empty((len(CURVES), numeric.N_BINS), dtype=np.float64)
            for i, k in enumerate(CURVES):
                row = np.asarray(d["curve_sums"][k], dtype=np.float64)
                if row.shape != (numeric.N_BINS,):
                    raise ValueError(f"state curve {k!r} must have {numeric.N_BINS} points")
                curves[i] = row
            ev._sums.add(np.concatenate([curves.reshape(-1),
                                         np.array([float(d["scalar_sums"][k]) for k in SCALARS])]))
        else:
            if list(d.get("curves", CURVES)) != list(CURVES) or list(d.get("scalars", SCALARS)) != list(SCALARS):
                raise ValueError("Evaluator state lists other curves / scalars than this version of salbench")
            try:
                ev._sums = ExactSum.from_json((_N_SUMS,), d["sums"])
            except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
                raise ValueError(f"Evaluator state: 'sums' is not a valid exact-sum record "
                                 f"({type(exc).__name__}: {exc})") from None
        for i, k in enumerate(SCALARS):
            ev._scalar_counts[i] = int(d["scalar_counts"][k])
        fams = d.get("families", {})
        for name, acc in ev._acc.items():
            if name not in fams:
                raise ValueError(f"Evaluator state lists metric family {name!r} but holds no state for it")
            try:
                acc.load_state_dict(fams[name])
            except (KeyError, ValueError, TypeError) as exc:
                raise ValueError(f"Evaluator state of metric family {name!r} is not valid "
                                 f"({type(exc).__name__}: {exc})") from None
        return ev

    def compute(self) -> dict:
        """Dataset scores. Curves are lists of 256 floats, index t =
        threshold t (ascending). ``max_f`` / ``mean_f`` follow the protocol's
        ``f_aggregation``; every other curve is the mean of per-image curves."""
        if self.count == 0:
            raise ValueError("Evaluator.compute(): no image has been added")
        counts = np.concatenate([np.full(_N_CURVE_SUMS, self.count, np.int64), self._scalar_counts])
        means = self._sums.means(counts)
        curves = means[:_N_CURVE_SUMS].reshape(len(CURVES), numeric.N_BINS)
        scalar_means = means[_N_CURVE_SUMS:]
        p, r = curves[_I_P], curves[_I_R]
        if self.protocol.f_aggregation == "curve_of_means":
            f = f_of(p, r, self.protocol.beta2)
        else:
            f = curves[_I_F]
        e, iou, dice = curves[_I_E], curves[_I_IOU], curves[_I_DICE]

        def scalar(key):
            i = SCALARS.index(key)
            return float(scalar_means[i]) if self._scalar_counts[i] else None

        return {
            "protocol": self.protocol.name,
            "protocol_details": self.protocol.to_dict(),
            "count": int(self.count),
            "mae": scalar("mae"),
            "max_f": float(f.max()),
            "mean_f": float(f.mean()),
            "adp_f": scalar("adp_f"),
            "s_measure": scalar("s_measure"),
            "max_e": float(e.max()),
            "mean_e": float(e.mean()),
            "adp_e": scalar("adp_e"),
            "weighted_f": scalar("weighted_f"),
            "max_iou": float(iou.max()),
            "mean_iou": float(iou.mean()),
            "max_dice": float(dice.max()),
            "mean_dice": float(dice.mean()),
            "precision": p.tolist(),
            "recall": r.tolist(),
            "f_curve": f.tolist(),
            "e_curve": e.tolist(),
            "iou_curve": iou.tolist(),
            "dice_curve": dice.tolist(),
            "curve_order": "index t is threshold t (t = 0..255, ascending)",
            **self._family_results(),
        }

    def _family_results(self) -> dict:
        """Each family's dataset values (curves as lists of floats)."""
        out = {}
        for acc in self._acc.values():
            for key, v in acc.compute().items():
                if np.ndim(v):
                    out[key] = [None if x != x else x for x in np.asarray(v, np.float64).tolist()]
                else:
                    out[key] = None if v != v else float(v)  # NaN (undefined): None
        return out

