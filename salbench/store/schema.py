"""What a results store holds on disk: the SQLite schema (version
:data:`SCHEMA_VERSION`) and its migration from version 1, how an evaluation
result is split into scalars, curves, details and problem rows, and how
per-image scores are packed. :class:`salbench.store.results.ResultsStore` is
the API over it."""

from __future__ import annotations

import json
import math
import sqlite3
from typing import Any

#: the version this salbench writes; older stores are migrated on a writable open
SCHEMA_VERSION = 2
#: the tables of a store of :data:`SCHEMA_VERSION` (``CREATE ... IF NOT EXISTS``)
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    method TEXT NOT NULL,          -- label the results are stored under
    method_name TEXT NOT NULL,     -- registry name
    dataset TEXT NOT NULL,
    protocols TEXT,                -- JSON list
    options TEXT,                  -- JSON
    weights TEXT,
    weights_sha256 TEXT,
    crf INTEGER,
    device TEXT,
    versions TEXT,                 -- JSON
    git_revision TEXT,
    started REAL,
    finished REAL,
    status TEXT,
    n_images INTEGER,
    n_predicted INTEGER,
    n_resumed INTEGER,
    n_problems INTEGER,
    problems TEXT,                 -- JSON list
    predict_seconds REAL,
    crf_seconds REAL,
    fps REAL,                      -- images/s excluding CRF
    fps_crf REAL,                  -- images/s including CRF (NULL without CRF)
    host TEXT,
    pid INTEGER,
    identity TEXT,                 -- JSON: everything compared on resume
    dataset_path TEXT,
    dataset_fingerprint TEXT,
    n_expected INTEGER,            -- the dataset's registered count (NULL: a folder)
    batch_size INTEGER,
    dtype TEXT,
    source_sha256 TEXT
);
CREATE INDEX IF NOT EXISTS runs_md ON runs (method, dataset);
CREATE TABLE IF NOT EXISTS image_scores (
    method TEXT NOT NULL, dataset TEXT NOT NULL, protocol TEXT NOT NULL, image TEXT NOT NULL,
    scores BLOB NOT NULL,          -- float64 little-endian, in the order of summaries.image_keys
    PRIMARY KEY (method, dataset, protocol, image)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS image_curves (
    method TEXT NOT NULL, dataset TEXT NOT NULL, protocol TEXT NOT NULL, image TEXT NOT NULL,
    curves BLOB NOT NULL,          -- zlib of float64 little-endian (6, 256): IMAGE_CURVE_ROWS
    PRIMARY KEY (method, dataset, protocol, image)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS summaries (
    method TEXT NOT NULL, dataset TEXT NOT NULL, protocol TEXT NOT NULL,
    count INTEGER, scores TEXT NOT NULL, curves TEXT, run_id TEXT, updated REAL, details TEXT,
    image_keys TEXT,               -- JSON list: the per-image score names
    PRIMARY KEY (method, dataset, protocol)
);
CREATE TABLE IF NOT EXISTS methods (
    method TEXT PRIMARY KEY, method_name TEXT, kind TEXT, paper TEXT,
    params INTEGER, gmacs REAL, updated REAL, gmacs_size TEXT
);
CREATE TABLE IF NOT EXISTS problems (
    run_id TEXT, method TEXT NOT NULL, dataset TEXT NOT NULL, protocol TEXT,
    kind TEXT NOT NULL, image TEXT, path TEXT, message TEXT
);
CREATE INDEX IF NOT EXISTS problems_md ON problems (method, dataset);
CREATE TABLE IF NOT EXISTS claims (
    paper TEXT NOT NULL, tab TEXT NOT NULL, method TEXT NOT NULL, display TEXT,
    dataset TEXT NOT NULL, protocol TEXT NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (paper, tab, method, dataset, protocol, metric)
);
"""

#: the curves of an evaluation (256 points each), stored in ``summaries.curves``
CURVE_KEYS = ("precision", "recall", "f_curve", "e_curve", "iou_curve", "dice_curve")
#: evaluation output that describes how it was computed (``summaries.details``)
DETAIL_KEYS = ("protocol_details", "curve_order", "workers", "seconds", "kernels")
#: evaluation output that lists problems (``problems`` table, not scores)
PROBLEM_KEYS = ("resized", "unreadable", "skipped", "unpaired", "degenerate", "metric_failed")
#: columns added to ``runs`` / ``methods`` / ``summaries`` by schema version 2
_V2_COLUMNS = {
    "runs": (("pid", "INTEGER"), ("identity", "TEXT"), ("dataset_path", "TEXT"),
             ("dataset_fingerprint", "TEXT"), ("n_expected", "INTEGER"), ("batch_size", "INTEGER"),
             ("dtype", "TEXT"), ("source_sha256", "TEXT")),
    "methods": (("gmacs_size", "TEXT"),),
    "summaries": (("details", "TEXT"), ("image_keys", "TEXT")),
}


def jsonable(v: Any) -> Any:
    """``v`` as plain JSON data: NumPy arrays and scalars to Python, non-finite floats to None."""
    try:
        import numpy as np
        if isinstance(v, np.ndarray):
            return [jsonable(x) for x in v.tolist()]
        if isinstance(v, np.generic):
            v = v.item()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return v


def dumps(v: Any) -> str:
    """Compact JSON text of :func:`jsonable` ``v``, storable in SQLite."""
    return text(json.dumps(jsonable(v), separators=(",", ":")))


_IMAGE_SCORES_DDL = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS image_scores"):
                           SCHEMA.index("WITHOUT ROWID;") + len("WITHOUT ROWID")]


def image_keys(per_image: dict[str, dict]) -> list[str]:
    """The score names of per-image rows, in first-seen order."""
    keys: dict[str, None] = {}
    for sc in per_image.values():
        keys.update(dict.fromkeys(sc))
    return list(keys)


#: rows of a stored per-image curve block (``run --keep-curves``), in order
IMAGE_CURVE_ROWS = ("precision", "recall", "f", "e", "iou", "dice")


def pack_curves(curves) -> bytes:
    """One image's (6, 256) curve block as zlib-compressed float64 little-endian."""
    import zlib

    import numpy as np
    a = np.ascontiguousarray(curves, dtype="<f8")
    if a.shape != (len(IMAGE_CURVE_ROWS), 256):
        raise ValueError(f"per-image curves of shape {a.shape}, expected ({len(IMAGE_CURVE_ROWS)}, 256)")
    return zlib.compress(a.tobytes(), 1)


def unpack_curves(blob: bytes):
    """The inverse of :func:`pack_curves` (exact)."""
    import zlib

    import numpy as np
    return np.frombuffer(zlib.decompress(blob), dtype="<f8").reshape(len(IMAGE_CURVE_ROWS), 256)


def pack(scores: dict, keys: list[str]) -> bytes:
    """One image's scores as float64 little-endian in ``keys`` order (None: NaN)."""
    import struct
    vals = [scores.get(k) for k in keys]
    return struct.pack(f"<{len(keys)}d", *[math.nan if v is None else float(v) for v in vals])


def unpack(blob: bytes, keys: list[str]) -> dict:
    """The inverse of :func:`pack` (NaN: None)."""
    import struct
    vals = struct.unpack(f"<{len(keys)}d", blob)
    return {k: (None if math.isnan(v) else v) for k, v in zip(keys, vals)}


def split_summary(summary: dict, strict: bool = True) -> tuple[dict, dict, dict, dict]:
    """(scalars, curves, details, problems) of an ``evaluate_pairs`` result,
    by name: curves are :data:`CURVE_KEYS` and the metric families' lists named
    ``*_curve``, details :data:`DETAIL_KEYS`,
    problems :data:`PROBLEM_KEYS`; every other key is a scalar score (a number,
    None, or the protocol's name). Any other value raises, or, with
    ``strict=False`` (migrating old stores), goes to the details."""
    scalars, curves, details, problems = {}, {}, {}, {}
    for k, v in summary.items():
        if hasattr(v, "tolist") and not isinstance(v, (int, float)):
            v = v.tolist()
        if k in CURVE_KEYS or (isinstance(v, list) and k.endswith("_curve")):
            curves[k] = v
        elif k in DETAIL_KEYS:
            details[k] = v
        elif k in PROBLEM_KEYS:
            problems[k] = v
        elif v is None or isinstance(v, (int, float, str)):
            scalars[k] = v
        elif not strict:
            details[k] = v
        else:
            raise ValueError(f"evaluation result key {k!r} ({type(v).__name__}) is neither a "
                             f"scalar, a curve, a detail nor a problem list")
    return scalars, curves, details, problems


def problem_rows(problems: dict) -> list[tuple[str, str | None, str | None, str]]:
    """``(kind, image, path, message)`` rows from the problem keys of an evaluation."""
    rows: list[tuple[str, str | None, str | None, str]] = []
    res = problems.get("resized")
    if isinstance(res, dict):
        how = res.get("method") or "resized to the GT size"
        rows += [("resized", n, None, how) for n in res.get("names") or []]
    elif isinstance(res, list):
        rows += [("resized", str(n), None, "resized to the GT size") for n in res]
    for u in problems.get("unreadable") or []:
        if isinstance(u, dict):
            rows.append(("unreadable", u.get("name"), u.get("path"), str(u.get("problem"))))
    for d in problems.get("degenerate") or []:
        if isinstance(d, dict):
            try:
                value = f"{float(d.get('value')):.6g}"
            except (TypeError, ValueError):
                value = str(d.get("value"))
            rows.append(("degenerate", d.get("name"), None,
                         f"{d.get('metric')} = {value}, outside [0, 1] (degenerate image: tiny or "
                         f"all-foreground GT); kept as computed"))
    for d in problems.get("metric_failed") or []:
        if isinstance(d, dict):
            rows.append(("metric_failed", d.get("name"), None,
                         f"metric family {d.get('family')}: {d.get('problem')}; the other metrics "
                         f"are computed"))
    return [tuple(text(x) for x in r) for r in rows]


def text(v: Any) -> Any:
    """Strings encodable as UTF-8 (SQLite refuses lone surrogates)."""
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            return v.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return v


def migrate(c: sqlite3.Connection, have: int) -> None:
    """Migrate a store of schema version ``have`` in transaction ``c``.
    Version 1 -> 2: new columns; the problem lists and evaluation
    details that version 1 kept among the curves / scores move to the
    ``problems`` table and ``summaries.details``."""
    for table, cols in _V2_COLUMNS.items():
        present = {r[1] for r in c.execute(f"PRAGMA table_info({table})")}
        for name, typ in cols:
            if name not in present:
                c.execute(f"ALTER TABLE {table} ADD COLUMN {name} {typ}")
    rows = c.execute("SELECT method, dataset, protocol, scores, curves, run_id "
                     "FROM summaries").fetchall()
    for method, dataset, protocol, scores_txt, curves_txt, run_id in rows:
        merged = {**json.loads(scores_txt or "{}"), **json.loads(curves_txt or "{}")}
        scalars, curves, details, problems = split_summary(merged, strict=False)
        c.execute("UPDATE summaries SET scores=?, curves=?, details=? WHERE method=? AND "
                  "dataset=? AND protocol=?", (dumps(scalars), dumps(curves), dumps(details),
                                               method, dataset, protocol))
        c.executemany("INSERT INTO problems VALUES (?,?,?,?,?,?,?,?)",
                      [(run_id, method, dataset, protocol, *r) for r in problem_rows(problems)])
    cols = {r[1] for r in c.execute("PRAGMA table_info(image_scores)")}
    if "run_id" in cols:  # version 1: one JSON text per image
        old = c.execute("SELECT method, dataset, protocol, image, scores FROM image_scores").fetchall()
        c.execute("DROP TABLE image_scores")
        c.execute(_IMAGE_SCORES_DDL)
        groups: dict[tuple, dict[str, dict]] = {}
        for m, d, pr, image, txt in old:
            groups.setdefault((m, d, pr), {})[image] = json.loads(txt)
        for (m, d, pr), per in groups.items():
            keys = image_keys(per)
            c.executemany("INSERT INTO image_scores VALUES (?,?,?,?,?)",
                          [(m, d, pr, name, pack(sc, keys)) for name, sc in per.items()])
            c.execute("UPDATE summaries SET image_keys=? WHERE method=? AND dataset=? AND protocol=?",
                      (json.dumps(keys), m, d, pr))
    c.execute("INSERT OR REPLACE INTO meta VALUES ('migrated_from', ?)", (str(have),))
