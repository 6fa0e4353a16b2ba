"""The results store: one SQLite file (standard library), by default
``results/salbench.sqlite``.

Tables

* ``runs``: one row per ``salbench run`` of one method on one dataset - method
  label and registry name, options, the run identity (everything that can
  change a map: weights sha256, method source hash, batch size, device, dtype,
  CRF and its parameters, input size, salbench version, the dataset's resolved
  path and content fingerprint), versions, git revision, timings (FPS without
  and with CRF), counts (images found / registered, predicted, resumed),
  status (``running``; ``done``, ``done-with-problems``, ``interrupted``; a run
  whose process died is marked ``interrupted`` by the next run, see
  :meth:`ResultsStore.mark_dead_runs`).
* ``image_scores``: per-image scalar scores, unique on
  (method, dataset, protocol, image), packed as float64 (the names are the
  summary's ``image_keys``): about 100 bytes an image, so a results folder of
  referenced maps stays under 1 MB per 1000 maps.
* ``summaries``: per (method, dataset, protocol): ``scores`` (the scalars,
  JSON), ``curves`` (exactly the keys of :data:`CURVE_KEYS`), ``details``
  (protocol record, kernel build, timing), unique on that key.
* ``problems``: one row per problem of a run (kind ``resized``,
  ``unreadable``, ``unpaired``, ``missing``, ``predict``, ``partial``, ...),
  with the image, the file and the message.
* ``methods``: description of each method label (kind, paper, params, GMACs
  and the input size they were counted at).
* ``claims``: numbers reported in papers (paper, table, method, dataset,
  protocol, metric, value), seeded from :mod:`salbench.report.claims`.

Faults: a store that is not SQLite, truncated or corrupt raises
:class:`salbench.errors.SalbenchError` naming the file and what to do (never a
``sqlite3`` traceback); opened for writing, the store is checked with ``PRAGMA
quick_check`` first (measured: 4 ms on a 2 MB store of 10 000 image rows), so ``salbench run``
never evaluates into a damaged file. ``ResultsStore(path, read_only=True)``
(``salbench report``) opens it with ``mode=ro`` (``immutable=1`` when the
folder is read-only and no WAL files exist) and writes nothing: no schema,
migration or claims. A writable open of a read-only store or folder says so.
Names that are not valid UTF-8 (bytes in file names, surrogate-escaped by
Python) are stored with ``\\xNN`` escapes.

Robustness: WAL journal, a busy timeout so two processes can write at once,
every write in one ``BEGIN IMMEDIATE`` transaction (a kill loses at most the
transaction in flight), and re-runs *replace* (unique keys), never duplicate.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable

from salbench.store.schema import (CURVE_KEYS, SCHEMA, SCHEMA_VERSION, dumps, image_keys, migrate,
                                   pack_curves, unpack_curves,
                                   pack, problem_rows, split_summary, text, unpack)

__all__ = ["ResultsStore", "default_path", "CURVE_KEYS", "SCHEMA_VERSION"]

BUSY_TIMEOUT_MS = 60_000

_RUN_JSON = ("protocols", "options", "versions", "problems", "identity")


def default_path(results_root: str | Path = "results") -> Path:
    """The store file of a results folder: ``<results>/salbench.sqlite``."""
    return Path(results_root) / "salbench.sqlite"


def _fault(path: Path, exc: BaseException, read_only: bool = False) -> Exception:
    """A one-line SalbenchError for an sqlite3 error on opening / checking a store."""
    from salbench.errors import SalbenchError
    msg = str(exc)
    low = msg.lower()
    if "not a database" in low or "file is encrypted" in low:
        what = "is not an SQLite database (or its header is damaged)"
    elif "malformed" in low or "corrupt" in low or "quick_check" in low:
        what = f"is corrupt ({msg})"
    elif "readonly" in low or "read-only" in low or "attempt to write" in low:
        return SalbenchError(f"{path}: results store is read-only (results folder is read-only?); "
                             f"`salbench report` can read it, `salbench run` needs a writable --results / --store")
    elif "unable to open" in low:
        return SalbenchError(f"{path}: cannot open the results store ({msg}); check that the file and "
                             f"its folder exist and are readable")
    elif "locked" in low or "busy" in low:
        return SalbenchError(f"{path}: results store is locked by another process ({msg}); try again")
    else:
        what = f"cannot be used ({msg})"
    return SalbenchError(f"{path}: results store {what}; move it aside (keep it for recovery: "
                         f"`sqlite3 {path} .recover`) and run again to start a new store")


class ResultsStore:
    """The results database: one SQLite file, opened for writing (``salbench
    run``: created with its folder on demand, checked, migrated, claims
    seeded) or read-only (reports). Writes go through one transaction each;
    re-runs replace rows on their unique keys."""

    def __init__(self, path: str | Path, read_only: bool = False, check: bool = True) -> None:
        """``read_only``: open with ``mode=ro`` and write nothing (for
        ``salbench report``); the file must exist. ``check``: in write mode,
        run ``PRAGMA quick_check`` first and refuse a corrupt store."""
        self.path = Path(path)
        self.read_only = bool(read_only)
        try:
            if self.read_only:
                self._open_read_only()
            else:
                self._open_write(check)
        except sqlite3.Error as exc:
            try:
                self.conn.close()
            except Exception:
                pass
            raise _fault(self.path, exc, self.read_only) from None

    def _open_read_only(self) -> None:
        from urllib.parse import quote

        from salbench.errors import SalbenchError
        if not self.path.is_file():
            raise SalbenchError(f"no results store at {self.path}")
        uri = "file:" + quote(str(self.path.resolve()))
        self.conn = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                                    isolation_level=None)
        try:
            self.conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError as exc:
            # a WAL store in a read-only folder without its -shm file: nobody can be writing it
            wal = Path(str(self.path) + "-wal")
            if "unable to open" not in str(exc) and "readonly" not in str(exc):
                raise
            if wal.exists() and wal.stat().st_size:
                raise
            self.conn.close()
            self.conn = sqlite3.connect(uri + "?mode=ro&immutable=1", uri=True, isolation_level=None)
            self.conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._quick_check()
        row = self.conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'summaries'").fetchone()
        if not row[0]:
            raise SalbenchError(f"{self.path}: not a salbench results store (no summaries table)")

    def _quick_check(self) -> None:
        bad = [r[0] for r in self.conn.execute("PRAGMA quick_check(3)").fetchall()]
        if bad != ["ok"]:
            detail = " ".join(" ".join(map(str, bad)).split())[:200]
            raise sqlite3.DatabaseError(f"database disk image is malformed; quick_check: {detail}")

    def _open_write(self, check: bool) -> None:
        from salbench.errors import SalbenchError
        if self.path.is_dir():
            raise SalbenchError(f"results store {self.path} is a folder, not a file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SalbenchError(f"results folder {self.path.parent} cannot be created "
                                f"({exc.strerror or exc})") from None
        exists = self.path.is_file() and self.path.stat().st_size > 0
        self.conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000,
                                    isolation_level=None)
        self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if exists and check:
            self._quick_check()
        mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if mode and str(mode[0]).lower() != "wal" and exists:
            # could not switch to WAL: read-only file or folder
            raise sqlite3.OperationalError("attempt to write a readonly database")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        with self.transaction() as c:
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    c.execute(stmt)
            row = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            have = int(row[0]) if row else None
            if have is not None and have > SCHEMA_VERSION:
                from salbench.errors import SalbenchError
                raise SalbenchError(f"{self.path}: results store of schema version {have}, newer "
                                    f"than this salbench ({SCHEMA_VERSION}); upgrade salbench")
            if have is not None and have < SCHEMA_VERSION:
                migrate(c, have)
            c.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
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
        """``with store.transaction() as c:`` one ``BEGIN IMMEDIATE`` transaction
        (committed at the end of the block, rolled back on an exception)."""
        return ResultsStore._Tx(self.conn)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _seed_claims(self) -> None:
        from salbench.report.claims import CLAIMS
        have = self.conn.execute("SELECT COUNT(*) FROM claims").fetchone()[0]
        if have == len(CLAIMS):
            return
        with self.transaction() as c:
            c.executemany("INSERT OR REPLACE INTO claims VALUES (?,?,?,?,?,?,?,?)",
                          [(k.paper, k.table, k.method, k.display, k.dataset, k.protocol,
                            k.metric, k.value) for k in CLAIMS])

    # -- runs ----------------------------------------------------------------
    def start_run(self, run_id: str, **fields: Any) -> None:
        """Insert a ``runs`` row (status ``running`` unless given; lists and
        dicts stored as JSON)."""
        fields = {k: (dumps(v) if isinstance(v, (dict, list, tuple)) else v) for k, v in fields.items()}
        fields.setdefault("status", "running")
        fields.setdefault("started", time.time())
        cols = ["run_id", *fields]
        with self.transaction() as c:
            c.execute(f"INSERT OR REPLACE INTO runs ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                      [run_id, *fields.values()])

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set columns of a ``runs`` row."""
        fields = {k: (dumps(v) if isinstance(v, (dict, list, tuple)) else v) for k, v in fields.items()}
        if not fields:
            return
        with self.transaction() as c:
            c.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in fields)} WHERE run_id = ?",
                      [*fields.values(), run_id])

    def runs(self, method: str | None = None, dataset: str | None = None) -> list[dict]:
        """The ``runs`` rows (of a method label / dataset), oldest first."""
        return [self._row(r, _RUN_JSON)
                for r in self._select("runs", {"method": method, "dataset": dataset}, "started")]

    def latest_run(self, method: str, dataset: str | None = None, done: bool = True) -> dict | None:
        """The newest run of a method label (finished ones only with ``done``), or None."""
        q = "SELECT * FROM runs WHERE method = ?"
        args: list[Any] = [method]
        if dataset:
            q += " AND dataset = ?"
            args.append(dataset)
        if done:
            q += " AND status IN ('done', 'done-with-problems')"
        rows = self._query(q + " ORDER BY started DESC LIMIT 1", args)
        return self._row(rows[0], _RUN_JSON) if rows else None

    # -- scores --------------------------------------------------------------
    def put_results(self, method: str, dataset: str, protocol: str, summary: dict,
                    per_image: dict[str, dict] | None, run_id: str | None = None,
                    image_curves: dict | None = None) -> None:
        """Replace the per-image scores and the summary of (method, dataset,
        protocol) in one transaction. ``image_curves``: ``{image: (6, 256) array}``
        per-image curves (``run --keep-curves``); any stored earlier for this
        (method, dataset, protocol) are dropped with the per-image scores they
        belonged to, so curves never outlive the scores of their run."""
        scalars, curves, details, problems = split_summary(summary)
        with self.transaction() as c:
            c.execute("DELETE FROM problems WHERE method=? AND dataset=? AND protocol=?",
                      (method, dataset, protocol))
            c.executemany("INSERT INTO problems VALUES (?,?,?,?,?,?,?,?)",
                          [(run_id, method, dataset, protocol, *r) for r in problem_rows(problems)])
            keys = None
            if per_image is not None:
                keys = image_keys(per_image)
                c.execute("DELETE FROM image_scores WHERE method=? AND dataset=? AND protocol=?",
                          (method, dataset, protocol))
                c.executemany("INSERT OR REPLACE INTO image_scores VALUES (?,?,?,?,?)",
                              [(method, dataset, protocol, text(name), pack(s, keys))
                               for name, s in sorted(per_image.items())])
                c.execute("DELETE FROM image_curves WHERE method=? AND dataset=? AND protocol=?",
                          (method, dataset, protocol))
                if image_curves:
                    c.executemany("INSERT INTO image_curves VALUES (?,?,?,?,?)",
                                  [(method, dataset, protocol, text(name), pack_curves(cv))
                                   for name, cv in sorted(image_curves.items()) if name in per_image])
            else:
                row = c.execute("SELECT image_keys FROM summaries WHERE method=? AND dataset=? AND "
                                "protocol=?", (method, dataset, protocol)).fetchone()
                keys = json.loads(row[0]) if row and row[0] else None
            c.execute("INSERT OR REPLACE INTO summaries (method, dataset, protocol, count, scores, "
                      "curves, run_id, updated, details, image_keys) VALUES (?,?,?,?,?,?,?,?,?,?)",
                      (method, dataset, protocol, int(scalars.get("count", 0) or 0),
                       dumps(scalars), dumps(curves), run_id, time.time(), dumps(details),
                       json.dumps(keys) if keys is not None else None))

    def put_problems(self, run_id: str, method: str, dataset: str,
                     rows: Iterable[tuple[str, str | None, str | None, str]],
                     protocol: str | None = None) -> None:
        """Record ``(kind, image, path, message)`` problems of a run (replacing
        that run's earlier rows of the same protocol)."""
        rows = [tuple(text(x) for x in r) for r in rows]
        with self.transaction() as c:
            c.execute("DELETE FROM problems WHERE run_id=? AND protocol IS ?", (run_id, protocol))
            c.executemany("INSERT INTO problems VALUES (?,?,?,?,?,?,?,?)",
                          [(run_id, method, dataset, protocol, *r) for r in rows])

    def problems(self, method: str | None = None, dataset: str | None = None) -> list[dict]:
        """Problem rows (run_id, method, dataset, protocol, kind, image, path, message)."""
        return [dict(r) for r in self._select("problems", {"method": method, "dataset": dataset})]

    def mark_dead_runs(self) -> int:
        """Runs left ``running`` by a process of this host that no longer
        exists (killed) become ``interrupted``; returns how many."""
        import os
        import socket
        host = socket.gethostname()
        dead = []
        for r in self._query("SELECT run_id, pid, host FROM runs WHERE status = 'running'", []):
            if r["host"] != host or not r["pid"]:
                continue
            try:
                os.kill(int(r["pid"]), 0)
            except ProcessLookupError:
                dead.append(r["run_id"])
            except (PermissionError, OSError):
                pass
        if dead:
            with self.transaction() as c:
                c.executemany("UPDATE runs SET status = 'interrupted' WHERE run_id = ?",
                              [(d,) for d in dead])
        return len(dead)

    def summaries(self, methods: Iterable[str] | None = None, datasets: Iterable[str] | None = None,
                  protocol: str | None = None, curves: bool = False) -> list[dict]:
        """Summary rows (method, dataset, protocol, count, scores; curves and
        details with ``curves=True``), filtered by the arguments given."""
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
            d["details"] = json.loads(d["details"]) if d.get("details") else {}
            out.append(d)
        return out

    def image_scores(self, method: str, dataset: str, protocol: str) -> dict[str, dict]:
        """``{image: {score name: value or None}}`` of (method, dataset, protocol)."""
        row = self._query("SELECT image_keys FROM summaries WHERE method=? AND dataset=? AND protocol=?",
                          [method, dataset, protocol])
        keys = json.loads(row[0]["image_keys"]) if row and row[0]["image_keys"] else []
        rows = self._query("SELECT image, scores FROM image_scores WHERE method=? AND dataset=? "
                           "AND protocol=? ORDER BY image", [method, dataset, protocol])
        return {r["image"]: unpack(r["scores"], keys) for r in rows}

    def image_curves(self, method: str, dataset: str, protocol: str):
        """``(image names, float64 array (n, 6, 256))`` of the per-image curves
        stored for (method, dataset, protocol) by ``run --keep-curves`` (rows
        :data:`salbench.store.schema.IMAGE_CURVE_ROWS`), or None where none are
        stored (or the store predates them)."""
        import numpy as np
        try:
            rows = self._query("SELECT image, curves FROM image_curves WHERE method=? AND dataset=? "
                               "AND protocol=? ORDER BY image", [method, dataset, protocol])
        except sqlite3.OperationalError:  # a read-only store written before the table existed
            return None
        if not rows:
            return None
        return [r["image"] for r in rows], np.stack([unpack_curves(r["curves"]) for r in rows])

    def curve_datasets(self, method: str, protocol: str) -> list[str]:
        """The datasets with per-image curves stored for (method, protocol)."""
        try:
            rows = self._query("SELECT DISTINCT dataset FROM image_curves WHERE method=? AND protocol=?",
                               [method, protocol])
        except sqlite3.OperationalError:  # a read-only store written before the table existed
            return []
        return [r["dataset"] for r in rows]

    def count(self, table: str) -> int:
        """The number of rows of ``table``."""
        assert table in ("runs", "image_scores", "image_curves", "summaries", "methods", "claims",
                         "problems")
        return self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    # -- methods & claims ------------------------------------------------------
    def put_method(self, method: str, method_name: str, kind: str, paper: str,
                   params: int | None, gmacs: float | None,
                   gmacs_size: tuple[int, int] | None = None) -> None:
        """Describe a method label (``gmacs_size``: the (H, W) GMACs were counted at)."""
        size = f"{gmacs_size[0]}x{gmacs_size[1]}" if gmacs_size else None
        with self.transaction() as c:
            c.execute("INSERT OR REPLACE INTO methods (method, method_name, kind, paper, params, "
                      "gmacs, updated, gmacs_size) VALUES (?,?,?,?,?,?,?,?)",
                      (method, method_name, kind, paper, params, gmacs, time.time(), size))

    def methods(self) -> dict[str, dict]:
        """method label -> its ``methods`` row (kind, paper, params, GMACs)."""
        return {r["method"]: dict(r) for r in self._query("SELECT * FROM methods", [])}

    def claims(self, table: str | None = None, protocol: str | None = None) -> list[dict]:
        """The papers' reported numbers (of one table / protocol)."""
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
