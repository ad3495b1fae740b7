"""engine/frames_tensorrt.py: the default frame network's TensorRT engine in the video module
(--backend tensorrt with CUDA), and the CPU refusal that names what is missing."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from cleverward.engine.encoders.catalog import build_video_encoder
from cleverward.engine.frames_tensorrt import TrtFrameNet, frame_engine_wanted

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


class _TwinEngine:
    """The TrtRunner interface (max_shape, feeds by name -> outputs by name) over the real torch
    twin of MobileNetV2, with a profile of 3 frames: the tiling and the wiring run for real
    here, only the engine is the twin (TensorRT does not install on this machine)."""

    def __init__(self, net) -> None:
        self.net, self.calls = net, []

    def max_shape(self, name: str) -> tuple[int, ...]:
        assert name == "data"
        return (3, 3, 224, 224)

    def __call__(self, feeds: dict) -> dict:
        x = feeds["data"]
        self.calls.append(len(x))
        logits, pooled = self.net(x)
        return {"logits": logits, "pool": pooled[:, :, None, None]}  # the graph's (F,1280,1,1)


def test_which_encoders_get_a_frame_engine():
    assert frame_engine_wanted(build_video_encoder("conse-mobilenetv2"))
    assert frame_engine_wanted(build_video_encoder("conse-mobilenetv2?precision=fp16"))
    assert not frame_engine_wanted(build_video_encoder("conse-mobilenetv2?precision=bf16"))
    assert not frame_engine_wanted(object())


def test_the_engine_stands_in_for_the_twin_in_tiles_and_gives_its_vectors():
    from cleverward.engine.frames_encode import device_video_module

    encoder = build_video_encoder("conse-mobilenetv2?runtime=torch")
    engine = _TwinEngine(encoder._torch_net)
    encoder.device_net = TrtFrameNet(engine, "data", "logits", "pool")
    frames = torch.from_numpy(np.random.default_rng(0).integers(
        0, 256, (2, 4, 224, 224, 3), dtype=np.uint8)).float()
    with torch.no_grad():
        got = device_video_module(encoder)(frames)
        del encoder.device_net
        want = device_video_module(encoder)(frames)
    assert engine.calls and max(engine.calls) <= 3  # tiles of the profile's maximum
    assert sum(engine.calls) == 8
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6, rtol=0)


@pytest.mark.skipif(HAS_TENSORRT, reason="tensorrt is installed here")
def test_backend_tensorrt_on_cpu_is_refused_naming_what_is_missing():
    from cleverward.engine.export.tensorrt_build import TensorRTUnavailable
    from cleverward.engine.model import RewardModel

    model = RewardModel.from_pretrained("default")
    with pytest.raises(TensorRTUnavailable, match=r"TensorRT cannot run here: tensorrt is not "
                                                  r"installed .*use --backend onnx"):
        model.with_backend("tensorrt", device=torch.device("cpu"))


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_TENSORRT or not torch.cuda.is_available(),
                    reason="needs tensorrt and a CUDA device")
def test_on_cuda_the_frame_engine_encodes_device_frames_like_the_torch_twin(tmp_path,
                                                                           clips_dir):
    from tests.engine.test_device_probe import _default_model_problem

    if _default_model_problem():
        pytest.skip(_default_model_problem())
    from cleverward.engine.decode import decode_clip
    from cleverward.engine.model import RewardModel, compile_model

    device = torch.device("cuda", torch.cuda.current_device())
    model = RewardModel.from_pretrained("default", device=device)
    trt = compile_model(model, "tensorrt", tmp_path / "onnx", device=device).to(device)
    assert isinstance(trt.frames_scorer.video_module(device).net, TrtFrameNet)
    assert not hasattr(model.video_encoder, "device_net")  # the torch model keeps its twin
    clip = decode_clip(str(clips_dir / "h264_long.mp4"), model.decode_config())
    got, want = trt.embed_clips([clip]), model.embed_clips([clip])
    assert got.device == want.device == device
    assert (got - want).abs().max().item() <= 1e-3  # fp32 engine without TF32
