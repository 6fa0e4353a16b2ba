"""The Python API: run methods, evaluate a folder, read results, build a report,
without any command line. The ``salbench`` commands are thin layers over these.

>>> import salbench
>>> res = salbench.run("bsca", datasets="demo", results="results")   # doctest: +SKIP
>>> salbench.results("results")                                      # doctest: +SKIP
   method dataset      protocol  count    mae  max_f ...

Every function returns data: :func:`run` a :class:`~salbench.run.runner.RunResult`,
:func:`evaluate_folder` the scores dict (with its protocol), :func:`results` a
pandas DataFrame, :func:`build_report` the table text. (The names avoid the
modules ``salbench.run.evaluate`` and ``salbench.report.tables``.)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from salbench.run.runner import RunResult

__all__ = ["run", "evaluate_folder", "results", "build_report", "store_path"]


def store_path(results: str | Path = "results") -> Path:
    """The store file of a results folder (or the file itself when given one)."""
    p = Path(results)
    if p.suffix == ".sqlite" or p.is_file():
        return p
    from salbench.store.results import default_path
    return default_path(p)


def run(methods: str | Sequence[str], datasets: str | Sequence[str] = "all", *,
        options: Mapping[str, Any] | Sequence[str] | None = None, log=None,
        **spec: Any) -> "RunResult":
    """Run methods on datasets, evaluate and store; see
    :class:`salbench.run.runner.RunSpec` for every keyword (``weights``, ``device``,
    ``crf``, ``protocols``, ``data_root``, ``results``, ``batch_size``,
    ``maps``, ``name``, ``recompute``, ``strict``, ``plugins``, ...).
    ``log`` receives progress lines (default: stderr)."""
    from salbench.run.runner import Runner, RunSpec
    rs = RunSpec(methods=methods, datasets=datasets, options=options or {}, **spec)
    return Runner(rs, log=log).run()


def evaluate_folder(pred: str | Path, gt: str | Path, protocol: str = "pysodmetrics", *,
             workers: int | None = None, strict_size: bool = False,
             structural: bool = True, per_image: bool = False) -> dict:
    """Evaluate a folder of maps against a folder of GT (paired by stem);
    the dict of :func:`salbench.run.evaluate.evaluate_pairs`, with ``protocol``,
    ``unpaired`` and, with ``per_image=True``, ``per_image`` (name -> scores)."""
    from salbench.run.evaluate import evaluate_pairs, pair_files
    from salbench.errors import SalbenchError
    pairs, rep = pair_files(pred, gt)
    if not pairs:
        raise SalbenchError(f"no file stem of {pred} matches one of {gt}")
    rows: dict[str, dict] = {}
    cb = (lambda name, s: rows.__setitem__(name, dict(s))) if per_image else None
    out = evaluate_pairs(pairs, protocol, workers=workers, on_image=cb,
                         strict_size=strict_size, structural=structural)
    out["unpaired"] = {k: rep[k] for k in ("pred_only", "gt_only", "pred_only_count", "gt_only_count")}
    if per_image:
        out["per_image"] = rows
    return out


def _filter(values: Iterable[str] | str | None) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    return list(values)


def results(results: str | Path = "results", *, methods: Iterable[str] | str | None = None,
            datasets: Iterable[str] | str | None = None, protocol: str | None = None,
            per_image: bool = False) -> "pd.DataFrame":
    """The stored scores as a DataFrame.

    Default: one row per method × dataset × protocol, columns ``method``,
    ``dataset``, ``protocol``, ``count``, ``n_expected``, ``partial`` and one
    column per scalar metric (``mae``, ``max_f``, ``mean_f``, ``adp_f``,
    ``s_measure``, ``max_e``, ``mean_e``, ``adp_e``, ``weighted_f``,
    ``max_iou``, ...). ``per_image=True``: one row per image, columns
    ``method``, ``dataset``, ``protocol``, ``image`` and the per-image scores.
    Dataset names are resolved as everywhere (``pascal`` is ``PASCAL-S``)."""
    import pandas as pd

    from salbench.data.datasets import canonical_name, info
    from salbench.errors import SalbenchError
    from salbench.store.results import ResultsStore
    path = store_path(results)
    if not path.is_file():
        raise SalbenchError(f"no results store at {path} (run `salbench run` first)")
    ms = _filter(methods)
    ds = [canonical_name(d) for d in _filter(datasets) or []] or None
    with ResultsStore(path, read_only=True) as store:
        sums = store.summaries(methods=ms, datasets=ds, protocol=protocol)
        if not per_image:
            rows = []
            for s in sums:
                d = info(s["dataset"])
                expected = d.count if d is not None else None
                row = {"method": s["method"], "dataset": s["dataset"], "protocol": s["protocol"],
                       "count": s["count"], "n_expected": expected,
                       "partial": bool(expected is not None and s["count"] < expected)}
                row.update({k: v for k, v in s["scores"].items()
                            if k not in ("protocol", "count") and not isinstance(v, str)})
                rows.append(row)
            cols = ["method", "dataset", "protocol", "count", "n_expected", "partial"]
            return pd.DataFrame(rows, columns=None if rows else cols)
        rows = []
        for s in sums:
            for name, sc in store.image_scores(s["method"], s["dataset"], s["protocol"]).items():
                rows.append({"method": s["method"], "dataset": s["dataset"],
                             "protocol": s["protocol"], "image": name, **sc})
        return pd.DataFrame(rows, columns=None if rows else ["method", "dataset", "protocol", "image"])


def build_report(results: str | Path = "results", *, protocol: str | None = None, table: int = 2,
           format: str = "markdown", datasets: Iterable[str] | str | None = None,
           methods: Iterable[str] | str | None = None, metrics: str | None = None,
           columns: str | None = None, claims: bool = True) -> str:
    """The Table 2 (or 1) layout of the stored results as Markdown or LaTeX text."""
    import importlib
    rep = importlib.import_module("salbench.report.tables")
    from salbench.errors import SalbenchError
    from salbench.metrics.protocols import DEFAULT_PROTOCOL, get_protocol
    from salbench.store.results import ResultsStore
    path = store_path(results)
    if not path.is_file():
        raise SalbenchError(f"no results store at {path} (run `salbench run` first)")
    proto = get_protocol(protocol or DEFAULT_PROTOCOL).name
    with ResultsStore(path, read_only=True) as store:
        t = rep.build_table(store, number=table, protocol=proto, datasets=_filter(datasets),
                            methods=_filter(methods), metrics=rep._metric_list(metrics),
                            columns=rep._column_list(columns), claims=claims)
    return rep.render_latex([t]) if format == "latex" else rep.render_markdown(t)
