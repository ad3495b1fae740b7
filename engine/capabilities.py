"""What this machine can run, with reasons: the one place that answers "can backend X / decoder
Y run here?" (`backend_status`, `decoder_status`); `score-dir --backend auto` and `cleverward
info` both ask it.
"""

from __future__ import annotations

from cleverward.engine.environment import cuda_available, default_device, has_module, version


def backend_status() -> dict[str, tuple[bool, str]]:
    """backend -> (usable here, why / what it runs on)."""
    out = {"torch": (True, f"PyTorch on {default_device()}")}
    if has_module("onnxruntime"):
        import onnxruntime as ort

        from cleverward.engine.ort_providers import probe_bound

        device = default_device()
        out["onnx"] = (True, f"ONNX Runtime on {device} binds {probe_bound(str(device))} "
                             f"(this build has: {', '.join(ort.get_available_providers())})")
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
