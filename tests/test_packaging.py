"""Packaging: every package of the source tree is listed in pyproject.toml's
``[tool.setuptools] packages``. The list is explicit, so a sub-package left out
of it works in an editable install (the checkout is on the path) and is silently
missing from a normal ``pip install .`` / wheel."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]


def _setuptools() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def _package_roots() -> dict[str, Path]:
    """Top-level package name -> its folder: ``salbench`` and the ``package-dir``
    mappings (``salbench_methods`` -> ``methods/``)."""
    roots = {"salbench": REPO / "salbench"}
    for name, folder in _setuptools().get("package-dir", {}).items():
        if name:
            roots[name] = REPO / folder
    return roots


def _packages_on_disk(name: str, root: Path) -> set[str]:
    """Dotted names of ``root`` and of every folder under it holding an ``__init__.py``."""
    return {".".join((name, *init.parent.relative_to(root).parts))
            for init in root.rglob("__init__.py") if "__pycache__" not in init.parts}


def test_every_salbench_package_is_listed_in_pyproject():
    listed = set(_setuptools()["packages"])
    on_disk = _packages_on_disk("salbench", REPO / "salbench")
    assert "salbench" in on_disk and len(on_disk) > 5
    missing = sorted(on_disk - listed)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_mapped_packages_are_listed_and_every_listed_package_exists():
    listed = set(_setuptools()["packages"])
    roots = _package_roots()
    for name, root in roots.items():
        missing = sorted(_packages_on_disk(name, root) - listed)
        assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
    for pkg in listed:
        top, *rest = pkg.split(".")
        assert top in roots, f"{pkg}: no folder for its top-level package"
        assert (roots[top].joinpath(*rest) / "__init__.py").is_file(), f"{pkg} is listed but has no __init__.py"


def test_no_module_folder_without_init():
    """A folder of modules under salbench/ without ``__init__.py`` is a namespace
    package: not found by the packages list either, so it would be dropped too."""
    for name, root in _package_roots().items():
        for folder in [root, *(p for p in root.rglob("*") if p.is_dir() and "__pycache__" not in p.parts)]:
            if any(folder.glob("*.py")):
                assert (folder / "__init__.py").is_file(), f"{folder.relative_to(REPO)} has modules but no __init__.py"
