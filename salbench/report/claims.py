"""Numbers reported in papers, shipped as data so reports can show them beside
reproductions (always as clearly marked rows, never as measurements).

Source: Deng et al., "R3Net: Recurrent Residual Refinement Network for Saliency
Detection", IJCAI 2018, Table 1 (ablation) and Table 2 (state of the art);
F-measure (max Fβ, β² = 0.3) and MAE computed with the evaluation code of Hou
et al. 2017 - salbench's ``r3net`` protocol.

Transcribed by hand from the paper's text (``seed/r3net-ijcai2018-paper.txt``),
whose table layout is garbled: each dataset's column is printed as a list of
values in row order. Where a column has fewer values than rows, the text does
not say which row is blank:

* Table 2, DUT-OMRON has 20 values for 21 methods. DHSNet was trained on
  DUT-OMRON images, and with its row blank the remaining values line up with
  NLDF's and UCF's own published DUT-OMRON numbers; DHSNet is left blank here.
* Table 2, HKU-IS has 20 values for 21 methods; the blank is one of DS, RFCN,
  DCL and DHSNet (rows 8-11), which share the three values 0.895/0.079,
  0.904/0.049 and 0.892/0.052 in that order. Since the text does not say which
  method lacks a value, none of those four HKU-IS entries is shipped (listed in
  :data:`UNPLACED`). All other rows align unambiguously (the first seven and
  the last nine rows are fixed by their position, and the R3Net row equals
  R3Net-6 of Table 1 in every column).

Method keys use salbench's registry spellings where a method exists here
(``mr``, ``wctr``, ``bsca``, ``dss+``, ``nldf+``, ``amulet+``, ``srm+``,
``r3net``, ``r3net-0`` ... ``r3net-v``); ``display`` keeps the paper's label.
"""

from __future__ import annotations

from dataclasses import dataclass

PAPER = "Deng et al., IJCAI 2018 (R3Net)"
PROTOCOL = "r3net"
DATASETS = ("ECSSD", "HKU-IS", "PASCAL-S", "SOD", "DUT-OMRON")


@dataclass(frozen=True)
class Claim:
    """One published number: paper, table, method (and its display name),
    dataset, protocol, metric and value."""
    paper: str
    table: str
    method: str
    display: str
    dataset: str
    protocol: str
    metric: str  # "max_f" or "mae"
    value: float


# method key | paper label | ECSSD F MAE | HKU-IS F MAE | PASCAL-S F MAE | SOD F MAE | DUT-OMRON F MAE
_TABLE2 = """
mr       | MR           | 0.736 0.189 | 0.715 0.174 | 0.666 0.223 | 0.619 0.273 | 0.610 0.187
wctr     | wCtr*        | 0.716 0.171 | 0.726 0.141 | 0.659 0.201 | 0.632 0.245 | 0.630 0.144
bsca     | BSCA         | 0.758 0.183 | 0.723 0.174 | 0.666 0.224 | 0.634 0.266 | 0.616 0.191
mc       | MC           | 0.822 0.106 | 0.798 0.102 | 0.740 0.145 | 0.688 0.197 | 0.703 0.088
legs     | LEGS         | 0.827 0.118 | 0.770 0.118 | 0.756 0.157 | 0.707 0.215 | 0.669 0.133
mdf      | MDF          | 0.831 0.108 | 0.860 0.129 | 0.759 0.142 | 0.785 0.155 | 0.694 0.092
eld      | ELD          | 0.867 0.080 | 0.844 0.071 | 0.771 0.121 | 0.760 0.154 | 0.719 0.091
ds       | DS           | 0.882 0.123 | - -         | 0.758 0.162 | 0.781 0.150 | 0.745 0.120
rfcn     | RFCN         | 0.898 0.097 | - -         | 0.827 0.118 | 0.805 0.161 | 0.747 0.095
dcl      | DCL          | 0.898 0.071 | - -         | 0.822 0.108 | 0.832 0.126 | 0.757 0.080
dhsnet   | DHSNet       | 0.907 0.059 | - -         | 0.827 0.096 | 0.823 0.127 | - -
nldf     | NLDF         | 0.905 0.063 | 0.902 0.048 | 0.831 0.099 | 0.810 0.143 | 0.753 0.080
ucf      | UCF          | 0.910 0.078 | 0.886 0.073 | 0.821 0.120 | 0.800 0.164 | 0.735 0.131
dss      | DSS          | 0.916 0.053 | 0.911 0.040 | 0.829 0.102 | 0.842 0.118 | 0.771 0.066
amulet   | Amulet       | 0.913 0.059 | 0.887 0.053 | 0.828 0.095 | 0.801 0.146 | 0.737 0.083
srm      | SRM          | 0.917 0.056 | 0.906 0.046 | 0.844 0.087 | 0.843 0.126 | 0.769 0.069
nldf+    | NLDF+        | 0.920 0.063 | 0.907 0.055 | 0.837 0.108 | 0.830 0.138 | 0.779 0.094
amulet+  | Amulet+      | 0.925 0.055 | 0.900 0.053 | 0.832 0.109 | 0.823 0.136 | 0.783 0.082
dss+     | DSS+         | 0.928 0.044 | 0.909 0.038 | 0.843 0.101 | 0.839 0.125 | 0.779 0.071
srm+     | SRM+         | 0.927 0.052 | 0.907 0.048 | 0.844 0.089 | 0.838 0.125 | 0.786 0.071
r3net    | R3Net        | 0.935 0.040 | 0.916 0.036 | 0.845 0.100 | 0.847 0.124 | 0.805 0.063
"""

