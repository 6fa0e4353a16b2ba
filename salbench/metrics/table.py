"""The metric table: every result key salbench reports, with its one-line
definition, reference, direction, Markdown / LaTeX headers and the protocols
that define it. ``salbench eval`` / the store / ``salbench report`` /
``salbench list metrics`` read names, directions and headers from here.

The classic set (:data:`CLASSIC`) is computed by :mod:`salbench.metrics.pair`
under every protocol; the families (:data:`FAMILIES`) are chosen with
``--metrics`` and are defined under the protocols their specs name (all of
them under ``pysodmetrics`` only: Hou et al.'s evaluation code, the ``r3net``
protocol, defines none of them, so they are refused there).
"""

from __future__ import annotations

import importlib
from functools import lru_cache

from salbench.errors import SalbenchError
from salbench.metrics.families.base import Family, MetricSpec

_BOTH = ("pysodmetrics", "r3net")
_PYSOD = "PySODMetrics 1.6.2"


def _classic(key, definition, reference, higher, md, tex, per_image=True, curve=False):
    return MetricSpec(key, "classic", definition, reference, higher, md, tex, per_image, curve, _BOTH)


#: the classic set, computed in one pass by :mod:`salbench.metrics.pair`
CLASSIC: tuple[MetricSpec, ...] = (
    _classic("mae", "mean absolute error between the map in [0, 1] and the binary GT",
             "Perazzi et al., CVPR 2012", False, "MAE", "MAE"),
    _classic("max_f", "maximum over 256 thresholds of the F-measure (β² = 0.3)",
             "Achanta et al., CVPR 2009", True, "Fβ", r"$F_\beta$"),
    _classic("mean_f", "mean over 256 thresholds of the F-measure (β² = 0.3)",
             "Achanta et al., CVPR 2009", True, "mean Fβ", r"mean $F_\beta$"),
    _classic("adp_f", "F-measure at the adaptive threshold min(2·mean, 1)",
             "Achanta et al., CVPR 2009", True, "adp Fβ", r"adp $F_\beta$"),
    _classic("s_measure", "structure measure: 0.5 object-aware + 0.5 region-aware similarity",
             "Fan et al., ICCV 2017", True, "Sα", r"$S_\alpha$"),
    _classic("max_e", "maximum over 256 thresholds of the enhanced-alignment measure",
             "Fan et al., IJCAI 2018", True, "max Eξ", r"max $E_\xi$"),
    _classic("mean_e", "mean over 256 thresholds of the enhanced-alignment measure",
             "Fan et al., IJCAI 2018", True, "mean Eξ", r"mean $E_\xi$"),
    _classic("adp_e", "enhanced-alignment measure at the adaptive threshold",
             "Fan et al., IJCAI 2018", True, "adp Eξ", r"adp $E_\xi$"),
    _classic("weighted_f", "weighted F-measure (β² = 1) with distance-weighted errors",
             "Margolin et al., CVPR 2014", True, "wFβ", r"$F^w_\beta$"),
    _classic("max_iou", "maximum over 256 thresholds of the mean per-image IoU",
             _PYSOD, True, "max IoU", r"max IoU", per_image=False),
    _classic("mean_iou", "mean over 256 thresholds of the mean per-image IoU",
             _PYSOD, True, "mean IoU", r"mean IoU", per_image=False),
    _classic("max_dice", "maximum over 256 thresholds of the mean per-image Dice",
             _PYSOD, True, "max Dice", r"max Dice", per_image=False),
    _classic("mean_dice", "mean over 256 thresholds of the mean per-image Dice",
             _PYSOD, True, "mean Dice", r"mean Dice", per_image=False),
    _classic("precision", "precision at thresholds 0..255 (curve)", "Achanta et al., CVPR 2009",
             True, "P", "P", per_image=False, curve=True),
    _classic("recall", "recall at thresholds 0..255 (curve)", "Achanta et al., CVPR 2009",
             True, "R", "R", per_image=False, curve=True),
    _classic("f_curve", "F-measure at thresholds 0..255 (curve)", "Achanta et al., CVPR 2009",
             True, "F curve", "F curve", per_image=False, curve=True),
    _classic("e_curve", "E-measure at thresholds 0..255 (curve)", "Fan et al., IJCAI 2018",
             True, "E curve", "E curve", per_image=False, curve=True),
    _classic("iou_curve", "mean per-image IoU at thresholds 0..255 (curve)", _PYSOD,
             True, "IoU curve", "IoU curve", per_image=False, curve=True),
    _classic("dice_curve", "mean per-image Dice at thresholds 0..255 (curve)", _PYSOD,
             True, "Dice curve", "Dice curve", per_image=False, curve=True),
)

