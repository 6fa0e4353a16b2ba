"""The images where a method does worst on a per-image metric (the library
of ``salbench worst``, :mod:`salbench.commands.worst`)."""

from __future__ import annotations


def worst(per_image, metric: str, n: int):
    """The n rows of ``per_image`` with the worst ``metric`` (highest MAE,
    lowest otherwise)."""
    from salbench.report.analysis import LOWER_BETTER
    df = per_image.dropna(subset=[metric])
    return df.sort_values(metric, ascending=metric not in LOWER_BETTER, kind="stable").head(n)
