"""The Python API: run methods, evaluate a folder, read results, build a report,
without any command line. The ``salbench`` commands are thin layers over these.

>>> import salbench
>>> res = salbench.run("bsca", datasets="demo", results="results")   # doctest: +SKIP
>>> salbench.results("results")                                      # doctest: +SKIP
   method dataset      protocol  count    mae  max_f ...

Every function returns data: :func:`run` a :class:`~salbench.run.spec.RunResult`,
:func:`evaluate_folder` the scores dict (with its protocol), :func:`results` a
pandas DataFrame, :func:`build_report` the table text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from salbench.run.spec import RunResult

__all__ = ["run", "evaluate_folder", "results", "build_report", "store_path"]


def store_path(results: str | Path = "results") -> Path:
    """The store file of a results folder (or the file itself when given one)."""
    from salbench.store.frames import store_path as path
    return path(results)


def run(methods: str | Sequence[str], datasets: str | Sequence[str] = "all", *,
        options: Mapping[str, Any] | Sequence[str] | None = None, log=None,
        **spec: Any) -> "RunResult":
    """Run methods on datasets, evaluate and store; see
    :class:`salbench.run.spec.RunSpec` for every keyword (``weights``, ``device``,
    ``crf``, ``protocols``, ``data_root``, ``results``, ``batch_size``,
    ``maps``, ``name``, ``recompute``, ``strict``, ``plugins``, ...).
    ``log`` receives progress lines (default: stderr)."""
    from salbench.run.runner import Runner
    from salbench.run.spec import RunSpec
    rs = RunSpec(methods=methods, datasets=datasets, options=options or {}, **spec)
    return Runner(rs, log=log).run()


def evaluate_folder(pred: str | Path, gt: str | Path, protocol: str = "pysodmetrics", *,
             workers: int | None = None, strict_size: bool = False,
             structural: bool = True, per_image: bool = False, metrics=(),
             images: str | Path | None = None) -> dict:
    """Evaluate a folder of maps against a folder of GT (paired by stem);
    the dict of :func:`salbench.run.evaluate.evaluate_pairs`, with ``protocol``,
    ``unpaired`` and, with ``per_image=True``, ``per_image`` (name -> scores).
    ``metrics``: metric families beyond the classic set (``"all"``, ``"fmv2,hce"``);
    ``images``: the folder of photos (paired by stem) for those that need them
    (the camouflage context measure ``cm_w``)."""
    from salbench.run.evaluate import evaluate_pairs, pair_files, photos_by_stem
    from salbench.errors import SalbenchError
    pairs, rep = pair_files(pred, gt)
    if not pairs:
        raise SalbenchError(f"no file stem of {pred} matches one of {gt}")
    rows: dict[str, dict] = {}
    cb = (lambda name, s: rows.__setitem__(name, dict(s))) if per_image else None
    out = evaluate_pairs(pairs, protocol, workers=workers, on_image=cb,
                         strict_size=strict_size, structural=structural, metrics=metrics,
                         images=photos_by_stem(images) if images else None)
    out["unpaired"] = {k: rep[k] for k in ("pred_only", "gt_only", "pred_only_count", "gt_only_count")}
    if per_image:
        out["per_image"] = rows
    return out


def results(results: str | Path = "results", *, methods: Iterable[str] | str | None = None,
            datasets: Iterable[str] | str | None = None, protocol: str | None = None,
            per_image: bool = False) -> "pd.DataFrame":
    """The stored scores as a pandas DataFrame: one row per method × dataset ×
    protocol, or per image with ``per_image=True``; the columns are described
    at :func:`salbench.store.frames.results_frame`."""
    from salbench.store.frames import results_frame
    return results_frame(results, methods=methods, datasets=datasets, protocol=protocol,
                         per_image=per_image)


def build_report(results: str | Path = "results", *, protocol: str | None = None, table: int = 2,
           format: str = "markdown", datasets: Iterable[str] | str | None = None,
           methods: Iterable[str] | str | None = None, metrics: str | None = None,
           columns: str | None = None, claims: bool = True) -> str:
    """The report entry point of the API: the Table 2 (or 1) layout of the
    stored results as Markdown (``format="markdown"``) or a LaTeX document
    (``format="latex"``); see :func:`salbench.report.tables.build_table`."""
    from salbench.errors import SalbenchError
    from salbench.report.layout import column_list, metric_list
    from salbench.report.render import render_latex, render_markdown
    from salbench.report.tables import build_table
    from salbench.store.frames import name_list
    from salbench.metrics.protocols import DEFAULT_PROTOCOL, get_protocol
    from salbench.store.results import ResultsStore
    path = store_path(results)
    if not path.is_file():
        raise SalbenchError(f"no results store at {path} (run `salbench run` first)")
    proto = get_protocol(protocol or DEFAULT_PROTOCOL).name
    with ResultsStore(path, read_only=True) as store:
        t = build_table(store, number=table, protocol=proto, datasets=name_list(datasets),
                        methods=name_list(methods), metrics=metric_list(metrics),
                        columns=column_list(columns), claims=claims)
    return render_latex([t]) if format == "latex" else render_markdown(t)
