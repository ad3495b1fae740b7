"""The built wheel holds every subpackage, every packaged asset, and the console script."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"cleverward": "cleverward", "engine": "cleverward/engine",
           "kernels": "cleverward/kernels", "train": "cleverward/train", "cli": "cleverward/cli"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(ROOT)],
        check=True, capture_output=True,
    )
    (path,) = out.glob("cleverward-*.whl")
    return zipfile.ZipFile(path)


@pytest.mark.slow
def test_wheel_holds_every_module_and_asset(wheel):
    names = set(wheel.namelist())
    expected = []
    for folder, prefix in FOLDERS.items():
        for path in (ROOT / folder).rglob("*"):
            if "__pycache__" in path.parts or path.is_dir() or path.suffix == ".pyc":
                continue
            expected.append(f"{prefix}/{path.relative_to(ROOT / folder).as_posix()}")
    missing = sorted(set(expected) - names)
    assert not missing, f"not in the wheel: {missing}"
    assert "cleverward/engine/assets/default/model.safetensors" in names


@pytest.mark.slow
def test_wheel_declares_the_console_script(wheel):
    (entry,) = [n for n in wheel.namelist() if n.endswith("entry_points.txt")]
    assert "cleverward = cleverward.cli.app:main" in wheel.read(entry).decode()
