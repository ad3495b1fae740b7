"""A starting checkpoint from two encoder specs, for training on encoders other than the default.

    init_checkpoint("clip:/models/clip-b32", "clip:/models/clip-b32", "runs/init")

The head is engine/zero_shot.py's: both projections start as the same map, so the untrained
reward is the encoders' own zero-shot cosine. Local folders are recorded as absolute paths, so
the checkpoint loads from any working directory.
"""

from __future__ import annotations

from cleverward.engine.checkpoint import CheckpointConfig, absolute_spec, save_checkpoint
from cleverward.engine.encoders.catalog import build_text_encoder, build_video_encoder
from cleverward.engine.zero_shot import shared_map, zero_shot_head

__all__ = ["init_checkpoint", "shared_map"]


def init_checkpoint(video_encoder: str, text_encoder: str, out: str, embed_dim: int = 256,
                    frames: int = 8, seed: int = 0) -> CheckpointConfig:
    video_encoder = absolute_spec(video_encoder, typed=True)
    text_encoder = absolute_spec(text_encoder, typed=True)
    video, text = build_video_encoder(video_encoder), build_text_encoder(text_encoder)
    try:
        head = zero_shot_head(video, text, embed_dim, seed)
    except ValueError as exc:
        raise ValueError(f"{video_encoder!r} and {text_encoder!r}: {exc}") from None
    cfg = CheckpointConfig(video_encoder=video_encoder, text_encoder=text_encoder,
                           head=head.cfg.to_dict(), frames=frames,
                           provenance={"init": "zero-shot: shared map", "trained": False})
    save_checkpoint(out, cfg, head.state_dict())
    return cfg
