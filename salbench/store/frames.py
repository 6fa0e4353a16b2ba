"""The results store as pandas DataFrames: one row per method × dataset ×
protocol, or one per image. :func:`salbench.results` and the reports read
the store through :func:`results_frame`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from salbench.store.results import ResultsStore, default_path

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["results_frame", "store_path", "name_list"]


def store_path(results: str | Path = "results") -> Path:
    """The store file of a results folder (or the file itself when given one)."""
    p = Path(results)
    if p.suffix == ".sqlite" or p.is_file():
        return p
    return default_path(p)


def name_list(values: Iterable[str] | str | None) -> list[str] | None:
    """A comma-separated string or an iterable of names as a list (None: no filter)."""
    if values is None:
        return None
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    return list(values)


def results_frame(results: str | Path = "results", *, methods: Iterable[str] | str | None = None,
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
    path = store_path(results)
    if not path.is_file():
        raise SalbenchError(f"no results store at {path} (run `salbench run` first)")
    ms = name_list(methods)
    ds = [canonical_name(d) for d in name_list(datasets) or []] or None
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
