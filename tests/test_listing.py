"""``salbench list``: methods (kind, paper, params and GMACs without weights),
protocols, datasets; a plugin that fails to load is a warning, not a crash."""

from __future__ import annotations

import argparse
import json
import textwrap
from importlib.metadata import EntryPoint

import pytest

from salbench.commands import list as listing
from salbench.plugins.catalog import method_cost
from salbench.plugins import registry

from helpers import cli

TINY = textwrap.dedent('''
    import torch
    from torch import nn
    from salbench.plugins.registry import Method, register_method


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)      # 3*8*9 + 8 = 224 params
            self.head = nn.Conv2d(8, 1, 1)                 # 8 + 1 = 9 params
            self.classifier = nn.Linear(8, 1000)           # excluded from the count


    @register_method
    class TinyLearned(Method):
        """A tiny network: its cost is known by hand."""
        name = "tiny-learned"
        paper = "a test plugin"
        kind = "learned"
        needs_weights = True

        def count_params(self):
            net = Net()
            return sum(p.numel() for n, p in net.named_parameters() if not n.startswith("classifier"))

        def gmacs(self, size=(300, 300)):
            h, w = size
            x = torch.zeros(1, 3, h, w)        # built on whatever device is current (meta in listings)
            net = Net()
            y = net.conv(x)
            z = net.head(y)
            return (y.numel() * 3 * 9 + z.numel() * 8) / 1e9
''')


@pytest.mark.slow
def test_methods_json_lists_kinds_and_plugins(tmp_path):
    p = tmp_path / "tiny.py"
    p.write_text(TINY)
    r = cli("list", "methods", "--json", "--no-cost", "--plugin", p)
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert {"maps", "tiny-learned"} <= set(rows)
    assert rows["maps"]["kind"] == "precomputed" and rows["maps"]["params"] is None
    assert rows["maps"]["gmacs"] is None and rows["tiny-learned"]["kind"] == "learned"
    for row in rows.values():
        assert {"name", "kind", "paper", "params", "gmacs"} <= set(row)
    text = cli("list", "methods", "--no-cost", "--plugin", p)
    assert text.returncode == 0 and "tiny-learned" in text.stdout and "precomputed" in text.stdout


def test_method_cost_without_weights(tmp_path):
    p = tmp_path / "tiny_cost.py"
    p.write_text(TINY.replace("tiny-learned", "tiny-cost"))
    registry.load_plugin(p)
    params, gmacs = method_cost(registry.get_spec("tiny-cost"))
    assert params == 224 + 9
    assert gmacs == pytest.approx((300 * 300 * 8 * 27 + 300 * 300 * 8) / 1e9)
    assert method_cost(registry.get_spec("maps")) == (None, None)


def test_broken_plugin_is_a_warning(monkeypatch, capsys):
    eps = dict(registry._entry_points())
    eps["broken-test"] = EntryPoint("broken-test", "salbench_no_such_module:Thing", "salbench.methods")
    monkeypatch.setattr(registry, "_ENTRY_POINTS", eps)
    rc = listing.main(argparse.Namespace(what="methods", json=True, plugin=None, no_cost=True))
    out, err = capsys.readouterr()
    assert rc == 0 and "warning" in err and "broken-test" in err
    names = [r["name"] for r in json.loads(out)]
    assert "maps" in names and "broken-test" not in names


def test_protocols_and_datasets():
    r = cli("list", "protocols", "--json")
    assert r.returncode == 0
    protos = {row["name"]: row for row in json.loads(r.stdout)}
    assert set(protos) >= {"pysodmetrics", "r3net"} and protos["pysodmetrics"]["default"] is True
    r = cli("list", "datasets", "--json")
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["DUT-OMRON"]["count"] == 5168 and rows["demo-train"]["role"] == "train"
    assert len(rows) == 10
