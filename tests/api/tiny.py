"""A tiny random CLIP reward model saved as a checkpoint folder: fast torch towers for the API
and server tests (32x32 frames, 4 per clip, 8-d towers, a 16-d head with non-zero offsets so
every dimension differs from the overall score)."""

from __future__ import annotations

from pathlib import Path

import torch

from cleverward.engine.checkpoint import CheckpointConfig, save_checkpoint
from cleverward.engine.reward_head import RewardHead, RewardHeadConfig
from tests.engine.test_hf_encoders import save_clip

FRAMES = 4


def make_tiny_checkpoint(root: Path) -> Path:
    clip = save_clip(root / "clip")
    head_cfg = RewardHeadConfig(video_dim=8, text_dim=8, embed_dim=16)
    torch.manual_seed(1)
    head = RewardHead(head_cfg)
    with torch.no_grad():
        head.video_offsets.normal_(0, 0.3)
        head.text_offsets.normal_(0, 0.3)
    cfg = CheckpointConfig(video_encoder=f"clip:{clip}", text_encoder=f"clip:{clip}",
                           head=head_cfg.to_dict(), frames=FRAMES)
    return save_checkpoint(root / "ckpt", cfg, head.state_dict())
