"""`cleverward info`'s report: versions, devices, the install profile, backends, decoders,
faiss, and what the reward head runs on (derived from a real tensor on the run's device)."""

from __future__ import annotations

import os
import platform

from cleverward.engine.capabilities import backend_status, decoder_status
from cleverward.engine.environment import (
    cuda_available,
    default_cache_dir,
    install_profile,
    version,
)


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
        "frame encoder": frame_encoder_precision(weight.device),
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


def frame_encoder_precision(device) -> str:
    """What the default frame network (MobileNetV2) can run in on the run's device."""
    if device.type == "cuda":
        return (f"MobileNetV2 on {device}: fp32 (the default), or fp16 / bf16 with channels_last "
                "when the encoder spec says precision=fp16 or precision=bf16")
    return (f"MobileNetV2 on {device}: fp32; precision=fp16 / bf16 in the encoder spec is "
            "refused here (CUDA only)")
