"""Merely decode a folder of maps and its GT folder, two threads: the peer of
``salbench eval`` end to end (a whole process each) in ``bench_metrics.py``.

The same decoder as salbench's ``cv2`` reader (``cv2.imdecode`` of the file's
bytes, ``IMREAD_GRAYSCALE``), files paired by name, nothing else imported.

Usage: ``python benchmarks/decode_only.py PRED_DIR GT_DIR [THREADS]``
"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np


def main() -> int:
    pred_dir, gt_dir = sys.argv[1], sys.argv[2]
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    names = sorted(set(os.listdir(pred_dir)) & set(os.listdir(gt_dir)))

    def decode(name):
        for folder in (pred_dir, gt_dir):
            img = cv2.imdecode(np.fromfile(os.path.join(folder, name), np.uint8), cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise SystemExit(f"cannot decode {os.path.join(folder, name)}")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(decode, names))
    print(len(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
