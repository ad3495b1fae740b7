"""What this machine can run: library versions, devices, backends and decoders, with reasons.

The one place that answers "can backend X / decoder Y run here?" (`backend_status`,
`decoder_status`); `score-dir --backend auto` and `cleverward info` both ask it.
"""

from __future__ import annotations

import importlib.util
import os
import platform
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


def default_cache_dir() -> Path:
    base = os.environ.get("CLEVERWARD_CACHE") or os.environ.get("XDG_CACHE_HOME")
    if os.environ.get("CLEVERWARD_CACHE"):
        return Path(base).expanduser()
    return Path(base or Path.home() / ".cache").expanduser() / "cleverward"


def backend_status() -> dict[str, tuple[bool, str]]:
    """backend -> (usable here, why / what it runs on)."""
    out = {"torch": (True, "PyTorch on " + ("CUDA" if cuda_available() else "CPU"))}
    if has_module("onnxruntime"):
        import onnxruntime as ort

        out["onnx"] = (True, "ONNX Runtime providers: " + ", ".join(ort.get_available_providers()))
    else:
        out["onnx"] = (False, "onnxruntime is not installed")
    from cleverward.engine.export.tensorrt_build import tensorrt_status

    out["tensorrt"] = tensorrt_status()  # installed, imports, >= 10, a CUDA device; else why not
    return out


def decoder_status() -> dict[str, tuple[bool, str]]:
    from cleverward.engine.decode.dali_decoder import dali_installed

    out = {"pyav": (True, f"FFmpeg via PyAV {version('av')}: every codec, CPU")}
    if not dali_installed():  # has_module("nvidia.dali") raises when no nvidia.* is installed
        out["dali"] = (False, "nvidia-dali is not installed (pip install cleverward[dali])")
    elif cuda_available():
        out["dali"] = (True, "DALI mixed backend (NVDEC): H.264, HEVC, VP8, VP9, AV1, MJPEG")
    else:
        out["dali"] = (True, "DALI CPU backend: VP8, VP9, MJPEG only (others fall back to PyAV)")
    return out


def describe() -> dict:
    from cleverward.engine import faiss_device
    from cleverward.engine.backends import choose_backend

    libs = ["torch", "transformers", "onnxruntime", "onnx", "faiss-cpu", "faiss-gpu", "av",
            "nvidia-dali-cuda120", "tensorrt", "triton", "deepspeed", "numpy", "typer"]
    backends = backend_status()
    decoders = decoder_status()
    return {
        "cleverward": {"version": version("cleverward"), "python": platform.python_version(),
                       "machine": f"{platform.system()} {platform.machine()}, "
                                  f"{os.cpu_count()} cpus"},
        "libraries": {name: version(name) or "not installed" for name in libs},
        "devices": {"cuda": cuda_available(),
                    "profile": "gpu" if version("faiss-gpu") or version("tensorrt") else "cpu"},
        "backends": {k: ("yes: " if ok else "no: ") + why for k, (ok, why) in backends.items()},
        "backend auto": choose_backend("auto")[1],
        "decoders": {k: ("yes: " if ok else "no: ") + why for k, (ok, why) in decoders.items()},
        "faiss": faiss_device.describe(),
        "cache": {"location": str(default_cache_dir())},
    }
