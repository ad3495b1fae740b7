"""Every module imports; dependencies point one way: cli -> train -> engine -> kernels."""

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"engine": "cleverward.engine", "kernels": "cleverward.kernels",
           "train": "cleverward.train", "cli": "cleverward.cli"}
FORBIDDEN = {"kernels": ("cleverward.engine", "cleverward.train", "cleverward.cli"),
             "engine": ("cleverward.train", "cleverward.cli"),
             "train": ("cleverward.cli",)}


def _modules():
    for package in FOLDERS.values():
        pkg = importlib.import_module(package)
        yield package
        for info in pkgutil.walk_packages(pkg.__path__, package + "."):
            yield info.name


@pytest.mark.parametrize("name", sorted(set(_modules())))
def test_every_module_imports(name):
    importlib.import_module(name)


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_dependencies_point_one_way(folder):
    bad = []
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            bad += [f"{path.relative_to(ROOT)}: {n}" for n in names
                    if n.startswith(FORBIDDEN[folder])]
    assert not bad, bad
