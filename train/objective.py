"""The training objective as a module: rewards of a batch of pairs -> the loss of TrainConfig's
objective. DeepSpeed wraps this module (its parameters are the reward head's).

A batch is index tensors into the embedding tables (train/features.py), gathered before the
call: video_c, video_r (B, Dv), text (B, Dt), dim (B,) into SCORE_NAMES, tie (B,), margin (B,),
and for sft the targets (B, 2) (chosen, rejected scores in [0, 1]; NaN where a row has none).
"""

from __future__ import annotations

import torch
from torch import nn

from cleverward.engine.reward_head import RewardHead
from cleverward.train.losses import bradley_terry_loss, regression_loss, tie_aware_bt_loss

MAX_LOGIT_SCALE = 100.0  # CLIP's clamp: beyond it the BT sigmoid saturates on cosine gaps


class PairObjective(nn.Module):
    def __init__(self, head: RewardHead, objective: str, margin_weight: float = 0.0,
                 tie_tau: float = 0.5) -> None:
        super().__init__()
        self.head = head
        self.objective = objective
        self.margin_weight = margin_weight
        self.tie_tau = tie_tau

    def scale(self) -> torch.Tensor:
        return self.head.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)  # (1,)

    def rewards(self, video_c, video_r, text, dim) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,) rewards of chosen and rejected, each for its row's dimension."""
        pick = dim[:, None]  # (B, 1)
        r_c = self.head.score_pairs(video_c, text).gather(1, pick)[:, 0]  # (B, K) -> (B,)
        r_r = self.head.score_pairs(video_r, text).gather(1, pick)[:, 0]
        return r_c, r_r

    def forward(self, video_c, video_r, text, dim, tie, margin, targets=None):
        """-> (loss 0-dim, r_c - r_r (B,) detached)."""
        r_c, r_r = self.rewards(video_c, video_r, text, dim)
        diff = (r_c - r_r).detach()
        if self.objective == "sft":
            return self._sft(r_c, r_r, targets), diff
        if self.objective == "bt-ties":
            return tie_aware_bt_loss(r_c, r_r, tie, self.scale(), self.tie_tau), diff
        decided = ~tie
        if not bool(decided.any()):  # a batch of ties only: nothing to push apart
            return (r_c - r_r).sum() * 0.0, diff
        loss = bradley_terry_loss(r_c[decided], r_r[decided], self.scale(),
                                  self.margin_weight * margin[decided])
        return loss, diff

    @staticmethod
    def _sft(r_c, r_r, targets) -> torch.Tensor:
        pred = (torch.stack([r_c, r_r], dim=1) + 1) / 2  # cosine -> [0, 1], (B, 2)
        have = ~torch.isnan(targets)
        if not bool(have.any()):
            return pred.sum() * 0.0
        return regression_loss(pred[have], targets[have])
