"""Which ONNX Runtime execution providers a session asks for on the run's device, and which one
it actually bound.

    providers = provider_list(ort.get_available_providers(), torch.device("cuda", 1))
    # [("TensorrtExecutionProvider", {"device_id": 1, ...}),   only where the build lists it
    #  ("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    bound_text(session)   # "CUDAExecutionProvider (device 1)": session.get_providers()[0]

Only a cuda:N run asks for the GPU providers, and only those this onnxruntime build lists
(onnxruntime-gpu; the CPU build lists CPUExecutionProvider alone). ORT falls back to the CPU
provider by itself when a GPU provider cannot start (a missing CUDA library), so reports name
the provider the session bound (`session.get_providers()`), never the one asked for.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

CPU_EP = "CPUExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
TENSORRT_EP = "TensorrtExecutionProvider"
PROBE_IR = 8  # the ONNX IR version of opset 17


def provider_list(available: list[str], device, trt_cache: str | Path | None = None) -> list:
    """The providers argument of ort.InferenceSession for `device` (a torch.device or its text):
    on cuda:N, TensorRT EP then CUDA EP with device_id N where `available` lists them; the CPU
    provider always last. Any other device: the CPU provider alone."""
    text = str(device)
    kind, _, index = text.partition(":")
    providers: list = []
    if kind == "cuda":
        device_id = int(index) if index else 0
        if TENSORRT_EP in available:
            options: dict = {"device_id": device_id}
            if trt_cache is not None:
                options.update(trt_engine_cache_enable=True,
                               trt_engine_cache_path=str(trt_cache),
                               trt_timing_cache_enable=True,
                               trt_timing_cache_path=str(trt_cache))
            providers.append((TENSORRT_EP, options))
        if CUDA_EP in available:
            providers.append((CUDA_EP, {"device_id": device_id}))
    providers.append(CPU_EP)
    return providers


def session_providers(device) -> list:
    """provider_list for this onnxruntime build, TensorRT EP engines cached under the cache."""
    import onnxruntime as ort

    from cleverward.engine.environment import default_cache_dir

    return provider_list(ort.get_available_providers(), device,
                         default_cache_dir() / "ort-tensorrt")


def bound_text(session) -> str:
    """The provider `session` runs its graph on first (ORT's own answer), with its GPU."""
    bound = session.get_providers()
    first = bound[0] if bound else CPU_EP
    if first == CPU_EP:
        return first
    options = session.get_provider_options().get(first, {})
    return f"{first} (device {options.get('device_id', '0')})"


@cache
def probe_bound(device_text: str) -> str:
    """What a session of this build binds on `device_text`: a one-node graph (Identity) opened
    with the providers a run on that device asks for. Cached per device."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = PROBE_IR  # what opset 17 needs, not the installed onnx's newest
    onnx.checker.check_model(model)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(model.SerializeToString(), opts,
                                       providers=session_providers(device_text))
    except Exception as exc:  # noqa: BLE001 - reported: no session opens on this build
        return f"no session (onnxruntime could not open a one-node graph: {exc})"
    return bound_text(session)