_TABLE1 = """
r3net-0    | R3Net-0     | 0.918 0.049 | 0.900 0.044 | 0.831 0.101 | 0.816 0.128 | 0.769 0.079
r3net-1    | R3Net-1     | 0.926 0.044 | 0.910 0.038 | 0.841 0.100 | 0.833 0.125 | 0.783 0.073
r3net-2    | R3Net-2     | 0.931 0.043 | 0.911 0.038 | 0.844 0.104 | 0.836 0.127 | 0.787 0.073
r3net-3    | R3Net-3     | 0.934 0.041 | 0.915 0.036 | 0.847 0.100 | 0.841 0.123 | 0.794 0.066
r3net-4    | R3Net-4     | 0.932 0.042 | 0.912 0.038 | 0.843 0.102 | 0.841 0.125 | 0.782 0.073
r3net-5    | R3Net-5     | 0.933 0.042 | 0.913 0.037 | 0.845 0.100 | 0.841 0.122 | 0.791 0.069
r3net-6    | R3Net-6     | 0.935 0.040 | 0.916 0.036 | 0.845 0.100 | 0.847 0.124 | 0.805 0.063
r3net-7    | R3Net-7     | 0.934 0.040 | 0.914 0.036 | 0.848 0.096 | 0.842 0.121 | 0.804 0.063
r3net-wo-r | R3Net w/o r | 0.931 0.042 | 0.910 0.039 | 0.839 0.103 | 0.839 0.121 | 0.782 0.077
r3net-ws   | R3Net w s   | 0.933 0.041 | 0.914 0.037 | 0.841 0.102 | 0.842 0.122 | 0.794 0.070
r3net-ll   | R3Net-LL    | 0.932 0.041 | 0.910 0.038 | 0.844 0.100 | 0.839 0.125 | 0.778 0.080
r3net-hh   | R3Net-HH    | 0.926 0.046 | 0.902 0.042 | 0.836 0.101 | 0.819 0.128 | 0.786 0.071
r3net-d    | R3Net-D     | 0.928 0.046 | 0.907 0.042 | 0.829 0.112 | 0.847 0.127 | 0.793 0.067
r3net-v    | R3Net-V     | 0.913 0.049 | 0.891 0.047 | 0.814 0.105 | 0.818 0.121 | 0.746 0.089
"""

#: Table 2 HKU-IS values present in the text whose row is ambiguous (see module doc)
UNPLACED = {("table2", "HKU-IS"): [(0.895, 0.079), (0.904, 0.049), (0.892, 0.052)],
            "candidates": ["ds", "rfcn", "dcl", "dhsnet"]}

#: the row order of each table (method keys)
ORDER: dict[str, list[str]] = {}


def _parse(text: str, table: str) -> list[Claim]:
    out: list[Claim] = []
    ORDER[table] = []
    for line in text.strip().splitlines():
        cells = [c.strip() for c in line.split("|")]
        key, display, cols = cells[0], cells[1], cells[2:]
        assert len(cols) == len(DATASETS), line
        ORDER[table].append(key)
        for ds, col in zip(DATASETS, cols):
            f, mae = col.split()
            if f == "-":
                continue
            out.append(Claim(PAPER, table, key, display, ds, PROTOCOL, "max_f", float(f)))
            out.append(Claim(PAPER, table, key, display, ds, PROTOCOL, "mae", float(mae)))
    return out


