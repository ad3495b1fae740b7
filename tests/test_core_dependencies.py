"""Core dependencies fail the suite; they never turn into skips.

A broken install of triton, deepspeed, transformers, faiss, onnxruntime or PyAV must make
`make test` red, not quietly skip the tests that need it. The test files that use them import
them at module level, so a failing import is a collection error (pytest exit status 2). Only the
truly optional parts skip, each with its reason: TensorRT (not installable here), CUDA devices,
DALI's GPU path, peft (the `lora` extra).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
CORE = {  # dependency -> a test file that must fail to collect without it
    "triton": "tests/kernels/test_fused_reward.py",
    "deepspeed": "tests/train/test_unfrozen.py",
    "transformers": "tests/engine/test_hf_encoders.py",
    "faiss": "tests/engine/test_video_index.py",
    "onnxruntime": "tests/engine/test_onnx_export.py",
    "av": "tests/engine/test_decode_skip.py",
}
OPTIONAL = {"tensorrt", "nvidia.dali", "peft", "skvideo"}


def _broken_installs(tmp_path: Path, modules) -> dict:
    """An environment where `import m` raises ModuleNotFoundError for each m, as when the wheel
    is missing (the error pytest.importorskip turns into a skip)."""
    for module in modules:
        fake = tmp_path / "broken" / module
        fake.mkdir(parents=True)
        (fake / "__init__.py").write_text(
            f"raise ModuleNotFoundError('{module} is broken (test)', name={module!r})\n")
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "broken"), *sys.path]))


@pytest.mark.slow
def test_a_broken_core_dependency_fails_the_run(tmp_path):
    """`make test`'s own selection over the files that need them, with every core dependency
    broken at once (one interpreter, to keep it quick): exit status 2 (collection errors), each
    file's error naming its module, and nothing reported as skipped."""
    env = _broken_installs(tmp_path, CORE)
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "not gpu", "--co",
                          "-p", "no:cacheprovider", *CORE.values()], cwd=TESTS.parent, env=env,
                         capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 2, out[-2000:]
    for module, test_file in CORE.items():
        assert f"ERROR {test_file}" in out, out[-2000:]
        assert f"{module} is broken (test)" in out, module
    assert "skipped" not in out


def _skip_guards(tree: ast.AST):
    """Module names given to pytest.importorskip(...) anywhere in a test file."""
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "importorskip" and node.args
                and isinstance(node.args[0], ast.Constant)):
            yield node.args[0].value


def test_only_optional_parts_are_import_guarded():
    guarded = {}
    for path in TESTS.rglob("*.py"):
        for name in _skip_guards(ast.parse(path.read_text())):
            guarded.setdefault(name, []).append(path.relative_to(TESTS).as_posix())
    not_optional = {m: files for m, files in guarded.items()
                    if not any(m == o or m.startswith(o + ".") for o in OPTIONAL)}
    assert not not_optional, f"core dependencies behind importorskip: {not_optional}"
