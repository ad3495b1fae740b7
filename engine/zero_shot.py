"""Zero-shot models: an aligned image-text family's two towers with an untrained head.

    model = RewardModel.from_pretrained("clip:/models/clip-vit-b32")   # siglip:, xclip: too

The towers of CLIP, SigLIP and X-CLIP embed video and text into one space already, so the
untrained shared map is the zero-shot model: both projections start as the same map and the
offsets at zero, and every score is the towers' own cosine. `zero_shot_head` builds that head;
train/init_model.py writes it as a starting checkpoint, `from_spec` holds it in memory for
`--model clip:DIR`.

The map is [I; 0] when the aligned width D fits embed_dim (exact: the reward is the cosine),
else a shared random orthonormal (embed_dim, D) map (cosines kept approximately). `from_spec`
uses embed_dim = D, so it is always exact. A video vector's components past its aligned_dim
start with zero weight.
"""

from __future__ import annotations

from pathlib import Path

import torch

from cleverward.engine.checkpoint import CheckpointConfig
from cleverward.engine.reward_head import RewardHead, RewardHeadConfig

ZERO_SHOT_KINDS = ("clip", "siglip", "xclip")  # families whose video and text towers align


def shared_map(dim: int, embed_dim: int, seed: int = 0) -> torch.Tensor:
    """(embed_dim, dim): identity rows when they fit, else orthonormal rows."""
    if dim <= embed_dim:
        return torch.eye(embed_dim, dim)
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(dim, embed_dim, generator=g))  # (dim, embed_dim)
    return q.T.contiguous()


def zero_shot_head(video, text, embed_dim: int | None = None, seed: int = 0) -> RewardHead:
    """The head whose rewards are cosine(video, text) of two built encoders (module docstring);
    embed_dim None: the aligned width (exact)."""
    aligned = int(video.aligned_dim)
    if aligned != int(text.dim):
        raise ValueError(f"the video encoder aligns {aligned} components, the text encoder "
                         f"gives {text.dim}: they are not one embedding space")
    embed_dim = embed_dim or aligned
    head = RewardHead(RewardHeadConfig(int(video.dim), int(text.dim), embed_dim))
    w = shared_map(aligned, embed_dim, seed)
    with torch.no_grad():
        head.video_proj.weight.zero_()
        head.video_proj.weight[:, :aligned] = w
        head.video_proj.bias.zero_()
        head.text_proj.weight.copy_(w)
        head.text_proj.bias.zero_()
    return head


def is_encoder_spec(text: str) -> bool:
    """`clip:LOCATION`, `siglip:...`, `xclip:...` (a folder of that name wins)."""
    kind, sep, location = text.partition(":")
    return bool(sep and location) and kind in ZERO_SHOT_KINDS and not Path(text).is_dir()


def from_spec(spec_text: str, frames: int = 8) -> tuple[CheckpointConfig, RewardHead]:
    """`clip:DIR` -> (config, head) of the zero-shot model on that family's two towers. A hub
    id is resolved from the local cache (never downloaded); the config names absolute folders."""
    from cleverward.engine.encoders.catalog import build_text_encoder, build_video_encoder
    from cleverward.engine.encoders.registry import EncoderSpec

    spec = EncoderSpec.parse(spec_text)
    video = build_video_encoder(spec_text)  # resolves the folder or the cached hub snapshot
    location = str(Path(video.path).resolve())
    text_spec = str(EncoderSpec(spec.kind, location, {}))  # the options are the video side's
    try:
        head = zero_shot_head(video, build_text_encoder(text_spec))
    except ValueError as exc:  # e.g. a SigLIP whose vision and text widths differ
        raise ValueError(f"{spec_text}: {exc}; no zero-shot model on these towers") from None
    cfg = CheckpointConfig(
        video_encoder=str(EncoderSpec(spec.kind, location, spec.options)),
        text_encoder=text_spec, head=head.cfg.to_dict(), frames=frames,
        provenance={"init": f"zero-shot: the {spec.kind} towers' own cosine (identity map)",
                    "trained": False, "spec": spec_text})
    return cfg, head.eval()
