"""Import `cleverward.*` straight from a source checkout, with no pip install.

    python benchmarks/gpu_check.py          # calls install() before importing cleverward

The distribution maps top-level folders into one namespace (engine/ -> cleverward.engine, ...:
pyproject's package-dir). install() builds that namespace in sys.modules: a `cleverward` package
module whose subpackages are loaded from those folders, so every `from cleverward.engine ...`
import resolves to the checkout. Nothing is written to disk; an installed cleverward, if any, is
shadowed for this process only. For machines where no venv can be built (a bare GPU box).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"engine": "engine", "kernels": "kernels", "train": "train", "cli": "cli",
           "benchmarks": "benchmarks"}


def install(root: Path = ROOT) -> None:
    """Make `cleverward.<name>` import from `root/<folder>` (idempotent)."""
    pkg = sys.modules.get("cleverward")
    if pkg is not None and getattr(pkg, "__cleverward_source__", None) == str(root):
        return
    pkg = types.ModuleType("cleverward")
    pkg.__path__ = []  # a package with no files of its own: subpackages are registered below
    pkg.__cleverward_source__ = str(root)
    sys.modules["cleverward"] = pkg
    for name, folder in FOLDERS.items():
        init = root / folder / "__init__.py"
        spec = importlib.util.spec_from_file_location(
            f"cleverward.{name}", init, submodule_search_locations=[str(root / folder)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        setattr(pkg, name, module)
        spec.loader.exec_module(module)
