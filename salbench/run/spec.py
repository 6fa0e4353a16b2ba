"""What a run is asked to do (:class:`RunSpec`) and what it did
(:class:`RunResult`, one :class:`DatasetRun` per method label and dataset).
Independent of any command line: ``salbench run`` and :func:`salbench.run`
both build a :class:`RunSpec`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from salbench.errors import SalbenchError

#: a run's default process count is the usable cores, at most this many
RUN_WORKERS_CAP = 4


@dataclass
class RunSpec:
    """Everything a run needs, independent of any command line.

    ``options`` are the methods' options: a dict of typed values, or
    ``["key=value", ...]`` strings parsed against each method's declared
    schema (:mod:`salbench.plugins.options`); with several methods every option must
    be one each of them declares. ``maps`` is the ``maps`` method's folder
    (the same as ``options={"maps": DIR}``); a ``DIR`` laid out as
    ``DIR/<method>/<dataset>/`` or ``DIR/<dataset>/<method>/`` gives one label
    per map set. Precomputed maps are evaluated where they are unless
    ``copy_maps``. ``recompute`` replaces maps made with another identity
    instead of refusing; ``strict`` makes a partial dataset (fewer pairs than
    registered) an error. ``metrics`` adds metric families beyond the classic
    set (``"fmv2,hce"``, ``"all"``; :data:`salbench.metrics.table.FAMILIES`),
    computed under the protocols that define them. ``keep_curves`` stores
    every image's 256-point curves too (~7 KB per image and protocol), so
    reports can give intervals, paired tests and subset values of the
    curve-aggregated metrics (max F, max E, max IoU / Dice; mean F under
    ``r3net``).
    """

    methods: Sequence[str]
    datasets: Sequence[str] | str = "all"
    options: Mapping[str, Any] | Sequence[str] = field(default_factory=dict)
    weights: str | None = None
    device: str = "cpu"
    crf: bool | None = None
    protocols: Sequence[str] | None = None
    data_root: str | None = None
    results: str = "results"
    store: str | None = None
    plugins: Sequence[str] = ()
    batch_size: int | None = None
    workers: int | None = None
    maps: str | None = None
    name: str | None = None
    recompute: bool = False
    strict: bool = False
    copy_maps: bool = False
    progress: bool = False
    metrics: str | Sequence[str] = ()
    keep_curves: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.methods, str):
            self.methods = [n.strip() for n in self.methods.split(",") if n.strip()]
        if isinstance(self.protocols, str):
            self.protocols = [self.protocols]
        if self.batch_size is not None and int(self.batch_size) < 1:
            raise SalbenchError("--batch-size must be >= 1")
        if self.workers is not None and int(self.workers) < 1:
            raise SalbenchError("--workers must be >= 1")


@dataclass
class DatasetRun:
    """What one (method label, dataset) run stored."""

    run_id: str
    label: str
    method: str
    dataset: str
    status: str
    n_images: int
    n_expected: int | None
    n_evaluated: int = 0
    n_predicted: int = 0
    n_resumed: int = 0
    out_dir: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        """Fewer pairs than the dataset's registered count."""
        return self.n_expected is not None and self.n_images < self.n_expected


@dataclass
class RunResult:
    """What :meth:`Runner.run` did: one :class:`DatasetRun` per label and
    dataset, the problems, the exit status the CLI returns (0, or 1 when any
    problem was recorded) and the store they went to."""

    runs: list[DatasetRun]
    problems: list[str]
    store: str
    exit_code: int

    def frame(self, per_image: bool = False):
        """The stored scores of these runs as a pandas DataFrame (see
        :func:`salbench.store.frames.results_frame`)."""
        from salbench.store.frames import results_frame
        return results_frame(self.store, methods=sorted({r.label for r in self.runs}),
                       datasets=sorted({r.dataset for r in self.runs}), per_image=per_image)

