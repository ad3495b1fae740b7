"""engine/ort_providers.py: the execution providers an ORT session asks for on the run's device
(a pure function of the build's provider list), and reports that name what ORT bound."""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch

from cleverward.engine.ort_providers import (
    CPU_EP,
    CUDA_EP,
    TENSORRT_EP,
    bound_text,
    probe_bound,
    provider_list,
)

GPU_BUILD = [TENSORRT_EP, CUDA_EP, CPU_EP]


def test_a_gpu_run_asks_for_its_gpu_by_device_id():
    got = provider_list(GPU_BUILD, torch.device("cuda", 1), trt_cache="/cache/trt")
    assert [p if isinstance(p, str) else p[0] for p in got] == GPU_BUILD
    assert got[0][1]["device_id"] == 1 and got[0][1]["trt_engine_cache_path"] == "/cache/trt"
    assert got[1] == (CUDA_EP, {"device_id": 1})
    assert provider_list([CUDA_EP, CPU_EP], "cuda:3") == [(CUDA_EP, {"device_id": 3}), CPU_EP]
    assert provider_list([CUDA_EP, CPU_EP], "cuda")[0] == (CUDA_EP, {"device_id": 0})


def test_a_cpu_run_or_a_cpu_build_asks_for_the_cpu_provider_alone():
    assert provider_list(GPU_BUILD, torch.device("cpu")) == [CPU_EP]
    assert provider_list([CPU_EP], torch.device("cuda", 0)) == [CPU_EP]


def _identity_onnx(path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # opset 17's IR
    onnx.save(model, str(path))
    return path


@pytest.mark.skipif(CUDA_EP in ort.get_available_providers(), reason="a CPU-only ORT build")
def test_with_only_the_cpu_provider_the_reports_say_cpu(tmp_path):
    """A real session from the runtime's own builder, and the backend reports, on this CPU
    build: ORT bound the CPU provider and the reports say exactly that."""
    import numpy as np

    from cleverward.engine.backends import choose_backend
    from cleverward.engine.capabilities import backend_status
    from cleverward.engine.runtime import ort_session

    session = ort_session(_identity_onnx(tmp_path / "relu.onnx"), device="cpu")
    assert session.get_providers() == [CPU_EP]
    assert bound_text(session) == CPU_EP
    (y,) = session.run(None, {"x": np.array([-1.0, 2.0], np.float32)})
    assert y.tolist() == [0.0, 2.0]
    assert probe_bound("cpu") == CPU_EP
    ok, why = backend_status()["onnx"]
    assert ok and why.startswith(f"ONNX Runtime on cpu binds {CPU_EP}")
    backend, why = choose_backend("onnx", device=torch.device("cpu"))
    assert backend == "onnx" and why == f"ONNX Runtime on cpu binds {CPU_EP}"
    assert "CUDA" not in why and "Tensorrt" not in why
    backend, why = choose_backend("auto", device=torch.device("cpu"))
    assert (f"ORT binds {CPU_EP}" in why) == (backend == "onnx"), why


@pytest.mark.gpu
@pytest.mark.skipif(CUDA_EP not in ort.get_available_providers() or not torch.cuda.is_available(),
                    reason="needs onnxruntime-gpu and a CUDA device")
def test_on_cuda_the_session_binds_the_runs_gpu(tmp_path):
    from cleverward.engine.runtime import ort_session

    index = torch.cuda.device_count() - 1
    session = ort_session(_identity_onnx(tmp_path / "relu.onnx"), device=f"cuda:{index}")
    bound = session.get_providers()
    assert CUDA_EP in bound
    if bound[0] == CUDA_EP:
        assert bound_text(session) == f"{CUDA_EP} (device {index})"
