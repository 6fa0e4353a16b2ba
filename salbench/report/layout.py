"""What a report table holds: the metric columns and their spellings, the
presets, the paper's Table 1 rows, the marks for missing values, and the
:class:`Row` / :class:`Table` that :mod:`.tables` builds and :mod:`.render`,
:mod:`.html` draw."""

from __future__ import annotations

from dataclasses import dataclass, field

from salbench.errors import SalbenchError

class _Columns(dict):
    """``--metrics`` names -> (summary key, Markdown header, LaTeX header, lower
    is better), read from the metric table (:mod:`salbench.metrics.table`):
    the classic spellings up front, any other result key (a metric family's,
    e.g. ``v2_iou_max``) looked up on first use."""

    def __missing__(self, name: str):
        from salbench.metrics import table

        try:
            s = table.spec(name)
        except SalbenchError:
            raise KeyError(name) from None
        if s.curve:
            raise KeyError(name)
        value = self[name] = (s.key, s.header_md, s.header_tex, not s.higher_is_better)
        return value


def _classic_columns() -> _Columns:
    from salbench.metrics import table

    rows = {s.key: s for s in table.CLASSIC}
    return _Columns({alias: (rows[key].key, rows[key].header_md, rows[key].header_tex,
                             not rows[key].higher_is_better)
                     for alias, key in table.ALIASES.items()})


#: --metrics spellings -> summary keys, header text, lower-is-better
METRICS: dict[str, tuple[str, str, str, bool]] = _classic_columns()
#: summary key -> the METRICS name used for it
KEY_NAME = {"max_f": "maxf", "mae": "mae", "mean_f": "meanf", "adp_f": "adpf", "s_measure": "s",
            "max_e": "maxe", "mean_e": "meane", "adp_e": "adpe", "weighted_f": "wf"}

#: what to report: (protocol, metrics, what it is)
PRESETS: dict[str, tuple[str, str, str]] = {
    "r3net": ("r3net", "maxF,mae", "R3Net Table 2: max Fβ and MAE under the r3net protocol "
              "(Hou et al. 2017 evaluation code)"),
    "modern": ("pysodmetrics", "S,maxF,meanF,wF,meanE,mae",
               "what 2024-2026 papers print: Sα, max / mean Fβ, weighted Fβ, mean Eξ, MAE under the "
               "pysodmetrics protocol (PySODMetrics / Fan et al. toolbox)"),
}

TABLE1_ROWS = ("r3net-0", "r3net-1", "r3net-2", "r3net-3", "r3net-4", "r3net-5", "r3net-6",
               "r3net-7", "r3net-wo-r", "r3net-ws", "r3net-ll", "r3net-hh", "r3net-d", "r3net-v")
EXTRA_COLUMNS = ("params", "gmacs", "fps")
#: the input size GMACs are counted at unless a method declares its own
#: (``Method.cost_size``); other sizes are written beside the value
DEFAULT_COST_SIZE = "300x300"
MISSING = "–"
NA = "n/a"
#: default |claim - measurement| beyond which a claim is flagged
CLAIM_TOLERANCE = 0.01


@dataclass
class Row:
    """One row of a table: a measured method, or a paper's claim (†)."""

    label: str
    claim: bool = False
    values: dict[tuple[str, str], float] = field(default_factory=dict)  # (dataset, key) -> value
    extra: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int | None] = field(default_factory=dict)  # dataset -> images scored
    key: str = ""  # claims: the method key of the claim file


@dataclass
class Table:
    """One table: its rows and columns, and every mark the renderers draw
    (ranks, intervals, significance, partial datasets, notes)."""

    number: int
    protocol: str
    datasets: list[str]
    metrics: list[str]  # names in METRICS
    columns: list[str]
    rows: list[Row]
    ranks: dict[tuple[int, str, str], int] = field(default_factory=dict)  # (row, ds, key) -> 1..3
    notes: list[str] = field(default_factory=list)
    #: dataset -> "n/N" where every measured row of its columns is over the same partial n
    partial: dict[str, str] = field(default_factory=dict)
    #: (row index, dataset) -> "n/N" for partial cells of columns whose rows differ in n
    partial_cells: dict[tuple[int, str], str] = field(default_factory=dict)
    #: (row, ds, key) -> (lo, hi) bootstrap interval, or (None, None, reason)
    cis: dict[tuple[int, str, str], tuple] = field(default_factory=dict)
    ci_format: str = "pm"
    #: (row, ds, key) of cells not significantly different from the column's best
    similar: set = field(default_factory=set)
    #: (row, ds, key) of cells that cannot be computed (subset of a dataset-level metric)
    na: set = field(default_factory=set)
    #: subset tables: the subset's label and image count per dataset
    subset: str | None = None
    subset_counts: dict[str, int] = field(default_factory=dict)
    preset: str | None = None
    claims_paper: str = ""
    #: notes for the LaTeX caption beyond the † and partial ones
    extra_notes: list[str] = field(default_factory=list)


PARTIAL_NOTE = ("n/N: a partial dataset: scored on the n images found of its N registered images "
                "(not comparable with full-set numbers{claims}).")


def metric_list(spec: str | None) -> list[str]:
    """``--metrics`` text (default ``maxF,mae``) to :data:`METRICS` names; an unknown one is an error."""
    names = [s.strip() for s in (spec or "maxF,mae").split(",") if s.strip()]
    out = []
    for n in names:
        k = n.lower().replace("_", "").replace("-", "")
        if k not in METRICS:
            try:
                METRICS[n]  # a metric family's key, from the metric table
            except KeyError:
                raise SalbenchError(f"--metrics: unknown metric {n!r}; known: maxF, mae, meanF, adpF, "
                                    f"S, maxE, meanE, adpE, wF, and the metric families' keys "
                                    f"(salbench list metrics)") from None
            k = n
        out.append(k)
    return out


def column_list(spec: str | None) -> list[str]:
    """``--columns`` text to :data:`EXTRA_COLUMNS` names; an unknown one is an error."""
    cols = [s.strip().lower() for s in (spec or "").split(",") if s.strip()]
    for c in cols:
        if c not in EXTRA_COLUMNS:
            raise SalbenchError(f"--columns: unknown column {c!r}; known: {', '.join(EXTRA_COLUMNS)}")
    return cols


def dataset_order(names: set[str]) -> list[str]:
    """Dataset names in the paper's order (its test sets first), then by name."""
    from salbench.data.datasets import DATASETS, TEST_SETS
    order = list(TEST_SETS) + [d.name for d in DATASETS.values() if d.name not in TEST_SETS]
    low = {n.lower(): n for n in names}
    out = [low[o.lower()] for o in order if o.lower() in low]
    return out + sorted(n for n in names if n not in out)
