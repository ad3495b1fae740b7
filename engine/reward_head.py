"""The reward head: project video and text embeddings into a shared space and take cosines.

    r_k(video, text) = < normalize(Wv v + bv + a_k), normalize(Wt t + bt + c_k) >

for k over SCORE_NAMES (overall, then the six canonical dimensions). The per-score offsets a_k,
c_k are how a dimension conditions the model: with zero offsets every dimension equals the
overall alignment; a large c_k turns r_k into "how far does the video point along c_k", a
prompt-independent quality axis (e.g. visual_aesthetics), while a small one keeps it prompt-
dependent (textual_alignment). One matrix product per side serves all K scores.

The math lives once, in cleverward.kernels.fused_reward.reward_matrix_ref (autograd, CPU) and its
fused Triton kernel (CUDA inference).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from cleverward.engine.dimensions import SCORE_NAMES
from cleverward.kernels.fused_reward import reward_matrix, reward_matrix_ref


@dataclass(frozen=True)
class RewardHeadConfig:
    video_dim: int
    text_dim: int
    embed_dim: int = 256
    num_scores: int = len(SCORE_NAMES)

    def __post_init__(self) -> None:
        for field in ("video_dim", "text_dim", "embed_dim", "num_scores"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field}: must be >= 1, got {getattr(self, field)}")

    def to_dict(self) -> dict:
        return asdict(self)


class RewardHead(nn.Module):
    def __init__(self, cfg: RewardHeadConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.video_proj = nn.Linear(cfg.video_dim, cfg.embed_dim)
        self.text_proj = nn.Linear(cfg.text_dim, cfg.embed_dim)
        self.video_offsets = nn.Parameter(torch.zeros(cfg.num_scores, cfg.embed_dim))
        self.text_offsets = nn.Parameter(torch.zeros(cfg.num_scores, cfg.embed_dim))
        # Bradley-Terry temperature, used by the training loss only; shape (1,) because DeepSpeed
        # cannot flatten 0-dim parameters.
        self.logit_scale = nn.Parameter(torch.full((1,), 20.0).log())

    def _params(self) -> tuple[torch.Tensor, ...]:
        return (
            self.video_proj.weight, self.video_proj.bias,
            self.text_proj.weight, self.text_proj.bias,
            self.video_offsets, self.text_offsets,
        )

    def forward(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """All pairs: video (B, Dv), text (P, Dt) -> rewards (B, P, K). Differentiable."""
        return reward_matrix_ref(video, text, *self._params())

    @torch.inference_mode()
    def score_matrix(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """As forward, for inference: the fused Triton kernel on CUDA. -> (B, P, K) fp32."""
        return reward_matrix(video, text, *self._params())

    def score_pairs(self, video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Row-aligned pairs: video (N, Dv), text (N, Dt) -> (N, K). Differentiable."""
        pv = self.project_video(video)  # (N, K, E)
        pt = self.project_text(text)  # (N, K, E)
        return (pv * pt).sum(-1)

    @torch.no_grad()
    def overflow_problem(self) -> str | None:
        """Why this head cannot score (None if it can): finite weights can still be so large
        that a projection overflows float32 (|w| near 3e38) or its norm does (|w| past ~1e19),
        and every score is then NaN, or 0.0 from normalising an infinite vector, for any input.
        Checked on a fixed probe of standard normal features (real ones are of that order)."""
        gen = torch.Generator().manual_seed(0)
        for side, dim, proj, offsets in (
                ("video", self.cfg.video_dim, self.video_proj, self.video_offsets),
                ("text", self.cfg.text_dim, self.text_proj, self.text_offsets)):
            p = proj(torch.randn(4, dim, generator=gen))[:, None, :] + offsets[None]
            if not (bool(torch.isfinite(p).all()) and bool(torch.isfinite(p.norm(dim=-1)).all())):
                w = proj.weight
                return (f"the {side} projection overflows float32 on a probe input (largest "
                        f"|{side}_proj.weight| {float(w.abs().max()):.3g}): every score would "
                        "be NaN or 0")
        return None

    def project_video(self, video: torch.Tensor) -> torch.Tensor:
        """(B, Dv) -> unit (B, K, E): the vectors a FAISS index stores (k = 0 for overall)."""
        p = self.video_proj(video.float())[:, None, :] + self.video_offsets[None]
        return nn.functional.normalize(p, dim=-1, eps=1e-12)

    def project_text(self, text: torch.Tensor) -> torch.Tensor:
        """(P, Dt) -> unit (P, K, E)."""
        p = self.text_proj(text.float())[:, None, :] + self.text_offsets[None]
        return nn.functional.normalize(p, dim=-1, eps=1e-12)