CLAIMS: list[Claim] = _parse(_TABLE2, "table2") + _parse(_TABLE1, "table1")


def lookup(method: str, dataset: str, metric: str, table: str = "table2") -> float | None:
    """The shipped claim of a method on a dataset (None when the paper reports none)."""
    for c in CLAIMS:
        if (c.table == table and c.method == method.lower() and c.dataset == dataset
                and c.metric == metric):
            return c.value
    return None


# -- claims as data -------------------------------------------------------------------

#: columns of a claims file (CSV header / JSON record keys); ``table``,
#: ``display`` and ``protocol`` are optional (an empty protocol: not stated)
FIELDS = ("paper", "table", "method", "display", "dataset", "protocol", "metric", "value")


def records(claims: list[Claim] | None = None) -> list[dict]:
    """Claims as plain records (the claims-file format)."""
    return [{"paper": c.paper, "table": c.table, "method": c.method, "display": c.display,
             "dataset": c.dataset, "protocol": c.protocol, "metric": c.metric, "value": c.value}
            for c in (CLAIMS if claims is None else claims)]


def write_claims(path, claims: list[Claim] | None = None) -> None:
    """Write claims as CSV (``.csv``) or JSON (any other suffix)."""
    import csv
    import json
    from pathlib import Path
    path = Path(path)
    recs = records(claims)
    if path.suffix.lower() == ".csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS, lineterminator="\n")
            w.writeheader()
            w.writerows(recs)
    else:
        path.write_text(json.dumps(recs, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _metric_key(name: str) -> str:
    """A claims file's metric name as a summary key (``max_f``, ``mae``, ...)."""
    from salbench.report.layout import METRICS
    k = str(name).strip()
    if k in {v[0] for v in METRICS.values()}:
        return k
    norm = k.lower().replace("_", "").replace("-", "").replace(" ", "")
    norm = {"fbeta": "maxf", "f": "maxf", "fmeasure": "maxf", "maxfbeta": "maxf", "salpha": "s",
            "emeasure": "meane", "wfbeta": "wf"}.get(norm, norm)
    if norm not in METRICS:
        from salbench.errors import SalbenchError
        raise SalbenchError(f"claims: unknown metric {name!r} (use max_f, mae, mean_f, s_measure, "
                            f"weighted_f, mean_e, max_e, adp_f, adp_e or the report's spellings)")
    return METRICS[norm][0]


def load_claims(path) -> list[dict]:
    """Claims from a CSV (header: at least method, dataset, metric, value;
    optional paper, table, display, protocol) or JSON file (a list of such
    records, or ``{"paper": ..., "protocol": ..., "claims": [...]}`` whose
    top-level paper / protocol apply to every record). Metric names are
    normalised to summary keys (``maxF`` -> ``max_f``)."""
    import csv
    import json
    from pathlib import Path

    from salbench.errors import SalbenchError
    path = Path(path)
    if not path.is_file():
        raise SalbenchError(f"claims file {path} not found")
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            raw = list(csv.DictReader(f))
        defaults: dict = {}
    else:
        data = json.loads(path.read_text(encoding="utf-8"))
        defaults = {k: data.get(k) for k in ("paper", "protocol", "table")} if isinstance(data, dict) else {}
        raw = data.get("claims", []) if isinstance(data, dict) else data
    out = []
    for i, r in enumerate(raw):
        r = {k: (v.strip() if isinstance(v, str) else v) for k, v in r.items() if k}
        missing = [k for k in ("method", "dataset", "metric", "value") if r.get(k) in (None, "")]
        if missing:
            raise SalbenchError(f"{path}: record {i + 1} lacks {', '.join(missing)}")
        try:
            value = float(r["value"])
        except ValueError:
            raise SalbenchError(f"{path}: record {i + 1}: value {r['value']!r} is not a number") from None
        out.append({"paper": r.get("paper") or defaults.get("paper") or path.stem,
                    "table": r.get("table") or defaults.get("table") or "",
                    "method": str(r["method"]), "display": r.get("display") or str(r["method"]),
                    "dataset": str(r["dataset"]),
                    "protocol": r.get("protocol") or defaults.get("protocol") or "",
                    "metric": _metric_key(r["metric"]), "value": value})
    return out
