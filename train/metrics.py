"""The correct pairwise and correlation metrics; each public leaderboard's variant of them lives
in train/conventions.py.

Pairwise metrics take `labels` (+1: the first video, A / chosen, is preferred; -1: the second;
0: a human tie, which includes GenAI-Bench's bothbad votes) and `diffs` = score(A) - score(B).
With pairs-file rows, A is `chosen`, so a row's label is 0 if it is a tie, else +1.

- `pairwise_accuracy`: ties excluded. A difference of exactly 0 on a decided pair is wrong.
- `pairwise_accuracy_tie_threshold`: every pair counted; a decided pair is right when the sign
  matches, a human tie is right when |diff| < threshold (strictly, as VideoScore's script). The
  threshold is in the model's units and must be chosen for them.
- `accuracy_with_ties` / `kendall_tau_with_ties`: the pairwise accuracy with ties of Deutsch et
  al. 2023 ("Ties Matter", arXiv:2305.14324). The model predicts a tie when |diff| <= epsilon:
      acc_eq = (C + T_hm) / (C + D + T_h + T_m + T_hm),  tau_eq = 2 acc_eq - 1
  C concordant, D discordant, T_h human tie only, T_m model tie only, T_hm both tie. With
  epsilon=None it is tie-calibrated: maximised over every threshold a real epsilon can be.
  Between two consecutive distinct |diff| values nothing changes, so the candidates are
  epsilon = 0 (only exact zeros tie; when no |diff| is 0 this is the "model never ties"
  state, and it is never worse than epsilon < 0, which would also count exact zeros as
  decided, and so wrong) and each distinct |diff|; every pair sharing a |diff| ties together.
  |diff| values within 1e-9 of the largest |diff| of each other count as one (float rounding
  makes equal differences of grid scores unequal: 0.7 - 0.4 < 0.5 - 0.2 in binary).
  The smallest maximising epsilon is reported. For held-out numbers, calibrate epsilon on a
  validation split and pass it in.
- `spearman` (SRCC), `pearson` (PLCC, no logistic fitting), `kendall` (KRCC, tau-b) between
  predicted scores and MOS, from scipy.stats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def as_arrays(labels, diffs) -> tuple[np.ndarray, np.ndarray]:
    """-> (labels int64 (N,), diffs float64 (N,)), checked."""
    h = np.asarray(labels, dtype=np.int64).reshape(-1)
    m = np.asarray(diffs, dtype=np.float64).reshape(-1)
    if h.shape != m.shape:
        raise ValueError(f"labels {h.shape} and diffs {m.shape} differ in length")
    if not np.isin(h, (-1, 0, 1)).all():
        raise ValueError("labels must be +1, -1 or 0")
    return h, m


def pairwise_accuracy(labels, diffs) -> float:
    """Ties excluded (nan when every pair is a tie)."""
    h, m = as_arrays(labels, diffs)
    keep = h != 0
    if not keep.any():
        return float("nan")
    return float(np.mean(h[keep] * m[keep] > 0))


def pairwise_accuracy_tie_threshold(labels, diffs, threshold: float = 0.5) -> float:
    """Ties counted: right when |diff| < threshold."""
    h, m = as_arrays(labels, diffs)
    if h.size == 0:
        return float("nan")
    right = np.where(h == 0, np.abs(m) < threshold, h * m > 0)
    return float(np.mean(right))


@dataclass(frozen=True)
class TieStats:
    C: int  # concordant
    D: int  # discordant
    Th: int  # human tie, model not
    Tm: int  # model tie, human not
    Thm: int  # both tie

    @property
    def n(self) -> int:
        return self.C + self.D + self.Th + self.Tm + self.Thm

    @property
    def accuracy(self) -> float:
        return (self.C + self.Thm) / self.n if self.n else float("nan")

    @property
    def tau(self) -> float:
        return (self.C + self.Thm - self.D - self.Th - self.Tm) / self.n if self.n else float("nan")


def tie_stats(labels, diffs, epsilon: float) -> TieStats:
    """Counts with model ties at |diff| <= epsilon (epsilon < 0: the model never ties)."""
    h, m = as_arrays(labels, diffs)
    model_tie = np.abs(m) <= epsilon
    human_tie = h == 0
    decided = ~human_tie & ~model_tie
    return TieStats(
        C=int(np.sum(decided & (h * m > 0))), D=int(np.sum(decided & (h * m <= 0))),
        Th=int(np.sum(human_tie & ~model_tie)), Tm=int(np.sum(~human_tie & model_tie)),
        Thm=int(np.sum(human_tie & model_tie)),
    )


def right_counts_by_tie_prefix(h: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs sorted by |m| (stable); -> (sorted |m| (N,), right (N+1,)): right[k] = C + T_hm
    when exactly the first k pairs of that order are model ties."""
    order = np.argsort(np.abs(m), kind="stable")
    a, h, m = np.abs(m)[order], h[order], m[order]
    ties_in = np.r_[0, np.cumsum(h == 0)]  # human ties among the first k -> T_hm
    concordant = (h != 0) & (h * m > 0)
    right_out = concordant.sum() - np.r_[0, np.cumsum(concordant)]  # concordant after k -> C
    return a, ties_in + right_out


