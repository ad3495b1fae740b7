"""Each public leaderboard's way of scoring a reward model on preference pairs, re-implemented
from reading its script, quirks included, beside the correct computation (`cleverward`).

A convention maps (labels, diffs) to named figures (train/metrics.py gives the label and diff
conventions; a human tie includes GenAI-Bench's bothbad votes, as the pairs adapters mark them).
The scripts, and what each does that the correct computation does not:

- `videoalign`: VideoAlign's calc_accuracy.py, which VideoGen-RewardBench's "w/ Ties" numbers
  come from. It sorts the pairs by |diff| (a stable sort: equal |diff| keep their input order)
  and scores the states "the first k pairs are model ties" for k = 1..N. So it never scores
  k = 0 (the model never ties), which is low on continuous scores where that state wins; and
  with equal |diff| values (scores on a grid, whole levels) it scores states that split a group,
  which no real epsilon produces, and can report more than the true optimum. Its "w/o Ties"
  figure, C / (C + D) at epsilon -1, is the correct acc_no_ties (not repeated). Its tau is
  derived here as 2 acc - 1 (the script's calc_tau returns the accuracy itself).
- `videoscore`: VideoScore's benchmark/get_genaibench_pairwise_acc.py: every pair counted, a
  decided pair right when the sign matches, a human tie right when |diff| < 0.5. The 0.5 is fixed
  in the script, in the units of VideoScore's 1-4 scale; on other scales it means something else.
- `unifiedreward`: UnifiedReward's GenAI-Bench / VideoGen-RewardBench scripts: the "no tie"
  accuracy, over decided pairs only (tie and bothbad pairs dropped); a model answer of "same"
  (here: a diff of exactly 0) on a decided pair is wrong. This is the correct acc_no_ties.
- `genai-bench`: GenAI-Bench's inference.py: one answer per pair from A>B, B>A, A=B (=Good /
  =Bad); an A=B answer is right on tievote and on bothbad_vote alike, and the accuracy is over
  every pair. A scalar reward answers A=B when |diff| <= epsilon (`--epsilon`; the default 0:
  only equal scores), with no calibration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cleverward.train.metrics import (
    accuracy_with_ties,
    as_arrays,
    pairwise_accuracy,
    pairwise_accuracy_tie_threshold,
    right_counts_by_tie_prefix,
    tie_stats,
)

CORRECT = "cleverward"
VIDEOSCORE_THRESHOLD = 0.5  # fixed in get_genaibench_pairwise_acc.py (a 1-4 score scale)


@dataclass(frozen=True)
class FigureParams:
    """The knobs the correct computation exposes (the scripts fix their own)."""

    tie_threshold: float = 0.02
    epsilon: float | None = None  # None: calibrated

    def __post_init__(self) -> None:
        if not self.tie_threshold >= 0:
            raise ValueError(f"--tie-threshold: must be >= 0, got {self.tie_threshold}")
        if self.epsilon is not None and not self.epsilon >= 0:
            raise ValueError(f"--epsilon: must be >= 0, got {self.epsilon}")


Figures = dict[str, float]


def videoalign_accuracy_with_ties(labels, diffs) -> tuple[float, float]:
    """(acc, epsilon) as calc_accuracy_with_ties computes them: the best of the states "the
    first k pairs in stable |diff| order are model ties", k = 1..N, the first maximum kept."""
    h, m = as_arrays(labels, diffs)
    if h.size == 0:
        return float("nan"), float("nan")
    a, right = right_counts_by_tie_prefix(h, m)
    acc = right[1:] / h.size  # (N,) k = 1..N; k = 0 (no model tie) is never scored
    best = int(np.argmax(acc))
    return float(acc[best]), float(a[best])


def _cleverward(h, m, p: FigureParams) -> Figures:
    acc, eps = accuracy_with_ties(h, m, p.epsilon)
    return {"acc_no_ties": pairwise_accuracy(h, m),
            "acc_tie_threshold": pairwise_accuracy_tie_threshold(h, m, p.tie_threshold),
            "acc_with_ties": acc, "tau_with_ties": 2 * acc - 1, "epsilon": eps}


def _videoalign(h, m, p: FigureParams) -> Figures:
    # its w/o-ties figure, C / (C + D), is the correct acc_no_ties: not repeated here
    acc, eps = videoalign_accuracy_with_ties(h, m)
    return {"acc_with_ties": acc, "tau_with_ties": 2 * acc - 1, "epsilon": eps}


def _videoscore(h, m, p: FigureParams) -> Figures:
    return {"acc_tie_threshold": pairwise_accuracy_tie_threshold(h, m, VIDEOSCORE_THRESHOLD)}


def _unifiedreward(h, m, p: FigureParams) -> Figures:
    return {"acc_no_ties": pairwise_accuracy(h, m)}


def _genai_bench(h, m, p: FigureParams) -> Figures:
    eps = 0.0 if p.epsilon is None else p.epsilon
    return {"acc_with_ties": tie_stats(h, m, eps).accuracy, "epsilon": eps}


@dataclass(frozen=True)
class Convention:
    name: str
    script: str  # where the algorithm comes from
    quirk: str  # one line: how its figure differs from the correct one
    figures: Callable[[np.ndarray, np.ndarray, FigureParams], Figures]


CONVENTIONS: dict[str, Convention] = {c.name: c for c in (
    Convention(CORRECT, "train/metrics.py",
               "ties calibrated over every real threshold, the no-tie state included",
               _cleverward),
    Convention("videoalign", "VideoAlign calc_accuracy.py (VideoGen-RewardBench)",
               "w/ ties: thresholds k = 1..N pairs in |diff| order: no 'never tie' state, "
               "and equal |diff| values split", _videoalign),
    Convention("videoscore", "VideoScore benchmark/get_genaibench_pairwise_acc.py",
               f"a tie is right when |diff| < {VIDEOSCORE_THRESHOLD} (fixed, in the units of "
               "a 1-4 scale)", _videoscore),
    Convention("unifiedreward", "UnifiedReward benchmark_evaluation (GenAI-Bench video)",
               "tie and bothbad pairs dropped; a diff of 0 on a decided pair is wrong",
               _unifiedreward),
    Convention("genai-bench", "GenAI-Bench inference.py (four-way votes)",
               "A=B right on tievote and bothbad_vote; A=B only when |diff| <= --epsilon "
               "(default 0), not calibrated", _genai_bench),
)}


def convention(name: str) -> Convention:
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise ValueError(f"--convention: {name!r} is not one of "
                         f"{', '.join(CONVENTIONS)}") from None
