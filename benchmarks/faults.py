"""Fault injection: interrupts of ``salbench eval`` and ``salbench run`` (Ctrl-C,
SIGTERM, SIGKILL of the parent, then the resume), corrupt stores, a read-only
store, concurrent writers. Prints one table row
per scenario: outcome, rows lost (must be 0), seconds to stop after the
signal (must be <= 2 s).

    python benchmarks/faults.py [--images 1500] [--size 160]

Runs the real CLI (``python -m salbench.cli``) in subprocesses; the read-only
scenario runs as user ``nobody`` (``setpriv``) when started as root, because
root writes through permission bits.
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing as mp
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from salbench.errors import SalbenchError
from salbench.store.results import ResultsStore


def make_pairs(folder: Path, n: int, size: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    pred, gt = folder / "pred", folder / "gt"
    pred.mkdir(parents=True)
    gt.mkdir(parents=True)
    g = np.zeros((size, size), np.uint8)
    g[size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 255
    for i in range(n):
        p = np.clip(g.astype(int) + rng.integers(-60, 60, g.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(pred / f"im{i:05d}.png"), p)
        cv2.imwrite(str(gt / f"im{i:05d}.png"), g)
    return pred, gt


def eval_interrupt(tmp: Path, pred: Path, gt: Path, sig: int, twice: bool = False) -> tuple[str, str, str]:
    out = tmp / f"rows-{sig}-{int(twice)}.csv"
    hidden = out.with_name(f".{out.name}.tmp")
    p = subprocess.Popen([sys.executable, "-m", "salbench.cli", "eval", "--pred", str(pred), "--gt", str(gt),
                          "--per-image", str(out), "--workers", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not (hidden.exists() and hidden.stat().st_size > 4000):
        time.sleep(0.01)
    if p.poll() is not None:
        return "finished before the signal (use more --images)", "-", "-"
    t0 = time.perf_counter()
    p.send_signal(sig)
    if twice:
        time.sleep(0.005)
        p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    stop = time.perf_counter() - t0
    m = re.search(r"holds the (\d+) per-image rows", err)
    computed = int(m.group(1)) if m else None
    on_disk = max(0, len(list(csv.reader(out.open()))) - 1) if out.exists() else 0
    lost = "?" if computed is None else str(computed - on_disk)
    if hidden.exists():
        lost += f" (+ hidden {hidden.name} left)"
    tb = " TRACEBACK" if "Traceback" in err else ""
    outcome = f"exit {p.returncode}, {on_disk} rows in {out.name}{tb}"
    return outcome, lost, f"{stop:.2f}"


def _store_rows(path: Path, n: int) -> None:
    per = {f"img{i:05d}": {"mae": i / n} for i in range(n)}
    with ResultsStore(path) as s:
        s.put_results("m", "d", "pysodmetrics", {"count": n, "mae": 0.5, "protocol": "pysodmetrics"}, per, "r")


def corrupt_store(tmp: Path, kind: str) -> tuple[str, str, str]:
    good = tmp / "good.sqlite"
    if not good.exists():
        _store_rows(good, 10_000)
    data = good.read_bytes()
    blob = {"garbage": b"not a database\n" * 300,
            "truncated": data[: len(data) // 3],
            "mid-file": data[: len(data) // 2] + bytes(16384) + data[len(data) // 2 + 16384:]}[kind]
    f = tmp / f"{kind}.sqlite"
    f.write_bytes(blob)
    msgs = []
    for ro in (False, True):
        try:
            ResultsStore(f, read_only=ro).close()
            msgs.append("NOT DETECTED")
        except SalbenchError as exc:
            msgs.append("one-line error" if "\n" not in str(exc) and str(f) in str(exc) else f"bad message {exc!r}")
    r = subprocess.run([sys.executable, "-m", "salbench.cli", "report", "--store", str(f)],
                       capture_output=True, text=True, timeout=120)
    cli_ok = r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    unchanged = f.read_bytes() == blob
    outcome = (f"write-open: {msgs[0]}; read-open: {msgs[1]}; report: "
               f"{'exit 2, one line' if cli_ok else 'rc=%d %r' % (r.returncode, r.stderr[-200:])}; "
               f"file {'untouched' if unchanged else 'CHANGED'}")
    return outcome, "0" if unchanged else "?", "-"


def read_only_store(tmp: Path) -> tuple[str, str, str]:
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        return "skipped (root without setpriv)", "-", "-"
    d = Path(tempfile.mkdtemp(prefix="salbench-faults-ro-"))
    try:
        os.chmod(d, 0o755)
        store = d / "salbench.sqlite"
        _store_rows(store, 10_000)
        os.chmod(store, 0o444)
        os.chmod(d, 0o555)
        pre = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
        code = ("import sys\nfrom salbench.store.results import ResultsStore\nfrom salbench.data.paths import check_results_folder\n"
                "s = ResultsStore(sys.argv[1] + '/salbench.sqlite', read_only=True)\n"
                "print('rows', len(s.image_scores('m', 'd', 'pysodmetrics')))\n"
                "try:\n    check_results_folder(sys.argv[1]); print('run: not refused')\n"
                "except Exception as e:\n    print('run:', e)\n")
        r = subprocess.run([*pre, sys.executable, "-c", code, str(d)], capture_output=True, text=True,
                           timeout=120, cwd="/")
        rows = int(re.search(r"rows (\d+)", r.stdout).group(1)) if "rows" in r.stdout else 0
        refused = "read-only" in r.stdout
        left = sorted(p.name for p in d.iterdir())
        outcome = (f"read-only open: {rows} rows; run: {'refused, results folder is read-only' if refused else 'NOT refused'}"
                   f"; files after: {', '.join(left)}")
        return outcome, str(10_000 - rows), "-"
    finally:
        os.chmod(d, 0o755)
        shutil.rmtree(d, ignore_errors=True)


def _writer(path: str, k: int, n: int) -> None:
    with ResultsStore(path) as s:
        for j in range(5):
            per = {f"w{k}-img{i:04d}": {"mae": i / n} for i in range(n)}
            s.put_results(f"m{k}", f"d{j}", "pysodmetrics", {"count": n, "mae": 0.1, "protocol": "pysodmetrics"},
                          per, f"r{k}")


def concurrent_writers(tmp: Path, writers: int = 4, n: int = 500) -> tuple[str, str, str]:
    path = tmp / "concurrent.sqlite"
    ResultsStore(path).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), k, n)) for k in range(writers)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    with ResultsStore(path, read_only=True) as s:
        got = s.count("image_scores")
    want = writers * 5 * n
    return (f"{writers} processes x 5 put_results, exit codes {[p.exitcode for p in procs]}, "
            f"{time.perf_counter() - t0:.1f} s"), str(want - got), "-"


def _procs_mentioning(text: str) -> int:
    n = 0
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                n += text in (d / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                pass
    return n


def run_interrupt(tmp: Path, pred: Path, gt: Path, sig: int) -> tuple[str, str, str]:
    """``salbench run --method bsca`` (a process pool) on the images, stopped by
    ``sig`` once maps appear, then resumed: maps written after the signal,
    workers left over, maps lost by the resume (must be 0), seconds to stop."""
    data = tmp / f"run-{int(sig)}"
    (data / "ds" / "images").mkdir(parents=True)
    (data / "ds" / "gt").mkdir()
    rng = np.random.default_rng(1)
    for g in sorted(gt.glob("*.png"))[:60]:
        img = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
        cv2.imwrite(str(data / "ds" / "images" / f"{g.stem}.jpg"), img)
        cv2.imwrite(str(data / "ds" / "gt" / f"{g.stem}.png"),
                    cv2.resize(cv2.imread(str(g), cv2.IMREAD_GRAYSCALE), (320, 240)))
    res = data / "results"
    out = res / "bsca" / "ds"
    cmd = [sys.executable, "-m", "salbench.cli", "run", "--method", "bsca", "--datasets", str(data / "ds"),
           "--results", str(res), "--workers", "2", "-q"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and len(list(out.glob("*.png"))) < 4 and p.poll() is None:
        time.sleep(0.02)
    if p.poll() is not None:
        return "finished before the signal", "-", "-"
    at_signal = {q.name for q in out.glob("*.png")}
    t0 = time.perf_counter()
    p.send_signal(sig)
    p.communicate(timeout=120)
    stop = time.perf_counter() - t0
    time.sleep(1.0)
    after = {q.name for q in out.glob("*.png")}
    left = _procs_mentioning(str(res))
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    final = {q.name for q in out.glob("*.png")}
    with ResultsStore(res / "salbench.sqlite", read_only=True) as st:
        statuses = [x["status"] for x in st.runs("bsca", "ds")]
    lost = len(after - final)
    return (f"exit {p.returncode}; {len(after) - len(at_signal)} maps written after the signal; "
            f"{left} processes left; resume exit {r.returncode}, {len(final)}/60 maps; runs {statuses}",
            str(lost), f"{stop:.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1500)
    ap.add_argument("--size", type=int, default=160)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="salbench-faults-"))
    try:
        pred, gt = make_pairs(tmp / "set", args.images, args.size)
        rows = [
            ("eval --per-image, SIGINT", *eval_interrupt(tmp, pred, gt, signal.SIGINT)),
            ("eval --per-image, SIGTERM", *eval_interrupt(tmp, pred, gt, signal.SIGTERM)),
            ("eval --per-image, SIGTERM twice", *eval_interrupt(tmp, pred, gt, signal.SIGTERM, twice=True)),
            ("run (process pool), SIGINT", *run_interrupt(tmp, pred, gt, signal.SIGINT)),
            ("run (process pool), SIGTERM", *run_interrupt(tmp, pred, gt, signal.SIGTERM)),
            ("run (process pool), SIGKILL", *run_interrupt(tmp, pred, gt, signal.SIGKILL)),
            ("store: garbage file", *corrupt_store(tmp, "garbage")),
            ("store: truncated to 1/3", *corrupt_store(tmp, "truncated")),
            ("store: 16 KiB zeroed mid-file", *corrupt_store(tmp, "mid-file")),
            ("store: read-only folder + file", *read_only_store(tmp)),
            ("store: 4 concurrent writers", *concurrent_writers(tmp)),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    head = ("scenario", "outcome", "rows lost", "stop s")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(4)]
    line = " | ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*head))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(line.format(*r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