EQUAL_DIFF_RTOL = 1e-9  # |diff| values closer than this x the largest |diff| are equal


def _calibrated(h: np.ndarray, m: np.ndarray) -> tuple[float, float]:
    """max of acc_eq over epsilon in {0} U {|m_i|}, O(N log N)."""
    a, right = right_counts_by_tie_prefix(h, m)
    # equal |diff| groups: scores on a decimal grid differ by float rounding (0.7 - 0.4 is
    # 0.29999999999999993, 0.5 - 0.2 is 0.3), and an epsilon between them would split a group
    tol = EQUAL_DIFF_RTOL * a[-1]
    ends = np.r_[a[1:] - a[:-1] > tol, True]  # the last pair of each group (a is sorted)
    eps = a[ends] if a[0] <= tol else np.r_[0.0, a[ends]]  # (K,) ascending candidates
    k = np.searchsorted(a, eps, side="right")  # pairs with |m| <= eps: a whole group
    acc = right[k] / len(a)
    best = int(np.argmax(acc))  # the first maximum: the smallest such epsilon
    return float(acc[best]), float(eps[best])


def accuracy_with_ties(labels, diffs, epsilon: float | None = None) -> tuple[float, float]:
    """(acc_eq, epsilon used); epsilon=None calibrates it (see the module docstring)."""
    h, m = as_arrays(labels, diffs)
    if h.size == 0:
        return float("nan"), float("nan")
    if epsilon is None:
        return _calibrated(h, m)
    return tie_stats(h, m, epsilon).accuracy, float(epsilon)


def kendall_tau_with_ties(labels, diffs, epsilon: float | None = None) -> tuple[float, float]:
    """(tau_eq, epsilon used) = (2 acc_eq - 1, epsilon)."""
    acc, eps = accuracy_with_ties(labels, diffs, epsilon)
    return 2 * acc - 1, eps


# -- correlations with human scores (scipy.stats) -------------------------------------------

def rankdata(x) -> np.ndarray:
    """Ranks 1..n, ties given their average rank."""
    from scipy.stats import rankdata as _rankdata

    return _rankdata(np.asarray(x, dtype=np.float64).reshape(-1), method="average")


def _pair(x, y) -> tuple[np.ndarray, np.ndarray] | None:
    """Both as float64 (n,); None when a correlation is undefined (n < 2 or a constant)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"x {x.shape} and y {y.shape} differ in length")
    if x.size < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None  # scipy would warn and return nan
    return x, y


def pearson(x, y) -> float:
    """PLCC; nan when either side is constant or fewer than 2 values."""
    from scipy.stats import pearsonr

    xy = _pair(x, y)
    return float(pearsonr(*xy).statistic) if xy else float("nan")


def spearman(x, y) -> float:
    """SRCC: Pearson of average ranks."""
    from scipy.stats import spearmanr

    xy = _pair(x, y)
    return float(spearmanr(*xy).statistic) if xy else float("nan")


def kendall(x, y) -> float:
    """KRCC, tau-b (ties in either side corrected)."""
    from scipy.stats import kendalltau

    xy = _pair(x, y)
    return float(kendalltau(*xy).statistic) if xy else float("nan")
