"""The paper-table workload: the six published SOD map sets, both protocols.

Measured as whole processes, interleaved round by round (A B C A B C ...),
medians reported:

* A - the salbench paper-table command: ``salbench run --method maps --maps
  ROOT --datasets SOD`` (ROOT laid out as ``ROOT/SOD/<method>/``: every map
  set in one run, both protocols) followed by ``salbench report``; A1 - the
  same under the ``pysodmetrics`` protocol only (the convention PySODMetrics
  computes);
* B - ``salbench eval`` once per map set and protocol (12 processes), and once
  per map set under the default protocol only (6 processes);
* C - PySODMetrics 1.6.2 computing the same five metrics (MAE, F-measure,
  S-measure, E-measure, weighted F) on the same 1800 pairs in one process
  (the floor of every PySODMetrics-based toolkit), when it is installed.

Also: the results folder's size per 1000 referenced maps, and the run on the
set replicated 4x (symlinks, 1200 images per map set) against the single one.

    python benchmarks/bench_paper_table.py [--data ../shared/data] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETS = ("Amulet", "BSCA", "DSS", "GS", "PiCANet", "RBD")
PROTOCOLS = ("pysodmetrics", "r3net")

PYSOD = r"""
import sys, cv2
from pathlib import Path
from py_sod_metrics import MAE, Emeasure, Fmeasure, Smeasure, WeightedFmeasure
maps, gt = Path(sys.argv[1]), Path(sys.argv[2])
for m in sys.argv[3].split(","):
    ms = [MAE(), Fmeasure(), Smeasure(), Emeasure(), WeightedFmeasure()]
    for p in sorted((maps / m).glob("*.png")):
        pred = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE)
        g = cv2.imread(str(gt / p.name), cv2.IMREAD_GRAYSCALE)
        for k in ms:
            k.step(pred=pred, gt=g)
    [k.get_results() for k in ms]
"""


def _salbench(*args) -> list[str]:
    return [sys.executable, "-m", "salbench.cli", *map(str, args)]


def _timed(cmds: list[list[str]], env=None) -> float:
    t0 = time.perf_counter()
    for c in cmds:
        r = subprocess.run(c, capture_output=True, text=True, env=env)
        if r.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(c)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return time.perf_counter() - t0


def _folder_bytes(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


def _replicate(data: Path, maps: Path, out: Path, k: int) -> tuple[Path, Path]:
    """``SOD`` and its map sets replicated ``k`` times by symlinks (names ``<stem>_r<i>``)."""
    droot, mroot = out / "data", out / "maps"
    for sub in ("images", "gt"):
        (droot / "SOD" / sub).mkdir(parents=True)
    for m in SETS:
        (mroot / "SOD" / m).mkdir(parents=True)
    for img in sorted((data / "SOD" / "images").glob("*.jpg")):
        for i in range(k):
            s = f"{img.stem}_r{i}"
            os.symlink(img, droot / "SOD" / "images" / f"{s}.jpg")
            os.symlink(data / "SOD" / "gt" / f"{img.stem}.png", droot / "SOD" / "gt" / f"{s}.png")
            for m in SETS:
                os.symlink(maps / "SOD" / m / f"{img.stem}.png", mroot / "SOD" / m / f"{s}.png")
    return droot, mroot


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("SALBENCH_SHARED_DATA", "../shared/data"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--replicate", type=int, default=4)
    args = ap.parse_args()
    data = Path(args.data).resolve()
    maps = data / "maps"
    gt = data / "SOD" / "gt"
    tmp = Path(tempfile.mkdtemp(prefix="salbench-paper-table-"))
    try:
        have_pysod = subprocess.run([sys.executable, "-c", "import py_sod_metrics"],
                                    capture_output=True).returncode == 0
        times: dict[str, list[float]] = {"A": [], "A1": [], "B12": [], "B6": [], "C": []}
        for r in range(args.rounds):
            res = tmp / f"results{r}"
            times["A"].append(_timed([
                _salbench("run", "--method", "maps", "--maps", maps, "--datasets", "SOD", "--data-root",
                          data, "--results", res, "-q"),
                _salbench("report", "--results", res, "-o", tmp / f"report{r}.md")]))
            times["A1"].append(_timed([
                _salbench("run", "--method", "maps", "--maps", maps, "--datasets", "SOD", "--data-root",
                          data, "--results", tmp / f"one{r}", "--protocol", "pysodmetrics", "-q"),
                _salbench("report", "--results", tmp / f"one{r}", "-o", tmp / f"one{r}.md")]))
            times["B12"].append(_timed([_salbench("eval", "--pred", maps / "SOD" / m, "--gt", gt,
                                                  "--protocol", p) for m in SETS for p in PROTOCOLS]))
            times["B6"].append(_timed([_salbench("eval", "--pred", maps / "SOD" / m, "--gt", gt)
                                       for m in SETS]))
            if have_pysod:
                times["C"].append(_timed([[sys.executable, "-c", PYSOD, maps / "SOD", gt, ",".join(SETS)]]))
        med = {k: statistics.median(v) for k, v in times.items() if v}
        print(f"# paper-table workload: 6 map sets x 300 SOD pairs, {args.rounds} rounds, medians (s)")
        print(f"A  run + report (both protocols)          {med['A']:7.2f}")
        print(f"A1 the same, --protocol pysodmetrics      {med['A1']:7.2f}")
        print(f"B  12 x eval (6 sets x 2 protocols)       {med['B12']:7.2f}   A/B = {med['A'] / med['B12']:.2f}")
        print(f"B' 6 x eval (default protocol)            {med['B6']:7.2f}   A/B' = {med['A'] / med['B6']:.2f}")
        if "C" in med:
            print(f"C  PySODMetrics 1.6.2, 5 metrics, 1 proc  {med['C']:7.2f}   C/A = {med['C'] / med['A']:.1f}x"
                  f", C/A1 = {med['C'] / med['A1']:.1f}x")
        size = _folder_bytes(tmp / "results0")
        print(f"results folder: {size / 1e6:.2f} MB for {len(SETS) * 300} referenced maps = "
              f"{size / 1e6 / (len(SETS) * 300 / 1000):.2f} MB per 1000")
        k = args.replicate
        droot, mroot = _replicate(data, maps, tmp / "rep", k)
        t1 = [_timed([_salbench("run", "--method", "maps", "--maps", maps, "--datasets", "SOD",
                                "--data-root", data, "--results", tmp / f"s1_{i}", "-q")]) for i in range(2)]
        tk = [_timed([_salbench("run", "--method", "maps", "--maps", mroot, "--datasets", "SOD",
                                "--data-root", droot, "--results", tmp / f"s{k}_{i}", "-q")]) for i in range(2)]
        print(f"scaling: run on {k}x the pairs {min(tk):.2f} s vs {min(t1):.2f} s = {min(tk) / min(t1):.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
