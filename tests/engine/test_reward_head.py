import json

import numpy as np
import pytest
import torch

from cleverward.engine.checkpoint import CheckpointConfig, load_checkpoint, resolve
from cleverward.engine.dimensions import SCORE_NAMES
from cleverward.engine.model import RewardModel
from cleverward.engine.reward_head import RewardHead, RewardHeadConfig


def _head(seed=0, dv=12, dt=7, e=5):
    torch.manual_seed(seed)
    head = RewardHead(RewardHeadConfig(video_dim=dv, text_dim=dt, embed_dim=e))
    with torch.no_grad():
        head.video_offsets.normal_()
        head.text_offsets.normal_()
    return head


def test_reward_is_cosine_of_projections():
    head = _head()
    v, t = torch.randn(3, 12), torch.randn(4, 7)
    r = head(v, t)  # (3, 4, K)
    assert r.shape == (3, 4, len(SCORE_NAMES))
    for k in range(len(SCORE_NAMES)):
        pv = head.video_proj(v) + head.video_offsets[k]
        pt = head.text_proj(t) + head.text_offsets[k]
        expected = torch.nn.functional.cosine_similarity(pv[:, None], pt[None], dim=-1)
        torch.testing.assert_close(r[..., k], expected, atol=1e-5, rtol=1e-5)
    assert r.abs().max() <= 1 + 1e-5


def test_score_pairs_is_the_diagonal_of_the_matrix():
    head = _head(1)
    v, t = torch.randn(5, 12), torch.randn(5, 7)
    torch.testing.assert_close(head.score_pairs(v, t), torch.diagonal(head(v, t)).T)


def test_zero_offsets_make_every_dimension_equal_overall():
    head = RewardHead(RewardHeadConfig(video_dim=6, text_dim=6, embed_dim=4))
    r = head(torch.randn(2, 6), torch.randn(3, 6))
    assert torch.allclose(r, r[..., :1].expand_as(r))


def test_head_gradients_match_finite_differences():
    """Loss = sum of score k=2's rewards: its gradient reaches only row 2 of the offsets (rows
    j != 2 are exactly 0), and along a random direction u it equals the central difference
    (f(c + eps u) - f(c - eps u)) / (2 eps) of the fp32 forward, to ~1e-3."""
    head = _head(2)
    v, t = torch.randn(2, 12), torch.randn(3, 7)

    def f() -> torch.Tensor:
        return head(v, t)[..., 2].sum()

    f().backward()
    grad = head.text_offsets.grad.clone()
    others = [j for j in range(len(SCORE_NAMES)) if j != 2]
    assert torch.equal(grad[others], torch.zeros_like(grad[others]))
    u, eps = torch.randn(grad.shape[1]), 1e-2
    with torch.no_grad():
        head.text_offsets[2] += eps * u
        up = f()
        head.text_offsets[2] -= 2 * eps * u
        down = f()
    numeric = float((up - down) / (2 * eps))
    assert abs(numeric) > 1e-3  # the direction matters: not a vacuous comparison
    assert float(grad[2] @ u) == pytest.approx(numeric, rel=2e-2, abs=1e-4)
    assert head.video_proj.weight.grad.abs().sum() > 0


def test_save_load_round_trip(tmp_path):
    # the head's widths must be the encoders' (checked at load): ConSE 1668, MiniLM 384
    dv, dt = 1668, 384
    cfg = CheckpointConfig(video_encoder="conse-mobilenetv2", text_encoder="minilm-l6",
                           head=RewardHeadConfig(dv, dt, 5).to_dict(), provenance={"steps": 3})
    model = RewardModel(cfg, _head(3, dv, dt))
    model.save_pretrained(tmp_path / "ckpt")
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "README.md", "config.json", "model.safetensors"]  # README.md: the model card
    loaded = RewardModel.from_pretrained(tmp_path / "ckpt")
    v, t = np.random.rand(2, dv).astype(np.float32), np.random.rand(3, dt).astype(np.float32)
    np.testing.assert_allclose(loaded.score(v, t), model.score(v, t), atol=1e-6)
    assert loaded.cfg.provenance == {"steps": 3}


def test_checkpoint_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a named model"):
        resolve(tmp_path / "missing")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        resolve(tmp_path / "c")
    (tmp_path / "c" / "model.safetensors").write_bytes(b"")
    (tmp_path / "c" / "config.json").write_text(json.dumps({"video_encoder": "x"}))
    with pytest.raises(ValueError, match="config.json"):
        load_checkpoint(tmp_path / "c")


def test_default_checkpoint_ships_and_loads():
    cfg, state = load_checkpoint("default")
    assert cfg.video_encoder == "conse-mobilenetv2" and cfg.text_encoder == "minilm-l6"
    assert state["video_proj.weight"].shape == (256, cfg.head["video_dim"])
    # Both projections start as the same map on the aligned part; extra features get zero weight.
    aligned = cfg.head["text_dim"]
    assert torch.equal(state["video_proj.weight"][:, :aligned], state["text_proj.weight"])
    assert state["video_proj.weight"][:, aligned:].abs().max() == 0
