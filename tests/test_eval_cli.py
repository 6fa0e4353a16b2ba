"""``salbench eval`` end to end on real image files: pairing, bad input,
size mismatches, RGB / 16-bit maps, JSON and CSV outputs, real SOD maps."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from salbench import cli
from salbench.errors import SalbenchError
from salbench.commands.eval import EXIT_SKIPPED
from salbench.run.evaluate import evaluate_pairs, pair_files
from salbench.data.imageio import read_gt, read_map
from salbench.metrics import SCORE_KEYS, Evaluator

from helpers import cli as salbench_cli
from helpers import random_pair

JSON_KEYS = {"protocol", "count", "mae", "max_f", "mean_f", "adp_f", "s_measure", "max_e", "mean_e", "adp_e",
             "weighted_f", "precision", "recall", "f_curve", "e_curve", "iou_curve", "dice_curve", "resized",
             "unpaired", "unreadable"}


@pytest.fixture()
def folders(tmp_path):
    """6 pairs with png / jpg / bmp, RGB and 16-bit maps, plus unpaired files."""
    rng = np.random.default_rng(0)
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    pred_dir.mkdir()
    gt_dir.mkdir()
    for i in range(6):
        p, g = random_pair(rng, 40 + i, 50 + 2 * i, "blurred-box")
        cv2.imwrite(str(gt_dir / f"im{i}.png"), g)
        if i == 0:
            cv2.imwrite(str(pred_dir / f"im{i}.jpg"), p, [cv2.IMWRITE_JPEG_QUALITY, 95])
        elif i == 1:
            cv2.imwrite(str(pred_dir / f"im{i}.bmp"), p)
        elif i == 2:  # RGB map
            Image.fromarray(np.dstack([p, p // 2, 255 - p])).save(pred_dir / f"im{i}.png")
        elif i == 3:  # 16-bit map
            cv2.imwrite(str(pred_dir / f"im{i}.png"), p.astype(np.uint16) * 257)
        else:
            cv2.imwrite(str(pred_dir / f"im{i}.png"), p)
    cv2.imwrite(str(pred_dir / "extra_map.png"), np.zeros((8, 8), np.uint8))
    cv2.imwrite(str(gt_dir / "no_map.png"), np.zeros((8, 8), np.uint8))
    (pred_dir / "readme.txt").write_text("not an image")
    return pred_dir, gt_dir


def run_cli(*args):
    return cli.main(["eval", *map(str, args)])


def test_eval_outputs_and_pairing(folders, tmp_path, capsys):
    pred_dir, gt_dir = folders
    out_json, out_csv = tmp_path / "r.json", tmp_path / "rows.csv"
    rc = run_cli("--pred", pred_dir, "--gt", gt_dir, "--json", out_json, "--per-image", out_csv, "--workers", 2)
    assert rc == 0
    cap = capsys.readouterr()
    assert "protocol pysodmetrics: 6 images" in cap.out and "max F" in cap.out
    assert "1 unpaired maps without GT" in cap.err and "extra_map" in cap.err
    assert "1 unpaired GT without map" in cap.err and "no_map" in cap.err
    res = json.loads(out_json.read_text())
    assert JSON_KEYS <= set(res)
    assert res["count"] == 6 and res["protocol"] == "pysodmetrics"
    for k in ("precision", "recall", "f_curve", "e_curve", "iou_curve", "dice_curve"):
        assert len(res[k]) == 256 and all(isinstance(v, float) for v in res[k])
    # ascending thresholds: recall can only fall as the threshold rises
    assert all(a >= b for a, b in zip(res["recall"], res["recall"][1:]))
    assert res["unpaired"]["pred_only"] == ["extra_map"] and res["unpaired"]["gt_only_count"] == 1
    assert res["resized"]["count"] == 0 and res["unreadable"] == []
    for k in ("mae", "max_f", "s_measure", "weighted_f", "adp_e"):
        assert 0 <= res[k] <= 1
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["name"] for r in rows] == [f"im{i}" for i in range(6)]
    assert set(rows[0]) == {"name", *SCORE_KEYS}
    # the same numbers as the API on the same decoded arrays, in the same order
    ev = Evaluator()
    for i in range(6):
        pp = next(pred_dir.glob(f"im{i}.*"))
        scores = ev.update(read_map(pp), read_gt(gt_dir / f"im{i}.png"))
        assert float(rows[i]["max_f"]) == scores["max_f"]
    api = ev.compute()
    for k in ("mae", "max_f", "mean_e", "s_measure", "weighted_f", "precision"):
        assert res[k] == api[k]


def test_in_process_eval_leaves_numba_blas_alone(folders, tmp_path):
    # only the `salbench` command's own process skips numba's BLAS probe
    pred_dir, gt_dir = folders
    assert run_cli("--pred", pred_dir, "--gt", gt_dir, "--workers", 1) == 0
    import numba.np.arraymath as am

    assert am._HAVE_BLAS


def test_workers_do_not_change_scores(folders, tmp_path):
    pred_dir, gt_dir = folders
    pairs, _ = pair_files(pred_dir, gt_dir)
    one = evaluate_pairs(pairs, workers=1)
    two = evaluate_pairs(pairs, workers=2)
    seen = []
    three = evaluate_pairs(pairs, workers=3, on_image=lambda n, s: seen.append((n, s["mae"])))
    for k in ("mae", "max_f", "s_measure", "weighted_f", "precision", "e_curve"):
        assert one[k] == two[k] == three[k]
    assert [n for n, _ in seen] == [p[0] for p in pairs]


def test_rgb_and_16bit_maps_read_like_cv2(folders):
    pred_dir, _ = folders
    for name in ("im2.png", "im3.png"):
        np.testing.assert_array_equal(read_map(pred_dir / name),
                                      cv2.imread(str(pred_dir / name), cv2.IMREAD_GRAYSCALE))


def test_corrupt_file_is_skipped_named_and_rest_kept(folders, tmp_path, capsys):
    pred_dir, gt_dir = folders
    (pred_dir / "im4.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out_json, out_csv = tmp_path / "r.json", tmp_path / "rows.csv"
    rc = run_cli("--pred", pred_dir, "--gt", gt_dir, "--json", out_json, "--per-image", out_csv)
    assert rc == EXIT_SKIPPED
    err = capsys.readouterr().err
    assert "im4.png" in err and "skipped" in err
    res = json.loads(out_json.read_text())
    assert res["count"] == 5 and res["skipped"] == 1
    assert res["unreadable"][0]["name"] == "im4" and res["unreadable"][0]["path"].endswith("im4.png")
    assert len(list(csv.DictReader(out_csv.open()))) == 5


def test_size_mismatch_resized_and_reported_or_strict_error(folders, tmp_path, capsys):
    pred_dir, gt_dir = folders
    small = cv2.resize(cv2.imread(str(pred_dir / "im5.png"), cv2.IMREAD_GRAYSCALE), (20, 15))
    cv2.imwrite(str(pred_dir / "im5.png"), small)
    out_json = tmp_path / "r.json"
    assert run_cli("--pred", pred_dir, "--gt", gt_dir, "--json", out_json) == 0
    assert "1 maps resized" in capsys.readouterr().out
    res = json.loads(out_json.read_text())
    assert res["resized"]["count"] == 1 and res["resized"]["names"] == ["im5"] and res["count"] == 6
    out_csv = tmp_path / "rows.csv"
    rc = run_cli("--pred", pred_dir, "--gt", gt_dir, "--strict-size", "--json", tmp_path / "s.json",
                 "--per-image", out_csv, "--workers", 1)
    assert rc == 2
    err = capsys.readouterr().err
    assert "im5.png" in err and "20x15" in err and "--strict-size" in err
    assert not (tmp_path / "s.json").exists()
    assert len(list(csv.DictReader(out_csv.open()))) == 5  # rows computed before the error are kept


def test_user_errors(tmp_path, folders, capsys):
    pred_dir, gt_dir = folders
    assert run_cli("--pred", tmp_path / "nope", "--gt", gt_dir) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run_cli("--pred", pred_dir, "--gt", gt_dir, "--protocol", "matlab") == 2
    assert "known protocols: pysodmetrics, r3net" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_cli("--pred", empty, "--gt", gt_dir) == 2
    assert "no file stem" in capsys.readouterr().err
    for p in pred_dir.iterdir():
        if p.stem.startswith("im"):
            p.write_bytes(b"junk")
    assert run_cli("--pred", pred_dir, "--gt", gt_dir) == 2
    assert "none of the 6 pairs could be read" in capsys.readouterr().err


def test_two_files_of_one_stem_is_an_error_naming_both(tmp_path, folders):
    pred_dir, gt_dir = folders
    Image.open(pred_dir / "im4.png").convert("L").save(pred_dir / "im4.jpg", quality=95)  # a real JPEG
    with pytest.raises(SalbenchError) as e:
        pair_files(pred_dir, gt_dir)
    assert str(e.value) == (f"{pred_dir / 'im4.png'} and {pred_dir / 'im4.jpg'}: two prediction files "
                            f"for image 'im4'; keep one")
    cmd = ("eval", "--pred", pred_dir, "--gt", gt_dir, "--json", tmp_path / "r.json", "--per-image",
           tmp_path / "rows.csv")
    r = salbench_cli(*cmd)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("salbench eval: error: ")
    assert str(pred_dir / "im4.png") in lines[0] and str(pred_dir / "im4.jpg") in lines[0]
    assert "keep one" in lines[0] and r.stdout == ""
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "rows.csv").exists()
    # the same for ground truth: a PNG and a BMP mask of one image
    (pred_dir / "im4.jpg").unlink()
    Image.open(gt_dir / "im1.png").save(gt_dir / "im1.bmp")
    r = salbench_cli(*cmd)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{gt_dir / 'im1.png'} and {gt_dir / 'im1.bmp'}: two ground-truth files for image 'im1'" in r.stderr
    (gt_dir / "im1.bmp").unlink()
    pairs, report = pair_files(pred_dir, gt_dir)  # one file per stem again: fine
    assert len(pairs) == 6 and report["ignored"]["pred"] == ["readme.txt"]


def test_several_stems_with_several_files_named_in_one_line(tmp_path, folders, capsys):
    pred_dir, gt_dir = folders
    for i in (2, 4, 5):
        Image.open(pred_dir / f"im{i}.png").convert("L").save(pred_dir / f"im{i}.jpg")
    Image.open(pred_dir / "im5.png").convert("L").save(pred_dir / "im5.bmp")
    assert run_cli("--pred", pred_dir, "--gt", gt_dir) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "im2.png and " in err and "im2.jpg: two prediction files for image 'im2'" in err
    assert "also 2 more stem(s) with several files: im4, im5" in err


@pytest.mark.slow
@pytest.mark.realdata
def test_real_subprocess_on_sod_maps(shared_data, tmp_path):
    """The installed command on the 300 SOD pairs (DSS maps), both protocols
    recorded; r3net numbers near R3Net's Table 2 for DSS (0.842 / 0.118)."""
    pred = shared_data / "maps" / "SOD" / "DSS"
    gt = shared_data / "SOD" / "gt"
    out = {}
    for proto in ("pysodmetrics", "r3net"):
        js = tmp_path / f"{proto}.json"
        r = salbench_cli("eval", "--pred", pred, "--gt", gt, "--protocol", proto, "--json", js,
                         *(["--no-structure"] if proto == "r3net" else []), timeout=600, installed=True)
        assert r.returncode == 0, r.stderr
        assert f"protocol {proto}: 300 images" in r.stdout
        out[proto] = json.loads(js.read_text())
        assert out[proto]["count"] == 300 and out[proto]["protocol_details"]["name"] == proto
    assert abs(out["r3net"]["max_f"] - 0.842) < 0.01 and abs(out["r3net"]["mae"] - 0.118) < 0.01
    assert out["r3net"]["s_measure"] is None and out["pysodmetrics"]["s_measure"] > 0.5
    assert out["pysodmetrics"]["max_f"] != out["r3net"]["max_f"]


def test_eval_import_is_torch_free():
    r = subprocess.run([sys.executable, "-c", "import sys, salbench.run.evaluate, salbench.cli; "
                        "print('torch' in sys.modules)"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr
