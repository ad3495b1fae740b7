"""The offline default encoders with their real weights (no network)."""

import numpy as np
import pytest

from cleverward.engine.config import DecodeConfig
from cleverward.engine.decode import decode_clip
from cleverward.engine.encoders.catalog import (
    build_text_encoder,
    build_video_encoder,
    list_encoders,
)
from cleverward.engine.encoders.conse import conse_embed
from cleverward.engine.encoders.registry import EncoderSpec
from cleverward.engine.model import RewardModel

MATCHING = {
    "bigbuckbunny.mp4": "a big white cartoon rabbit standing in a green meadow",
    "bikes.mp4": "cyclists riding bicycles past a railing on a city street",
    "carphone.mp4": "a man in a suit and bow tie talking in the back seat of a car",
}
UNRELATED = [
    "a bowl of fruit on a kitchen table",
    "fireworks exploding over a city at night",
    "a chef cooking pasta in a restaurant kitchen",
]


@pytest.fixture(scope="module")
def model():
    return RewardModel.from_pretrained("default")


def test_registry_lists_defaults():
    names = list_encoders()
    assert "conse-mobilenetv2" in names["video"] and "minilm-l6" in names["text"]
    with pytest.raises(ValueError, match="unknown video encoder"):
        build_video_encoder("nope")


def test_spec_parsing_round_trip():
    spec = EncoderSpec.parse("lm:/models/qwen?pooling=mean&batch_size=4")
    assert (spec.kind, spec.location, spec.options) == (
        "lm", "/models/qwen", {"pooling": "mean", "batch_size": "4"})
    assert EncoderSpec.parse(str(spec)) == spec
    with pytest.raises(ValueError, match="key=value"):
        EncoderSpec.parse("lm:x?oops")


def test_text_encoder_real_weights():
    enc = build_text_encoder("minilm-l6")
    vec = enc.encode(["a dog runs on the beach", "a puppy running along the shore", "tax law"])
    assert vec.shape == (3, 384) and vec.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), 1, atol=1e-5)
    assert vec[0] @ vec[1] > vec[0] @ vec[2] + 0.3  # paraphrase >> unrelated
    assert len(enc.fingerprint()) == 16 and enc.fingerprint() == enc.fingerprint()


def test_conse_embed_weights_top_k():
    class_emb = np.eye(4, dtype=np.float32)
    logits = np.log(np.array([[0.6, 0.3, 0.05, 0.05]], np.float32))
    out = conse_embed(logits, class_emb, top_k=2)  # weights 2/3, 1/3 on classes 0, 1
    np.testing.assert_allclose(out[0], np.array([2, 1, 0, 0]) / np.sqrt(5), atol=1e-6)


def test_video_encoder_real_weights(demo_clips):
    enc = build_video_encoder("conse-mobilenetv2")
    clip = decode_clip(str(demo_clips / "carphone.mp4"), DecodeConfig(frames=4))
    one = enc.encode([clip])
    both = enc.encode([clip, clip[:2]])
    assert one.shape == (1, enc.dim) and both.shape == (2, enc.dim)
    np.testing.assert_allclose(both[0], one[0], atol=1e-5)  # batching does not change a clip
    np.testing.assert_allclose(np.linalg.norm(one[0, :384]), 1, atol=1e-5)


def test_default_ranks_matching_prompt_first(model, demo_clips):
    """On clear cases the untrained default prefers each clip's own prompt."""
    names = sorted(MATCHING)
    cfg = model.decode_config()
    video = model.encode_videos([decode_clip(str(demo_clips / n), cfg) for n in names])
    prompts = [MATCHING[n] for n in names] + UNRELATED
    scores = model.score(video, model.encode_texts(prompts))[..., 0]  # (3, 6) overall
    for i, name in enumerate(names):
        others = np.delete(scores[i], i)
        assert scores[i, i] > others.max(), (name, scores[i])


def test_torch_twin_of_mobilenet_matches_onnx_runtime():
    """The eager-torch MobileNetV2 built from the ONNX weights (BN folded) matches ORT."""
    import torch

    from cleverward.engine.encoders.mobilenet import preprocess, run_mobilenet
    from cleverward.engine.encoders.mobilenet_torch import OnnxMobileNet

    frames = np.random.default_rng(0).integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    logits, pooled = run_mobilenet(frames)
    with torch.inference_mode():
        t_logits, t_pooled = OnnxMobileNet().eval()(torch.from_numpy(preprocess(frames)))
    np.testing.assert_allclose(t_logits.numpy(), logits, atol=1e-3, rtol=1e-4)
    np.testing.assert_allclose(t_pooled.numpy(), pooled, atol=1e-4, rtol=1e-4)
    ort_enc = build_video_encoder("conse-mobilenetv2")
    torch_enc = build_video_encoder("conse-mobilenetv2?runtime=torch")
    np.testing.assert_allclose(torch_enc.encode([frames]), ort_enc.encode([frames]), atol=1e-4)
