"""Training losses: pure functions of reward tensors, constants as named arguments.

Rewards are cosines in [-1, 1], so a `scale` (CLIP's logit scale; 1 / temperature) stretches
their differences before the sigmoid: with scale 1 the Bradley-Terry probability of a pair can
never exceed sigmoid(2) = 0.88.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cleverward.train.scales import normalise_scores

__all__ = ["bradley_terry_loss", "normalise_scores", "regression_loss", "tie_aware_bt_loss",
           "tie_probability"]


def bradley_terry_loss(
    r_chosen: torch.Tensor,
    r_rejected: torch.Tensor,
    scale: float | torch.Tensor = 1.0,
    margin: float | torch.Tensor = 0.0,
) -> torch.Tensor:
    """mean over pairs of -log sigmoid(scale * (r_chosen - r_rejected) - margin).

    r_chosen, r_rejected: (B,); margin: a float or (B,) (e.g. the pairs file's `margin` column
    times a constant: larger score gaps ask for larger reward gaps). Returns a 0-dim tensor.
    logsigmoid keeps it finite when the difference is very negative (log(sigmoid(-100)) = -100,
    not log(0)).

    Worked value: r_c = 0.5, r_r = 0, scale 1, margin 0:
        -log sigmoid(0.5) = log(1 + e^-0.5) = log(1.6065307) = 0.4740770.
    With scale 10 and margin 2: -log sigmoid(10 * 0.5 - 2) = log(1 + e^-3) = 0.0485874.
    Equal rewards give log 2 = 0.6931472 whatever the scale.
    """
    return -F.logsigmoid(scale * (r_chosen - r_rejected) - margin).mean()


def _log_tie_probability(d: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    # log[(theta^2 - 1) x / ((x + theta)(1 + theta x))], x = e^d, theta = e^tau, written so
    # that no exp overflows: log(theta^2 - 1) = 2 tau + log(1 - e^{-2 tau}).
    log_theta_sq_m1 = 2 * tau + torch.log(-torch.expm1(-2 * tau))
    return log_theta_sq_m1 + d - torch.logaddexp(d, tau) - F.softplus(tau + d)


def tie_probability(d: torch.Tensor, tau: float | torch.Tensor = 1.0) -> torch.Tensor:
    """The Rao-Kupper probability of a tie at scaled reward difference d (see below)."""
    d = torch.as_tensor(d)
    d = d if d.is_floating_point() else d.float()
    return _log_tie_probability(d, torch.as_tensor(tau, dtype=d.dtype)).exp()


def tie_aware_bt_loss(
    r_a: torch.Tensor,
    r_b: torch.Tensor,
    tie_mask: torch.Tensor,
    scale: float | torch.Tensor = 1.0,
    tau: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """Rao-Kupper (1967) Bradley-Terry with ties: mean negative log-likelihood.

    r_a, r_b: (B,), r_a the chosen video where tie_mask is False; tie_mask: (B,) bool.
    tau > 0 is the tie threshold (theta = e^tau >= 1 in Rao and Kupper's notation; a float or a
    learnable 0-dim tensor). With strengths pi = exp(scale * r) and d = scale * (r_a - r_b):

        P(a > b)  = pi_a / (pi_a + theta pi_b)              = sigmoid(d - tau)
        P(b > a)  = pi_b / (pi_b + theta pi_a)              = sigmoid(-d - tau)
        P(a ~ b)  = 1 - P(a > b) - P(b > a)
                  = (theta^2 - 1) pi_a pi_b / ((pi_a + theta pi_b)(pi_b + theta pi_a))

    (check of the last line with x = e^d: 1 - x/(x+theta) - 1/(1+theta x)
    = x (theta^2 - 1) / ((x + theta)(1 + theta x)).) A decided pair pays -log sigmoid(d - tau),
    the plain Bradley-Terry loss with margin tau; a tie pays -log P(a ~ b), which is smallest at
    d = 0 and symmetric in d: ties pull the two rewards together, decided pairs push them at
    least tau apart. tau -> 0 removes ties (P(tie) -> 0).

    Worked value: tau = log 2 (theta = 2), d = 0: P(a > b) = 1/(1 + 2) = 1/3,
    P(tie) = (4 - 1) / (3 * 3) = 1/3, so both a decided pair and a tie pay log 3 = 1.0986123.
    At d = log 2 (a leads): P(a > b) = sigmoid(0) = 1/2, P(b > a) = sigmoid(-2 log 2) = 1/5,
    P(tie) = 3/10: a tie pays -log 0.3 = 1.2039728.
    """
    tau = torch.as_tensor(tau, dtype=r_a.dtype, device=r_a.device)
    if bool((tau <= 0).any()):
        raise ValueError(f"tie_aware_bt_loss: tau must be > 0, got {tau}")
    d = scale * (r_a - r_b)  # (B,)
    decided = -F.logsigmoid(d - tau)
    tied = -_log_tie_probability(d, tau)
    return torch.where(tie_mask.bool(), tied, decided).mean()


def regression_loss(pred: torch.Tensor, target_normalised: torch.Tensor) -> torch.Tensor:
    """Mean squared error against scores normalised per dataset+dimension to [0, 1] (the
    paper's SFT baseline; targets from the pairs file's score_chosen / score_rejected, or
    `normalise_scores`). pred, target: (B,) or (B, K).

    Worked value: pred [0.2, 0.9], target [0, 1] -> (0.04 + 0.01) / 2 = 0.025.
    """
    return F.mse_loss(pred, target_normalised.to(pred.dtype))

