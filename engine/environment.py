"""Facts about this process's machine: library versions, CUDA, the run's default device, the
install profile and the cache location.

A leaf: it imports no other engine module, so every module may ask it (what each backend or
decoder can do is engine/capabilities.py; the `info` report is engine/machine_report.py).
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from importlib import metadata
from pathlib import Path


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


@cache
def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def default_device():
    """The device a run uses by default: the GPU of LOCAL_RANK where CUDA is present, else CPU."""
    import torch

    if not cuda_available():
        return torch.device("cpu")
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())


def install_profile() -> tuple[str, str]:
    """("cpu" | "gpu" | "mixed" | "incomplete", why): which builds of faiss and onnxruntime are
    installed (pyproject's `cpu` / `gpu` extras; both in one environment shadow each other)."""
    cpu = [d for d in ("faiss-cpu", "onnxruntime") if version(d)]
    gpu = [d for d in ("faiss-gpu-cu12", "faiss-gpu", "onnxruntime-gpu") if version(d)]
    if cpu and gpu:
        return "mixed", (f"CPU builds {cpu} beside GPU builds {gpu}: one shadows the other; "
                         "reinstall one profile (make install / make install-gpu)")
    if gpu:
        return "gpu", "GPU builds: " + ", ".join(f"{d} {version(d)}" for d in gpu)
    if cpu:
        return "cpu", "CPU builds: " + ", ".join(f"{d} {version(d)}" for d in cpu)
    return "incomplete", ("neither faiss nor onnxruntime is installed "
                          "(pip install 'cleverward[cpu]')")


def default_cache_dir() -> Path:
    base = os.environ.get("CLEVERWARD_CACHE") or os.environ.get("XDG_CACHE_HOME")
    if os.environ.get("CLEVERWARD_CACHE"):
        return Path(base).expanduser()
    return Path(base or Path.home() / ".cache").expanduser() / "cleverward"
