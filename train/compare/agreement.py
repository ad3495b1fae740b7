"""How far two reward models agree on the same clips (rows with different `model`).

Over the (video, prompt) pairs both scored, per metric both carry:
- kendall_tau: scipy's tau-b between the two models' scores over all shared clips;
- pairwise agreement: over every two clips of one prompt, the fraction ordered the same way
  by both models among the pairs neither model ties (tied pairs are counted apart).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import asdict, dataclass

from cleverward.train.compare.rows import METRICS, ScoredClip


@dataclass(frozen=True)
class Agreement:
    model_a: str
    model_b: str
    metric: str
    clips: int  # shared (video, prompt) rows
    kendall_tau: float | None
    pairs: int  # same-prompt clip pairs neither model ties
    agree: int
    tied_pairs: int  # pairs at least one model ties
    pairwise_agreement: float | None

    def to_json(self) -> dict:
        out = asdict(self)
        for key in ("kendall_tau", "pairwise_agreement"):
            out[key] = None if out[key] is None else round(out[key], 4)
        return out


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def pairwise_agreement(by_prompt: dict[str, list[tuple[float, float]]]) -> tuple[int, int, int]:
    """(pairs neither ties, pairs ordered alike, pairs tied by either) over same-prompt pairs of
    (score_a, score_b) tuples."""
    decided = agree = tied = 0
    for scores in by_prompt.values():
        for (a1, b1), (a2, b2) in itertools.combinations(scores, 2):
            sa, sb = _sign(a1 - a2), _sign(b1 - b2)
            if sa == 0 or sb == 0:
                tied += 1
            else:
                decided += 1
                agree += sa == sb
    return decided, agree, tied


def agreement(clips: list[ScoredClip], model_a: str, model_b: str, metric: str) -> Agreement:
    from scipy.stats import kendalltau

    a = {(c.video, c.prompt): c.scores[metric] for c in clips
         if c.model == model_a and metric in c.scores}
    b = {(c.video, c.prompt): c.scores[metric] for c in clips
         if c.model == model_b and metric in c.scores}
    shared = [k for k in a if k in b]
    by_prompt: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for key in shared:
        by_prompt[key[1]].append((a[key], b[key]))
    tau = None
    if len(shared) >= 2:
        result = kendalltau([a[k] for k in shared], [b[k] for k in shared])
        tau = None if result.statistic != result.statistic else float(result.statistic)  # NaN
    decided, agree, tied = pairwise_agreement(by_prompt)
    return Agreement(model_a, model_b, metric, len(shared), tau, decided, agree, tied,
                     agree / decided if decided else None)


def all_agreements(clips: list[ScoredClip], models: list[str]) -> list[Agreement]:
    """Every two models, on every metric both carry for some shared clip."""
    out = []
    for ma, mb in itertools.combinations(models, 2):
        for metric in METRICS:
            found = agreement(clips, ma, mb, metric)
            if found.clips:
                out.append(found)
    return out
