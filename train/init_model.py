"""A starting checkpoint from two encoder specs, for training on encoders other than the default.

    init_checkpoint("clip:/models/clip-b32", "clip:/models/clip-b32", "runs/init")

Both projections start as the same map, so the untrained reward is the encoders' own zero-shot
cosine: for a D-d aligned pair with D <= embed_dim the map is [I; 0] (exact); for D > embed_dim a
shared random orthonormal map (cosines kept approximately, Johnson-Lindenstrauss). A video
vector's components past its aligned_dim start with zero weight. The offsets start at zero.
"""

from __future__ import annotations

import torch

from cleverward.engine.checkpoint import CheckpointConfig, save_checkpoint
from cleverward.engine.encoders.catalog import build_text_encoder, build_video_encoder
from cleverward.engine.reward_head import RewardHead, RewardHeadConfig


def shared_map(dim: int, embed_dim: int, seed: int = 0) -> torch.Tensor:
    """(embed_dim, dim): identity rows when they fit, else orthonormal rows."""
    if dim <= embed_dim:
        return torch.eye(embed_dim, dim)
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, embed_dim, generator=g))  # (dim, embed_dim)
    return q.T.contiguous()


def init_checkpoint(video_encoder: str, text_encoder: str, out: str, embed_dim: int = 256,
                    frames: int = 8, seed: int = 0) -> CheckpointConfig:
    video, text = build_video_encoder(video_encoder), build_text_encoder(text_encoder)
    aligned = int(video.aligned_dim)
    if aligned != int(text.dim):
        raise ValueError(f"{video_encoder!r} aligns {aligned} components, {text_encoder!r} "
                         f"gives {text.dim}: they are not one embedding space")
    head = RewardHead(RewardHeadConfig(int(video.dim), int(text.dim), embed_dim))
    w = shared_map(aligned, embed_dim, seed)
    with torch.no_grad():
        head.video_proj.weight.zero_()
        head.video_proj.weight[:, :aligned] = w
        head.video_proj.bias.zero_()
        head.text_proj.weight.copy_(w)
        head.text_proj.bias.zero_()
    cfg = CheckpointConfig(video_encoder=video_encoder, text_encoder=text_encoder,
                           head=head.cfg.to_dict(), frames=frames,
                           provenance={"init": "zero-shot: shared map", "trained": False})
    save_checkpoint(out, cfg, head.state_dict())
    return cfg
