"""The results store: one SQLite file (standard library), by default
``results/salbench.sqlite``.

Tables

* ``runs``: one row per ``salbench run`` of one method on one dataset - method
  label and registry name, options, weights file and its sha256, CRF on/off,
  protocols, versions (salbench, numpy, numba, torch when loaded), git revision,
  timings (FPS without and with CRF), counts, problems, status
  (``running`` until it ends: a killed run stays ``running``/``interrupted``).
* ``image_scores``: per-image scalar scores, unique on
  (method, dataset, protocol, image).
* ``summaries``: per (method, dataset, protocol) dataset-level scores and
  curves (JSON text), unique on that key.
* ``methods``: description of each method label (kind, paper, params, GMACs).
* ``claims``: numbers reported in papers (paper, table, method, dataset,
  protocol, metric, value), seeded from :mod:`salbench.claims`.

Robustness: WAL journal, a busy timeout so two processes can write at once,
every write in one ``BEGIN IMMEDIATE`` transaction (a kill loses at most the
transaction in flight), and re-runs *replace* (unique keys), never duplicate.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 60_000

_SCHEMA = """
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
    host TEXT
);
CREATE INDEX IF NOT EXISTS runs_md ON runs (method, dataset);
CREATE TABLE IF NOT EXISTS image_scores (
    method TEXT NOT NULL, dataset TEXT NOT NULL, protocol TEXT NOT NULL, image TEXT NOT NULL,
    scores TEXT NOT NULL, run_id TEXT,
    PRIMARY KEY (method, dataset, protocol, image)
);
CREATE TABLE IF NOT EXISTS summaries (
    method TEXT NOT NULL, dataset TEXT NOT NULL, protocol TEXT NOT NULL,
    count INTEGER, scores TEXT NOT NULL, curves TEXT, run_id TEXT, updated REAL,
    PRIMARY KEY (method, dataset, protocol)
);
CREATE TABLE IF NOT EXISTS methods (
    method TEXT PRIMARY KEY, method_name TEXT, kind TEXT, paper TEXT,
    params INTEGER, gmacs REAL, updated REAL
);
CREATE TABLE IF NOT EXISTS claims (
    paper TEXT NOT NULL, tab TEXT NOT NULL, method TEXT NOT NULL, display TEXT,
    dataset TEXT NOT NULL, protocol TEXT NOT NULL, metric TEXT NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (paper, tab, method, dataset, protocol, metric)
);
"""

#: summary keys that are curves (lists), stored apart from the scalar scores
CURVE_KEYS_HINT = ("precision", "recall", "fm_curve", "f_curve", "em_curve", "e_curve")


def default_path(results_root: str | Path = "results") -> Path:
    return Path(results_root) / "salbench.sqlite"


def _jsonable(v: Any) -> Any:
    try:
        import numpy as np
        if isinstance(v, np.ndarray):
            return [_jsonable(x) for x in v.tolist()]
        if isinstance(v, np.generic):
            v = v.item()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _dumps(v: Any) -> str:
    return json.dumps(_jsonable(v), separators=(",", ":"))


def split_summary(summary: dict) -> tuple[dict, dict]:
    """(scalars, curves) of an ``evaluate_pairs`` result."""
    scalars, curves = {}, {}
    for k, v in summary.items():
        if hasattr(v, "tolist") and not isinstance(v, (int, float)) and getattr(v, "ndim", 0) > 0:
            v = v.tolist()
        if isinstance(v, (list, tuple)):
            curves[k] = v
        elif isinstance(v, dict):
            (curves if any(isinstance(x, (list, tuple)) for x in v.values()) else scalars)[k] = v
        else:
            scalars[k] = v
    return scalars, curves


class ResultsStore:
    """The results database. Open with a path (created with its folder on demand)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000,
                                    isolation_level=None)
        self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        with self.transaction() as c:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    c.execute(stmt)
            c.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        self._seed_claims()

    # -- plumbing ------------------------------------------------------------
    class _Tx:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def __enter__(self) -> sqlite3.Connection:
            for attempt in range(20):
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:  # pragma: no cover - busy beyond timeout
                    if "locked" not in str(exc) or attempt == 19:
                        raise
                    time.sleep(0.2)
            return self.conn

        def __exit__(self, et, ev, tb) -> None:
            self.conn.execute("COMMIT" if et is None else "ROLLBACK")

    def transaction(self) -> "_Tx":
        return ResultsStore._Tx(self.conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _seed_claims(self) -> None:
        from salbench.claims import CLAIMS
        have = self.conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0]
        if have == len(CLAIMS):
            return
        with self.transaction() as c:
            c.executemany("INSERT OR REPLACE INTO claims VALUES (?,?,?,?,?,?,?,?)",
                          [(k.paper, k.table, k.method, k.display, k.dataset, k.protocol,
                            k.metric, k.value) for k in CLAIMS])

    # -- runs ----------------------------------------------------------------
    def start_run(self, run_id: str, **fields: Any) -> None:
        fields = {k: (_dumps(v) if isinstance(v, (dict, list, tuple)) else v) for k, v in fields.items()}
        fields.setdefault("status", "running")
        fields.setdefault("started", time.time())
        cols = ["run_id", *fields]
        with self.transaction() as c:
            c.execute(f"INSERT OR REPLACE INTO runs ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                      [run_id, *fields.values()])

    def update_run(self, run_id: str, **fields: Any) -> None:
        fields = {k: (_dumps(v) if isinstance(v, (dict, list, tuple)) else v) for k, v in fields.items()}
        if not fields:
            return
        with self.transaction() as c:
            c.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in fields)} WHERE run_id = ?",
                      [*fields.values(), run_id])

    def runs(self, method: str | None = None, dataset: str | None = None) -> list[dict]:
        return [self._row(r, ("protocols", "options", "versions", "problems"))
                for r in self._select("runs", {"method": method, "dataset": dataset}, "started")]

    def latest_run(self, method: str, dataset: str | None = None, done: bool = True) -> dict | None:
        q = "SELECT * FROM runs WHERE method = ?"
        args: list[Any] = [method]
        if dataset:
            q += " AND dataset = ?"
            args.append(dataset)
        if done:
            q += " AND status IN ('done', 'done-with-problems')"
        rows = self._query(q + " ORDER BY started DESC LIMIT 1", args)
        return self._row(rows[0], ("protocols", "options", "versions", "problems")) if rows else None

    # -- scores --------------------------------------------------------------
    def put_results(self, method: str, dataset: str, protocol: str, summary: dict,
                    per_image: dict[str, dict] | None, run_id: str | None = None) -> None:
        """Replace the per-image scores and the summary of (method, dataset,
        protocol) in one transaction."""
        scalars, curves = split_summary(summary)
        with self.transaction() as c:
            if per_image is not None:
                c.execute("DELETE FROM image_scores WHERE method=? AND dataset=? AND protocol=?",
                          (method, dataset, protocol))
                c.executemany("INSERT OR REPLACE INTO image_scores VALUES (?,?,?,?,?,?)",
                              [(method, dataset, protocol, name, _dumps(s), run_id)
                               for name, s in sorted(per_image.items())])
            c.execute("INSERT OR REPLACE INTO summaries VALUES (?,?,?,?,?,?,?,?)",
                      (method, dataset, protocol, int(scalars.get("count", 0) or 0),
                       _dumps(scalars), _dumps(curves), run_id, time.time()))

    def summaries(self, methods: Iterable[str] | None = None, datasets: Iterable[str] | None = None,
                  protocol: str | None = None, curves: bool = False) -> list[dict]:
        rows = self._query("SELECT * FROM summaries ORDER BY method, dataset, protocol", [])
        ms = {m.lower() for m in methods} if methods else None
        dss = {d.lower() for d in datasets} if datasets else None
        out = []
        for r in rows:
            if ms is not None and r["method"].lower() not in ms:
                continue
            if dss is not None and r["dataset"].lower() not in dss:
                continue
            if protocol and r["protocol"] != protocol:
                continue
            d = dict(r)
            d["scores"] = json.loads(d["scores"])
            d["curves"] = json.loads(d["curves"]) if curves and d["curves"] else None
            out.append(d)
        return out

    def image_scores(self, method: str, dataset: str, protocol: str) -> dict[str, dict]:
        rows = self._query("SELECT image, scores FROM image_scores WHERE method=? AND dataset=? "
                           "AND protocol=? ORDER BY image", [method, dataset, protocol])
        return {r["image"]: json.loads(r["scores"]) for r in rows}

    def count(self, table: str) -> int:
        assert table in ("runs", "image_scores", "summaries", "methods", "claims")
        return self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    # -- methods & claims ------------------------------------------------------
    def put_method(self, method: str, method_name: str, kind: str, paper: str,
                   params: int | None, gmacs: float | None) -> None:
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO methods VALUES (?,?,?,?,?,?,?)",
                      (method, method_name, kind, paper, params, gmacs, time.time()))

    def methods(self) -> dict[str, dict]:
        return {r["method"]: dict(r) for r in self._query("SELECT * FROM methods", [])}

    def claims(self, table: str | None = None, protocol: str | None = None) -> list[dict]:
        return [dict(r) for r in self._select("claims", {"tab": table, "protocol": protocol})]

    # -- helpers ----------------------------------------------------------------
    def _select(self, table: str, filters: dict[str, Any], order: str | None = None) -> list[sqlite3.Row]:
        """``SELECT *`` from ``table`` where each given (non-empty) column equals its value."""
        used = {k: v for k, v in filters.items() if v}
        q = f"SELECT * FROM {table}"
        if used:
            q += " WHERE " + " AND ".join(f"{k} = ?" for k in used)
        if order:
            q += f" ORDER BY {order}"
        return self._query(q, list(used.values()))

    def _query(self, q: str, args: list[Any]) -> list[sqlite3.Row]:
        cur = self.conn.cursor()
        cur.row_factory = sqlite3.Row
        return cur.execute(q, args).fetchall()

    @staticmethod
    def _row(r: sqlite3.Row, json_cols: tuple[str, ...]) -> dict:
        d = dict(r)
        for k in json_cols:
            if d.get(k):
                try:
                    d[k] = json.loads(d[k])
                except ValueError:
                    pass
        return d
