"""The check every new TensorRT engine passes before first use, run here with a real ONNX
Runtime session and the torch head as the engine stand-in (TensorRT itself is GPU-only); and the
profile maxima sized to what the callers send."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cleverward.engine.export.onnx_export import export_head
from cleverward.engine.export.tensorrt_build import (
    TensorRTConfig,
    TensorRTError,
    calibration_feeds,
    check_against_onnx,
    profile_shapes,
)
from cleverward.engine.reward_head import RewardHead, RewardHeadConfig


@pytest.fixture(scope="module")
def head_export(tmp_path_factory):
    torch.manual_seed(1)
    head = RewardHead(RewardHeadConfig(video_dim=21, text_dim=13, embed_dim=16)).eval()
    with torch.no_grad():
        head.video_offsets.normal_()
        head.text_offsets.normal_()
    folder = tmp_path_factory.mktemp("trt-check")
    comp = export_head(head, folder)
    return head, folder / comp.file, comp


def _torch_run(head):
    def run(feeds):
        with torch.no_grad():
            out = head(torch.from_numpy(feeds["video"]), torch.from_numpy(feeds["text"]))
        return {"rewards": out.numpy()}

    return run


def test_calibration_feeds_follow_the_manifest(head_export):
    _, _, comp = head_export
    feeds = calibration_feeds(comp)
    assert feeds["video"].shape == (4, 21) and feeds["text"].shape == (3, 13)
    assert feeds["video"].dtype == np.float32
    assert np.array_equal(feeds["video"], calibration_feeds(comp)["video"])  # deterministic


def test_a_faithful_engine_passes_with_its_error(head_export):
    head, path, comp = head_export
    err = check_against_onnx(_torch_run(head), path, comp, "fp32", "head.engine")
    assert err < 1e-5  # torch and ORT agree to ~1e-7 on this graph


def test_an_engine_off_by_a_hundredth_passes_fp16_and_fails_fp32(head_export):
    head, path, comp = head_export
    run = _torch_run(head)

    def off(feeds):
        return {"rewards": run(feeds)["rewards"] + 0.01}

    assert check_against_onnx(off, path, comp, "fp16", "head.engine") == pytest.approx(0.01,
                                                                                        abs=1e-5)
    with pytest.raises(TensorRTError, match=r"head.engine: output rewards differs from ONNX "
                                            r"Runtime by 0.01 > 0.001 \(fp32\)"):
        check_against_onnx(off, path, comp, "fp32", "head.engine")


def test_nan_output_fails(head_export):
    head, path, comp = head_export

    def nan(feeds):
        out = _torch_run(head)(feeds)["rewards"]
        out[0, 0, 0] = np.nan
        return {"rewards": out}

    with pytest.raises(TensorRTError, match="differs from ONNX Runtime by nan"):
        check_against_onnx(nan, path, comp, "fp16", "head.engine")


def test_profiles_are_sized_to_the_callers_batches(head_export):
    from cleverward.engine.export.manifest import Component, TensorSpec

    _, _, head_comp = head_export
    text = Component.from_dict({**head_comp.to_dict(), "name": "text_encoder",
                                "inputs": [{"name": "input_ids", "dtype": "int64",
                                            "shape": ["batch", "seq"]}],
                                "extra": {"max_length": 256}})
    assert isinstance(text.inputs[0], TensorSpec)
    shapes = profile_shapes(text, TensorRTConfig())
    assert shapes["input_ids"] == [(1, 1), (32, 32), (64, 256)]  # 64 texts a call, not 4096
    head = profile_shapes(head_comp, TensorRTConfig())
    assert head["video"][2] == (4096, 21)
    explicit = TensorRTConfig(ranges={"batch": (1, 8, 128), "seq": (1, 8, 64)})
    # The caller's batch range; seq always reaches the tokenizer's max_length (it may send it).
    assert profile_shapes(text, explicit)["input_ids"][2] == (128, 256)


def test_the_fp16_graph_for_tensorrt_11_keeps_the_interface_and_the_values(head_export,
                                                                            tmp_path):
    """fp16_onnx: fp16 weights inside, fp32 in and out, type-checked; ORT runs it within the
    fp16 tolerance of the fp32 graph (a wrong cast or a dropped node breaks one or the other)."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto

    from cleverward.engine.export.tensorrt_build import TOLERANCE, fp16_onnx

    _, path, comp = head_export
    half = fp16_onnx(path, tmp_path / "head.fp16.onnx")
    model = onnx.load(str(half))
    assert all(i.data_type != TensorProto.FLOAT for i in model.graph.initializer)
    assert any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer)
    assert [v.type.tensor_type.elem_type for v in model.graph.output] == [TensorProto.FLOAT]
    feeds = calibration_feeds(comp)
    cpu = ["CPUExecutionProvider"]
    (want,) = ort.InferenceSession(str(path), providers=cpu).run(None, feeds)
    (got,) = ort.InferenceSession(str(half), providers=cpu).run(None, feeds)
    assert got.dtype == np.float32 and got.shape == want.shape
    err = float(np.abs(got - want).max())
    assert 0 < err <= TOLERANCE["fp16"], err  # > 0: the weights really were rounded
