"""Issue 15 (eval side): interrupts keep the computed rows, output paths are
checked before the work, store faults are one-line messages, hostile file
names, degenerate E-measure, decoders that agree, user errors as messages, no
code from the working directory. Everything through the real CLI
(``python -m salbench.cli``) or the API."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from salbench.errors import InputError, SalbenchError
from salbench.data.imageio import read_map
from salbench.store.results import ResultsStore
from helpers import cli, cli_start, make_set, one_line_error, write_map_pairs

REPO = Path(__file__).resolve().parents[1]


def _png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


# -- 9. no code from the working directory ---------------------------------------

@pytest.mark.slow
def test_no_modules_imported_from_cwd(tmp_path):
    evil = tmp_path / "cwd"
    (evil / "salbench_methods").mkdir(parents=True)
    marker = tmp_path / "imported"
    code = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
    for mod in ("tqdm.py", "argparse.py", "cv2.py", "salbench_methods/__init__.py"):
        (evil / mod).write_text(code)
    pred, gt = write_map_pairs(tmp_path, 3)
    for args in (["-m", "salbench.cli", "eval", "--pred", pred, "--gt", gt],
                 ["-m", "salbench", "eval", "--pred", pred, "--gt", gt], ["-m", "salbench.cli", "list"]):
        r = subprocess.run([sys.executable, *map(str, args)], cwd=evil, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert not marker.exists(), (args, marker.read_text())
    # from the checkout itself salbench still imports (editable install)
    r = cli("--version", cwd=REPO, timeout=60)
    assert r.returncode == 0 and "salbench" in r.stdout


# -- 3. output paths checked before any work ------------------------------------

@pytest.mark.slow
def test_eval_output_paths_checked_first(tmp_path):
    pred, gt = write_map_pairs(tmp_path, 3)
    base = ["eval", "--pred", pred, "--gt", gt]
    folder = tmp_path / "afolder"
    folder.mkdir()
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    for opt, value, frag in (("--json", folder, "is a folder"), ("--per-image", folder, "is a folder"),
                             ("--json", a_file / "x.json", "is a file, not a folder"),
                             ("--per-image", a_file / "sub" / "x.csv", "is a file, not a folder")):
        r = cli(*base, opt, value)
        one_line_error(r, opt, frag)
        assert "protocol" not in r.stdout  # nothing was computed
    assert not list(folder.iterdir())
    # a missing parent folder is created (documented decision)
    out = tmp_path / "new" / "deeper"
    cli(*base, "--json", out / "s.json", "--per-image", out / "p.csv", check_rc=0)
    assert json.loads((out / "s.json").read_text())["count"] == 3
    assert len((out / "p.csv").read_text().splitlines()) == 4


def _nobody() -> list[str] | None:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return None
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_read_only_folder_checks_and_read_only_store():
    """As an unprivileged user (root writes everywhere): a read-only folder is
    refused up front for outputs and ``run``'s results, and the store in it
    opens read-only without writing anything."""
    nobody = _nobody()
    if nobody is None:
        pytest.skip("needs root and setpriv to act as an unprivileged user")
    d = Path(tempfile.mkdtemp(prefix="salbench-ro-"))
    try:
        os.chmod(d, 0o755)
        pred, gt = write_map_pairs(d, 2)
        with ResultsStore(d / "results" / "salbench.sqlite") as s:
            s.put_results("m", "d", "pysodmetrics", {"count": 1, "mae": 0.5, "protocol": "pysodmetrics"},
                          {"a": {"mae": 0.5}}, "r1")
        for p in d.rglob("*"):
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        before = {p.name: p.stat().st_mtime_ns for p in (d / "results").iterdir()}
        code = (
            "import sys\n"
            "from salbench.store.results import ResultsStore\n"
            "from salbench.data.paths import check_results_folder\n"
            "from salbench.errors import SalbenchError\n"
            f"s = ResultsStore({str(d / 'results' / 'salbench.sqlite')!r}, read_only=True)\n"
            "print('rows', len(s.image_scores('m', 'd', 'pysodmetrics')), s.summaries()[0]['count'])\n"
            "s.close()\n"
            "for f in (lambda: check_results_folder(sys.argv[1]),\n"
            "          lambda: ResultsStore(sys.argv[1] + '/salbench.sqlite')):\n"
            "    try:\n"
            "        f(); print('not refused')\n"
            "    except SalbenchError as e:\n"
            "        print('refused', e)\n")
        r = subprocess.run([*nobody, sys.executable, "-c", code, str(d / "results")], cwd=d,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert "rows 1 1" in r.stdout
        assert r.stdout.count("refused") == 2 and "not refused" not in r.stdout, r.stdout
        assert "results folder" in r.stdout and "read-only" in r.stdout
        after = {p.name: p.stat().st_mtime_ns for p in (d / "results").iterdir()}
        assert after == before  # nothing written, no -wal / -shm created
        r = cli("eval", "--pred", pred, "--gt", gt, "--json", d / "out.json", prefix=nobody, cwd="/", timeout=120)
        one_line_error(r, "--json", "read-only")
    finally:
        shutil.rmtree(d, ignore_errors=True)


# -- 2. eval --per-image interrupted ---------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("sig,twice", [(signal.SIGTERM, False), (signal.SIGINT, False), (signal.SIGTERM, True)])
def test_eval_interrupt_keeps_rows_under_final_name(tmp_path, sig, twice):
    pred, gt = write_map_pairs(tmp_path, 1500, size=160)
    out = tmp_path / "rows.csv"
    tmp = tmp_path / ".rows.csv.tmp"
    p = cli_start("eval", "--pred", pred, "--gt", gt, "--per-image", out, "--workers", "1")
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp.exists() and tmp.stat().st_size > 2000):
        time.sleep(0.02)
    assert p.poll() is None, "eval finished before the signal: make the input larger"
    t0 = time.perf_counter()
    p.send_signal(sig)
    if twice:  # a second signal while stopping changes nothing
        time.sleep(0.005)
        p.send_signal(sig)
    _, err = p.communicate(timeout=30)
    stop = time.perf_counter() - t0
    assert p.returncode == 130, err
    assert stop < 2.0, stop
    assert "Traceback" not in err
    assert not tmp.exists()
    rows = list(csv.reader(out.open()))
    assert rows[0][0] == "name" and len(rows) > 2
    assert all(len(r) == len(rows[0]) for r in rows)
    assert "partial" in err and "no resume" in err


# -- 4. store faults ----------------------------------------------------------------

def _store_with_rows(path: Path, n: int = 3000) -> None:
    per = {f"img{i:05d}": {"mae": i / n, "max_f": 0.5} for i in range(n)}
    with ResultsStore(path) as s:
        s.put_results("m", "d", "pysodmetrics", {"count": n, "mae": 0.1, "protocol": "pysodmetrics"}, per, "r")


def test_store_faults_are_one_line_messages(tmp_path):
    good = tmp_path / "good.sqlite"
    _store_with_rows(good)
    data = good.read_bytes()
    cases = {
        "garbage": b"this is not a database at all\n" * 200,
        "truncated": data[: len(data) // 3],
        "mid-file": data[: len(data) // 2] + bytes(8192) + data[len(data) // 2 + 8192:],
        "empty-header": b"SQLite format 3\x00" + b"\xff" * 200,
    }
    for name, blob in cases.items():
        f = tmp_path / f"{name}.sqlite"
        f.write_bytes(blob)
        for ro in (False, True):
            with pytest.raises(SalbenchError) as ei:
                ResultsStore(f, read_only=ro)
            msg = str(ei.value)
            assert str(f) in msg and "\n" not in msg, msg
            assert "move it aside" in msg or "not a salbench" in msg, msg
        # through the CLI: report opens the store; the message names it, no sqlite3 traceback
        r = cli("report", "--store", f)
        one_line_error(r, str(f))
        assert "sqlite3." not in r.stderr


def test_read_only_open_writes_nothing(tmp_path):
    f = tmp_path / "s.sqlite"
    _store_with_rows(f, 10)
    before = f.read_bytes()
    with ResultsStore(f, read_only=True) as s:
        assert len(s.image_scores("m", "d", "pysodmetrics")) == 10
        with pytest.raises(sqlite3.OperationalError):
            s.put_method("x", "x", "x", "x", None, None)
    assert f.read_bytes() == before
    with pytest.raises(SalbenchError, match="no results store"):
        ResultsStore(tmp_path / "missing.sqlite", read_only=True)
    assert not (tmp_path / "missing.sqlite").exists()


# -- 5. non-UTF-8 file names ---------------------------------------------------------

@pytest.mark.skipif(sys.platform != "linux", reason="bytes in file names: Linux")
def test_non_utf8_names_survive_eval_and_store(tmp_path):
    pred, gt = write_map_pairs(tmp_path, 2)
    name = b"caf\xe9-\xff"
    for folder in (pred, gt):
        shutil.copy(folder / "im0000.png", os.fsencode(folder) + b"/" + name + b".png")
    out_csv, out_json = tmp_path / "p.csv", tmp_path / "s.json"
    r = cli("eval", "--pred", pred, "--gt", gt, "--per-image", out_csv, "--json", out_json, check_rc=0)
    rows = list(csv.reader(out_csv.open(encoding="utf-8")))
    assert len(rows) == 4 and "caf\\xe9-\\xff" in [row[0] for row in rows]
    assert json.loads(out_json.read_text(encoding="utf-8"))["count"] == 3
    # the store: per-image names and problems with surrogate-escaped names
    s_name = os.fsdecode(name)
    with ResultsStore(tmp_path / "s.sqlite") as s:
        s.put_results("m", "d", "pysodmetrics", {"count": 1, "mae": 0.1, "protocol": "pysodmetrics",
                                                 "unreadable": [{"name": s_name, "path": "/x/" + s_name,
                                                                 "problem": "bad"}]},
                      {s_name: {"mae": 0.1}}, "r")
        s.put_problems("r", "m", "d", [("missing", s_name, None, "gone")], protocol="x")
        assert list(s.image_scores("m", "d", "pysodmetrics")) == ["caf\\xe9-\\xff"]
        assert {p["image"] for p in s.problems()} == {"caf\\xe9-\\xff"}


# -- 6. degenerate E-measure ---------------------------------------------------------

def test_degenerate_e_measure_flagged_value_kept(tmp_path):
    pred, gt = write_map_pairs(tmp_path, 3)
    cv2.imwrite(str(pred / "tiny.png"), np.array([[200]], np.uint8))
    cv2.imwrite(str(gt / "tiny.png"), np.array([[255]], np.uint8))
    cv2.imwrite(str(pred / "two.png"), np.array([[200, 10]], np.uint8))
    cv2.imwrite(str(gt / "two.png"), np.array([[255, 0]], np.uint8))
    out = tmp_path / "s.json"
    per = tmp_path / "p.csv"
    r = cli("eval", "--pred", pred, "--gt", gt, "--json", out, "--per-image", per, check_rc=0)
    assert "outside [0, 1]" in r.stderr and "tiny" in r.stderr
    res = json.loads(out.read_text())
    assert [d["name"] for d in res["degenerate"]] == ["tiny", "two"]
    # the value is PySODMetrics' own, bit-exact
    from py_sod_metrics import Emeasure
    em = Emeasure()
    em.step(np.array([[200]], np.uint8), np.array([[255]], np.uint8))
    ref = em.get_results()["em"]
    row = {r_["name"]: r_ for r_ in csv.DictReader(per.open())}["tiny"]
    assert float(row["max_e"]) == float(np.max(ref["curve"]))
    assert float(row["max_e"]) > 1e10
    # the store turns the key into problem rows
    with ResultsStore(tmp_path / "s.sqlite") as s:
        from salbench.run.evaluate import evaluate_pairs, pair_files
        pairs, _ = pair_files(pred, gt)
        summary = evaluate_pairs(pairs, workers=1)
        s.put_results("m", "d", "pysodmetrics", summary, None, "r")
        kinds = [(p["kind"], p["image"]) for p in s.problems()]
        assert ("degenerate", "tiny") in kinds


@pytest.mark.slow
def test_sanity_warnings_same_folder_and_jpeg_maps(tmp_path):
    pred, gt = write_map_pairs(tmp_path, 2)
    r = cli("eval", "--pred", gt, "--gt", gt, check_rc=0)
    assert "same folder" in r.stderr
    jp = tmp_path / "jpg"
    jp.mkdir()
    for f in pred.iterdir():
        cv2.imwrite(str(jp / (f.stem + ".jpg")), cv2.imread(str(f)))
    r = cli("eval", "--pred", jp, "--gt", gt, check_rc=0)
    assert "JPEG" in r.stderr


# -- 7. decoders agree ---------------------------------------------------------------

@pytest.mark.slow
def test_readers_agree_on_truncated_and_bomb_files(tmp_path):
    pred, gt = write_map_pairs(tmp_path, 3)
    png = (pred / "im0001.png").read_bytes()
    (pred / "im0001.png").write_bytes(png[:-12])  # no IEND
    png2 = (pred / "im0002.png").read_bytes()
    (pred / "im0002.png").write_bytes(png2[: len(png2) // 2])  # cut mid-IDAT
    bomb = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0))
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + _png_chunk(b"IEND", b""))
    (pred / "bomb.png").write_bytes(bomb)
    shutil.copy(gt / "im0000.png", gt / "bomb.png")
    ok = cv2.imencode(".jpg", np.full((32, 32), 128, np.uint8))[1].tobytes()
    (pred / "cut.jpg").write_bytes(ok[: len(ok) - 40])
    shutil.copy(gt / "im0000.png", gt / "cut.png")
    for f, frag in (("im0001.png", "truncated PNG"), ("im0002.png", "truncated PNG"),
                    ("bomb.png", "decompression-bomb"), ("cut.jpg", "truncated JPEG")):
        problems = []
        for reader in ("cv2", "pil"):
            with pytest.raises(InputError) as ei:
                read_map(pred / f, reader)
            problems.append(ei.value.problem)
        assert problems[0] == problems[1] and frag in problems[0], problems
    counts = {}
    for proto in ("pysodmetrics", "r3net"):
        out = tmp_path / f"{proto}.json"
        r = cli("eval", "--pred", pred, "--gt", gt, "--protocol", proto, "--json", out)
        assert r.returncode == 3, r.stderr
        assert "libpng" not in r.stderr and "Corrupt JPEG" not in r.stderr, r.stderr
        res = json.loads(out.read_text())
        counts[proto] = (res["count"], sorted(u["name"] for u in res["unreadable"]))
    assert counts["pysodmetrics"] == counts["r3net"] == (1, ["bomb", "cut", "im0001", "im0002"])


def test_eval_lists_ignored_files_and_accepts_run_extensions(tmp_path):
    pred, gt = write_map_pairs(tmp_path, 2)
    (pred / "notes.txt").write_text("x")
    (pred / "scores.mat").write_bytes(b"\x00")
    g = cv2.imread(str(gt / "im0000.png"), cv2.IMREAD_GRAYSCALE)
    os.remove(gt / "im0000.png")
    os.remove(gt / "im0001.png")
    from PIL import Image
    Image.fromarray(g).save(gt / "im0000.tif")
    Image.fromarray(g).save(gt / "im0001.gif")
    r = cli("eval", "--pred", pred, "--gt", gt, check_rc=0)
    assert "2 images" in r.stdout
    assert "ignored" in r.stderr and "notes.txt" in r.stderr and "scores.mat" in r.stderr
    from salbench.data import datasets
    assert {".tif", ".tiff", ".gif"} <= set(datasets.IMAGE_EXTS)  # one list: eval, datasets and maps


# -- 8. user errors as messages ------------------------------------------------------

def test_weight_file_errors_one_line_never_weights_only_false(tmp_path):
    torch = pytest.importorskip("torch")
    from salbench.nn.weights import WeightsError, parse_device, read_state_dict
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "text.pt").write_text("hello, not weights\n")
    torch.save({"a": torch.zeros(3)}, tmp_path / "ok.pt")
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    torch.save({"a": Path("x")}, tmp_path / "obj.pt")
    for name, frag in (("empty", "empty file"), ("text", "text file"), ("cut", "truncated"),
                       ("obj", "Python objects")):
        with pytest.raises(WeightsError) as ei:
            read_state_dict(tmp_path / f"{name}.pt")
        msg = str(ei.value)
        assert "\n" not in msg and frag in msg and f"{name}.pt" in msg, msg
        assert "weights_only=False" not in msg and "weights_only` set to `False" not in msg, msg
    with pytest.raises(SalbenchError, match="--device bogus: unknown device"):
        parse_device("bogus")
    assert str(parse_device("cpu")) == "cpu"


@pytest.mark.slow
def test_cli_user_errors(tmp_path):
    one_line_error(cli("datasets", "--data-root", tmp_path / "nonexistent"), "data root", "does not exist")
    make_set(tmp_path / "ds", 2, size=(48, 48))
    (tmp_path / "text.pt").write_text("hello\n")
    r = cli("run", "--method", "r3net", "--device", "bogus", "--dataset", tmp_path / "ds",
            "--results", tmp_path / "res")
    one_line_error(r, "--device bogus")
    r = cli("run", "--method", "r3net", "--weights", tmp_path / "text.pt", "--dataset", tmp_path / "ds",
            "--results", tmp_path / "res")
    line = one_line_error(r, "text.pt", "text file")
    assert "weights_only" not in line


def test_evaluator_state_validation():
    import copy

    from salbench.metrics import Evaluator, evaluate_pair
    ev = Evaluator(structural=False)
    ev.update(np.full((6, 6), 100, np.uint8), (np.arange(36).reshape(6, 6) > 17).astype(np.uint8) * 255)
    good = ev.state_dict()
    assert Evaluator.from_state_dict(copy.deepcopy(good)).compute()["mae"] == ev.compute()["mae"]
    bad = {
        "not a dict": lambda d: [d],
        "lacks key(s) sums": lambda d: {k: v for k, v in d.items() if k != "sums"},
        "'count' must be a non-negative integer, got '1'": lambda d: {**d, "count": "1"},
        "'count' must be a non-negative integer, got -1": lambda d: {**d, "count": np.int64(-1)},
        "must have exactly the keys": lambda d: {**d, "scalar_counts": {"mae": 1}},
        "scalar_counts['mae'] must be an integer in 0..1": lambda d: {
            **d, "scalar_counts": {**d["scalar_counts"], "mae": 5}},
        "unknown protocol": lambda d: {**d, "protocol": "nope"},
        "'structural' must be true or false": lambda d: {**d, "structural": "yes"},
        "not a valid exact-sum record": lambda d: {**d, "sums": "x"},
        "unsupported Evaluator state version": lambda d: {**d, "version": 9},
    }
    for frag, mut in bad.items():
        arg = mut(copy.deepcopy(good))
        with pytest.raises(ValueError) as ei:
            Evaluator.from_state_dict(arg)
        assert frag.replace("not a dict", "must be a dict") in str(ei.value), (frag, str(ei.value))
        assert "np." not in str(ei.value)
    with pytest.raises(ValueError) as ei:
        evaluate_pair(np.full((4, 4), 1.5), np.zeros((4, 4)))
    assert "np.float64" not in str(ei.value) and "[1.5, 1.5]" in str(ei.value)


def test_png_with_broken_deflate_under_valid_crcs(tmp_path, monkeypatch):
    """Both readers refuse it; with SALBENCH_PNG_INFLATE_CHECK=1 the check
    catches it first (same problem under both, no libpng line on stderr)."""
    import salbench.data.imageio as imageio
    f = tmp_path / "bad.png"
    f.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0))
                  + _png_chunk(b"IDAT", b"not a zlib stream") + _png_chunk(b"IEND", b""))
    for reader in ("cv2", "pil"):
        with pytest.raises(InputError):
            read_map(f, reader)
    monkeypatch.setattr(imageio, "INFLATE_CHECK", True)
    problems = set()
    for reader in ("cv2", "pil"):
        with pytest.raises(InputError) as ei:
            read_map(f, reader)
        problems.add(ei.value.problem)
    assert len(problems) == 1 and "does not inflate" in problems.pop()