#: short spellings accepted on the command line (lower case, no separators)
ALIASES: dict[str, str] = {
    "maxf": "max_f", "meanf": "mean_f", "adpf": "adp_f", "s": "s_measure", "sm": "s_measure",
    "smeasure": "s_measure", "maxe": "max_e", "meane": "mean_e", "adpe": "adp_e",
    "wf": "weighted_f", "weightedf": "weighted_f", "mae": "mae",
}

#: family name -> module holding its :class:`Family` subclass (imported on use)
FAMILIES: dict[str, str] = {
    "fmv2": "salbench.metrics.families.confusion",
    "si": "salbench.metrics.families.size_invariance",
    "msiou": "salbench.metrics.families.msiou",
    "hce": "salbench.metrics.families.hce",
    "context": "salbench.metrics.families.context",
    "boundary": "salbench.metrics.families.boundary",
}
#: the family names ``--metrics`` accepts besides these: ``classic`` (always
#: computed) and ``all`` (every family)
GROUPS = ("classic", "all")


@lru_cache(maxsize=None)
def family_class(name: str) -> type[Family]:
    """The :class:`Family` subclass called ``name`` (imports its module)."""
    if name not in FAMILIES:
        raise SalbenchError(f"unknown metric family {name!r}; known: "
                            f"{', '.join(GROUPS + tuple(FAMILIES))}")
    mod = importlib.import_module(FAMILIES[name])
    for obj in vars(mod).values():
        if isinstance(obj, type) and issubclass(obj, Family) and obj is not Family and obj.name == name:
            return obj
    raise SalbenchError(f"metric family {name!r}: {FAMILIES[name]} defines no Family named {name!r}")


def available_families() -> tuple[str, ...]:
    """The families whose modules import (all of :data:`FAMILIES` in a full install)."""
    out = []
    for name in FAMILIES:
        try:
            family_class(name)
        except (ImportError, SalbenchError):
            continue
        out.append(name)
    return tuple(out)


def parse_metrics(text) -> tuple[str, ...]:
    """The families a ``--metrics`` value asks for, in :data:`FAMILIES` order:
    ``classic`` (the default: none beyond the classic set), ``all``, or a comma
    list of family names (``classic`` may be among them); a sequence of names
    is read as their comma list. Unknown names raise :class:`SalbenchError`
    naming the valid ones."""
    if text is None:
        return ()
    if not isinstance(text, str):
        text = ",".join(text)
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in GROUPS and n not in FAMILIES]
    if bad:
        raise SalbenchError(f"--metrics: unknown {', '.join(map(repr, bad))}; valid: "
                            f"{', '.join(GROUPS + tuple(FAMILIES))}")
    if "all" in names:
        return tuple(FAMILIES)
    return tuple(n for n in FAMILIES if n in names)


def make_families(names) -> list[Family]:
    """One instance (default parameters) of each named family."""
    return [family_class(n)() for n in names]


def defines(name: str, protocol: str) -> bool:
    """Whether ``protocol`` defines every key of family ``name``."""
    return all(protocol in s.protocols for s in family_class(name)().specs())


def check_protocol(families, protocol: str) -> None:
    """Refuse families the protocol does not define (clear message, nothing
    computed); ``families``: names or the instances already made."""
    for fam in (f if isinstance(f, Family) else family_class(f)() for f in families):
        undefined = [s.key for s in fam.specs() if protocol not in s.protocols]
        if undefined:
            defined_by = sorted({p for s in fam.specs() for p in s.protocols})
            raise SalbenchError(
                f"metric family {fam.name!r} is not defined under protocol {protocol!r} "
                f"(its convention does not define {', '.join(undefined[:3])}"
                f"{' ...' if len(undefined) > 3 else ''}); it is defined under "
                f"{', '.join(defined_by)}: evaluate it with --protocol {defined_by[0]}")


def specs(families=()) -> list[MetricSpec]:
    """The classic rows, then each named family's rows."""
    out = list(CLASSIC)
    for fam in make_families(families):
        out.extend(fam.specs())
    return out


@lru_cache(maxsize=None)
def _all_specs() -> dict[str, MetricSpec]:
    return {s.key: s for s in specs(available_families())}


def spec(key: str) -> MetricSpec:
    """The row of a result key or an alias (``maxF``, ``S``, ``v2_iou_max``)."""
    k = ALIASES.get(key.lower().replace("-", "").replace("_", ""), key)
    rows = {s.key: s for s in CLASSIC}
    if k in rows:
        return rows[k]
    rows = _all_specs()
    if k in rows:
        return rows[k]
    raise SalbenchError(f"unknown metric {key!r}; `salbench list metrics` lists them")


def image_mean(key: str) -> bool:
    """Whether the dataset value of a metric family's key is the mean of its
    per-image values (:attr:`Family.image_mean_keys`); False for other keys."""
    try:
        s = spec(key)
    except SalbenchError:
        return False
    return s.family in FAMILIES and s.key in family_class(s.family).image_mean_keys


def higher_is_better(key: str) -> bool:
    """Whether a larger value of ``key`` is better."""
    return spec(key).higher_is_better
