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


def backend_status() -> dict[str, tuple[bool, str]]:
    """backend -> (usable here, why / what it runs on)."""
    out = {"torch": (True, f"PyTorch on {default_device()}")}
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
    from cleverward.engine.backends import choose_backend, head_weight
    from cleverward.kernels.fused_reward import head_path

    libs = ["torch", "transformers", "onnxruntime", "onnxruntime-gpu", "onnx", "faiss-cpu",
            "faiss-gpu-cu12", "av", "nvidia-dali-cuda120", "tensorrt", "tensorrt-cu12", "triton",
            "deepspeed", "numpy", "typer"]
    backends = backend_status()
    decoders = decoder_status()
    profile, profile_why = install_profile()
    weight = head_weight()  # a real tensor on the run's device: what the head would run on
    return {
        "cleverward": {"version": version("cleverward"), "python": platform.python_version(),
                       "machine": f"{platform.system()} {platform.machine()}, "
                                  f"{os.cpu_count()} cpus"},
        "libraries": {name: version(name) or "not installed" for name in libs},
        "devices": {"cuda": cuda_available(), "run device": str(weight.device),
                    "profile": f"{profile}: {profile_why}"},
        "backends": {k: ("yes: " if ok else "no: ") + why for k, (ok, why) in backends.items()},
        "backend auto": choose_backend("auto")[1],
        "decoders": {k: ("yes: " if ok else "no: ") + why for k, (ok, why) in decoders.items()},
        "faiss": faiss_device.describe(),
        "cache": {"location": str(default_cache_dir())},
        "head": head_path(weight),
        # Machine-readable: the same verdicts as booleans (issue 13).
        "available": {
            "cuda": cuda_available(), "profile": profile,
            "triton_head": head_path(weight).startswith("fused Triton"),
            "faiss_gpu": faiss_device.faiss_status()[0] == "gpu",
            "faiss": faiss_device.faiss_status()[0] != "none",
            **{f"backend_{k}": ok for k, (ok, _) in backends.items()},
            **{f"decoder_{k}": ok for k, (ok, _) in decoders.items()},
        },
    }
