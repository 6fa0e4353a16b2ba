"""The method registry: decorator, variants, entry points (lazy), user-named plugins."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from salbench.plugins import registry
from salbench.plugins.options import OptionError
from salbench.plugins.registry import Method, MethodNotReady, RegistryError, register_method


class _Const(Method):
    """A constant map (test-only)."""

    name = "test-const"
    paper = "nobody"
    default_options = {"value": 128, "scale": 1.0}

    def predict(self, images, names):
        return [np.full(im.shape[:2], int(self.options["value"] * self.options["scale"]), np.uint8)
                for im in images]


register_method(_Const)
register_method(_Const, name="test-const-dark", value=10)


def test_register_and_create_with_options():
    m = registry.create("test-const")
    assert m.name == "test-const" and m.options == {"value": 128, "scale": 1.0}
    out = m.predict([np.zeros((5, 7, 3), np.uint8)], ["a"])
    assert out[0].shape == (5, 7) and out[0].dtype == np.uint8 and int(out[0][0, 0]) == 128
    m2 = registry.create("test-const", value=200, device="cpu")
    assert m2.predict([np.zeros((2, 2, 3), np.uint8)], ["a"])[0][0, 0] == 200


def test_variant_has_own_name_and_defaults():
    v = registry.create("TEST-CONST-DARK")  # case-insensitive
    assert v.name == "test-const-dark"
    assert v.family == "test-const"
    assert v.options["value"] == 10
    assert isinstance(v, _Const)
    # the base keeps its own defaults
    assert registry.create("test-const").options["value"] == 128


def test_unknown_option_and_unknown_method_are_clear():
    with pytest.raises(OptionError, match="has no option 'colour'; valid options: value"):
        registry.create("test-const", colour="red")
    with pytest.raises(OptionError, match="has no option 'colour'"):
        register_method(_Const, name="test-bad", colour="red")
    with pytest.raises(OptionError, match="value=x is not a valid int"):
        registry.create("test-const", value="x")
    with pytest.raises(RegistryError, match="unknown method 'nope'.*known:"):
        registry.get_spec("nope")
    with pytest.raises(TypeError):
        register_method(int)  # not a Method


def test_builtin_methods_are_declared_as_entry_points_without_importing():
    names = registry.available()
    for n in ("maps", "r3net", "dss+", "nldf+", "amulet+", "srm+", "mr", "wctr", "bsca"):
        assert n in names
    # nothing heavy imported just by listing names
    code = ("import sys, salbench.plugins.registry as r; r.available(); "
            "print('torch' in sys.modules, 'numba' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_plugin_file_named_by_user(tmp_path):
    plugin = tmp_path / "my_plugin.py"
    plugin.write_text(textwrap.dedent('''
        import numpy as np
        from salbench.plugins.registry import Method, register_method

        @register_method
        class Centre(Method):
            """centre prior"""
            name = "test-centre"
            paper = "test"
            def predict(self, images, names):
                out = []
                for im in images:
                    h, w = im.shape[:2]
                    yy, xx = np.mgrid[0:h, 0:w]
                    d = ((yy - h / 2) / h) ** 2 + ((xx - w / 2) / w) ** 2
                    out.append((255 * np.exp(-d * 8)).astype(np.uint8))
                return out
    '''))
    added = registry.load_plugin(plugin)
    assert added == ["test-centre"]
    assert registry.load_plugin(str(plugin)) == ["test-centre"]  # a second load is a no-op
    m = registry.create("test-centre")
    sal = m.predict([np.zeros((30, 40, 3), np.uint8)], ["x"])[0]
    assert sal.shape == (30, 40) and sal[15, 20] > sal[0, 0]


def test_plugin_errors_name_the_file(tmp_path):
    with pytest.raises(RegistryError, match="does not exist"):
        registry.load_plugin(tmp_path / "missing.py")
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(RegistryError, match="broken.py failed to import: RuntimeError: boom"):
        registry.load_plugin(broken)
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(RegistryError, match="registered no method"):
        registry.load_plugin(empty)


def test_method_not_ready_is_a_user_error():
    from salbench.errors import SalbenchError
    assert issubclass(MethodNotReady, SalbenchError)
    assert issubclass(RegistryError, SalbenchError)


def test_cli_help_and_unknown_command():
    from salbench.cli import main
    assert main(["--version"]) == 0
    assert main(["--help"]) == 0
    with pytest.raises(SystemExit):
        main(["frobnicate"])
