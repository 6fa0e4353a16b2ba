"""The SQLite results store: replace-not-duplicate, WAL + busy timeout with two
writer processes, a kill mid-transaction, and the shipped paper claims."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from salbench.report.claims import CLAIMS, lookup
from salbench.store.results import ResultsStore


def _summary(v: float) -> dict:
    return {"protocol": "pysodmetrics", "count": 3, "mae": v, "max_f": 1 - v,
            "precision": [v] * 256, "recall": [1 - v] * 256, "protocol_details": {"beta2": 0.3}}


def test_put_results_replaces_not_duplicates(tmp_path):
    s = ResultsStore(tmp_path / "r.sqlite")
    for v in (0.2, 0.1):
        s.put_results("m", "SOD", "pysodmetrics", _summary(v),
                      {f"i{k}": {"mae": v + k} for k in range(3)}, run_id="r1")
    assert s.count("summaries") == 1 and s.count("image_scores") == 3
    [row] = s.summaries(curves=True)
    assert row["scores"]["mae"] == 0.1 and row["count"] == 3
    assert row["curves"]["precision"] == [0.1] * 256 and "precision" not in row["scores"]
    assert s.image_scores("m", "SOD", "pysodmetrics")["i2"] == {"mae": 2.1}
    # a re-run with fewer images replaces the per-image rows
    s.put_results("m", "SOD", "pysodmetrics", _summary(0.3), {"i0": {"mae": 0.3}})
    assert s.count("image_scores") == 1
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    s.close()


def test_runs_record_and_update(tmp_path):
    with ResultsStore(tmp_path / "r.sqlite") as s:
        s.start_run("abc", method="m", method_name="m", dataset="SOD", options={"k": 1},
                    versions={"numpy": "2"})
        s.update_run("abc", status="done", fps=12.5, problems=["x: bad"])
        run = s.latest_run("m", "SOD")
        assert run["options"] == {"k": 1} and run["fps"] == 12.5 and run["problems"] == ["x: bad"]


def test_claims_transcribed_from_r3net_paper(tmp_path):
    # the numbers the brief and the data README quote (Table 2, SOD)
    for method, f, mae in [("dss", 0.842, 0.118), ("amulet", 0.801, 0.146), ("wctr", 0.632, 0.245),
                           ("bsca", 0.634, 0.266), ("r3net", 0.847, 0.124)]:
        assert lookup(method, "SOD", "max_f") == f and lookup(method, "SOD", "mae") == mae
    # R3Net in Table 2 is R3Net-6 of Table 1 on every dataset
    for ds in ("ECSSD", "HKU-IS", "PASCAL-S", "SOD", "DUT-OMRON"):
        for metric in ("max_f", "mae"):
            assert lookup("r3net", ds, metric) == lookup("r3net-6", ds, metric, table="table1")
    assert lookup("dhsnet", "DUT-OMRON", "max_f") is None  # blank in the paper
    assert lookup("r3net-v", "DUT-OMRON", "max_f", table="table1") == 0.746
    assert all(c.protocol == "r3net" for c in CLAIMS)
    with ResultsStore(tmp_path / "r.sqlite") as s:
        assert s.count("claims") == len(CLAIMS)
        assert len(s.claims(table="table1")) == 14 * 5 * 2


WRITER = textwrap.dedent("""
    import sys
    from salbench.store.results import ResultsStore
    path, label, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    s = ResultsStore(path)
    for i in range(n):
        s.put_results(label, f"D{i}", "pysodmetrics", {"count": 1, "mae": i / 100.0},
                      {f"img{k}": {"mae": k} for k in range(20)})
        s.start_run(f"{label}-{i}", method=label, method_name=label, dataset=f"D{i}")
    s.close()
""")


def test_two_processes_write_at_once(tmp_path):
    path = tmp_path / "r.sqlite"
    ResultsStore(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), lab, "40"],
                              stderr=subprocess.PIPE, text=True) for lab in ("a", "b")]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with ResultsStore(path) as s:
        assert s.count("summaries") == 80 and s.count("image_scores") == 80 * 20
        assert s.count("runs") == 80


KILLED = textwrap.dedent("""
    import sys, time
    from salbench.store.results import ResultsStore
    s = ResultsStore(sys.argv[1])
    with s.transaction() as c:
        c.execute("DELETE FROM image_scores")
        c.execute("INSERT INTO image_scores VALUES ('x','y','z','w',x'00')")
        print("in-transaction", flush=True)
        time.sleep(60)
""")


def test_kill_mid_transaction_loses_nothing(tmp_path):
    path = tmp_path / "r.sqlite"
    with ResultsStore(path) as s:
        s.put_results("m", "SOD", "pysodmetrics", _summary(0.1), {"a": {"mae": 1}, "b": {"mae": 2}})
    p = subprocess.Popen([sys.executable, "-c", KILLED, str(path)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "in-transaction"
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=30)
    with ResultsStore(path) as s:
        assert sorted(s.image_scores("m", "SOD", "pysodmetrics")) == ["a", "b"]
        assert s.count("image_scores") == 2
        assert s.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
