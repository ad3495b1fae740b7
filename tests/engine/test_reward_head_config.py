"""RewardHeadConfig's validation and the head's initial state (what a checkpoint starts from)."""

import math

import pytest
import torch

from cleverward.engine.reward_head import RewardHead, RewardHeadConfig

FIELDS = ("video_dim", "text_dim", "embed_dim", "num_scores")


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("bad", [0, -3])
def test_sizes_below_1_are_rejected_by_name(field, bad):
    kw = dict(video_dim=4, text_dim=4) | {field: bad}
    with pytest.raises(ValueError, match=rf"^{field}: must be >= 1, got {bad}$"):
        RewardHeadConfig(**kw)


def test_sizes_of_1_are_valid():
    cfg = RewardHeadConfig(video_dim=1, text_dim=1, embed_dim=1, num_scores=1)
    assert cfg.to_dict() == {"video_dim": 1, "text_dim": 1, "embed_dim": 1, "num_scores": 1}
    r = RewardHead(cfg)(torch.ones(2, 1), torch.ones(3, 1))
    assert r.shape == (2, 3, 1)
    assert set(r.abs().flatten().tolist()) <= {1.0, 0.0}  # 1-d unit vectors: cosines are +-1


def test_initial_head_state():
    """Offsets start at zero (every score equals the overall one); the Bradley-Terry scale
    starts at 20 (CLIP-like temperature 1/20), stored as log 20 = 2.9957323 in shape (1,)."""
    cfg = RewardHeadConfig(video_dim=3, text_dim=5, embed_dim=4, num_scores=7)
    head = RewardHead(cfg)
    assert head.cfg is cfg
    assert head.video_proj.weight.shape == (4, 3) and head.text_proj.weight.shape == (4, 5)
    assert torch.equal(head.video_offsets, torch.zeros(7, 4))
    assert torch.equal(head.text_offsets, torch.zeros(7, 4))
    assert isinstance(head.logit_scale, torch.nn.Parameter) and head.logit_scale.requires_grad
    assert head.logit_scale.shape == (1,)
    assert head.logit_scale.item() == pytest.approx(math.log(20.0), abs=1e-6)
