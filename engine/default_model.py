"""Builds the shipped `default` checkpoint: zero-shot alignment of the offline encoders.

Both projections start as the same affine map of MiniLM space: centre on the mean class
embedding, then the top-256 principal directions of the 1000 class embeddings (98.7% of their
variance). Cosines after the map are the zero-shot ConSE alignment with the generic "any object"
direction removed. The video side's extra features (pooled appearance, temporal statistics) get
zero weight; training learns to use them.

    python -m cleverward.engine.default_model     # rewrites engine/assets/default/
"""

from __future__ import annotations

import numpy as np
import torch

from cleverward.engine.checkpoint import NAMED_MODELS, CheckpointConfig, save_checkpoint
from cleverward.engine.encoders.class_texts import load_class_embeddings
from cleverward.engine.encoders.conse import ConSEVideoEncoder
from cleverward.engine.encoders.minilm import MiniLMTextEncoder
from cleverward.engine.reward_head import RewardHead, RewardHeadConfig

EMBED_DIM = 256


def shared_pca_map(points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """points (M, D) -> (W (k, D), b (k,)) with W x + b = top-k PCA coordinates of x."""
    mean = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - mean, full_matrices=False)  # vt: (min(M, D), D)
    w = vt[:k]
    return w.astype(np.float32), (-w @ mean).astype(np.float32)


def build_default_head() -> RewardHead:
    video_dim, text_dim = ConSEVideoEncoder.dim, MiniLMTextEncoder.dim
    aligned = ConSEVideoEncoder.aligned_dim
    head = RewardHead(RewardHeadConfig(video_dim=video_dim, text_dim=text_dim, embed_dim=EMBED_DIM))
    w, b = shared_pca_map(load_class_embeddings(), EMBED_DIM)
    with torch.no_grad():
        head.video_proj.weight.zero_()
        head.video_proj.weight[:, :aligned] = torch.from_numpy(w)
        head.video_proj.bias.copy_(torch.from_numpy(b))
        head.text_proj.weight.copy_(torch.from_numpy(w))
        head.text_proj.bias.copy_(torch.from_numpy(b))
    return head


def default_config() -> CheckpointConfig:
    return CheckpointConfig(
        video_encoder="conse-mobilenetv2",
        text_encoder="minilm-l6",
        head=RewardHeadConfig(ConSEVideoEncoder.dim, MiniLMTextEncoder.dim, EMBED_DIM).to_dict(),
        frames=8,
        provenance={"init": "zero-shot ConSE; shared PCA-256 map of MiniLM space",
                    "trained": False},
    )


def main() -> None:
    head = build_default_head()
    folder = save_checkpoint(NAMED_MODELS["default"], default_config(), head.state_dict())
    print(f"wrote {folder}")


if __name__ == "__main__":
    main()
