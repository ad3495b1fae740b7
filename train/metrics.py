"""Evaluation metrics under the conventions the published video reward models report.

Pairwise metrics take `labels` (+1: the first video, A / chosen, is preferred; -1: the second;
0: a human tie) and `diffs` = score(A) - score(B) from the model. With pairs-file rows, A is
`chosen`, so a row's label is 0 if it is a tie, else +1.

- `pairwise_accuracy`: ties excluded, as UnifiedReward scores GenAI-Bench (tie and bothbad pairs
  dropped). A model difference of exactly 0 on a decided pair counts as wrong.
- `pairwise_accuracy_tie_threshold`: every pair counted, as VideoScore scores GenAI-Bench
  (benchmark/get_genaibench_pairwise_acc.py): a decided pair is right when the sign matches, a
  human tie is right when |diff| < threshold. VideoScore used 0.5 on its 1-4 score scale: the
  threshold is in the model's units and must be chosen for them.
- `accuracy_with_ties` / `kendall_tau_with_ties`: GenAI-Bench's own protocol asks a judge for one
  of four labels (A>B, B>A, A=B=Good, A=B=Bad) and counts a tie prediction right on tievote and
  bothbad_vote. A scalar reward predicts a tie when |diff| <= epsilon; this is the pairwise
  accuracy with ties of Deutsch et al. 2023 ("Ties Matter", arXiv:2305.14324), as VideoAlign
  (calc_accuracy.py) reports "w/ Ties" on GenAI-Bench and VideoGen-RewardBench:
      acc_eq = (C + T_hm) / (C + D + T_h + T_m + T_hm)
  C concordant, D discordant, T_h human tie only, T_m model tie only, T_hm both tie. With
  epsilon=None it is tie-calibrated: the epsilon among {|diff_i|} maximising acc_eq (VideoAlign
  updates its counts pair by pair, so with repeated |diff| values it can score a state no single
  epsilon produces; here every candidate epsilon is evaluated whole). Their tau_eq is
      tau_eq = (C + T_hm - D - T_h - T_m) / N = 2 acc_eq - 1.
  For held-out numbers, calibrate epsilon on a validation split and pass it in.
- `spearman` (SRCC, average ranks for ties) and `pearson` (PLCC, plain, with no logistic
  fitting) between predicted scores and MOS, numpy only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def _arrays(labels, diffs) -> tuple[np.ndarray, np.ndarray]:
    h = np.asarray(labels, dtype=np.int64).reshape(-1)
    m = np.asarray(diffs, dtype=np.float64).reshape(-1)
    if h.shape != m.shape:
        raise ValueError(f"labels {h.shape} and diffs {m.shape} differ in length")
    if not np.isin(h, (-1, 0, 1)).all():
        raise ValueError("labels must be +1, -1 or 0")
    return h, m


def pairwise_accuracy(labels, diffs) -> float:
    """Ties excluded (nan when every pair is a tie)."""
    h, m = _arrays(labels, diffs)
    keep = h != 0
    if not keep.any():
        return float("nan")
    return float(np.mean(h[keep] * m[keep] > 0))


def pairwise_accuracy_tie_threshold(labels, diffs, threshold: float = 0.5) -> float:
    """Ties counted: right when |diff| < threshold (VideoScore's rule)."""
    h, m = _arrays(labels, diffs)
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
    h, m = _arrays(labels, diffs)
    model_tie = np.abs(m) <= epsilon
    human_tie = h == 0
    decided = ~human_tie & ~model_tie
    return TieStats(
        C=int(np.sum(decided & (h * m > 0))), D=int(np.sum(decided & (h * m <= 0))),
        Th=int(np.sum(human_tie & ~model_tie)), Tm=int(np.sum(~human_tie & model_tie)),
        Thm=int(np.sum(human_tie & model_tie)),
    )


def _calibrated(h: np.ndarray, m: np.ndarray) -> tuple[float, float]:
    """max over epsilon in {|m_i|} of acc_eq, by cumulative counts over sorted |m|: O(N log N)."""
    a = np.abs(m)
    order = np.argsort(a, kind="stable")
    a, h, m = a[order], h[order], m[order]
    tie_cum = np.cumsum(h == 0)  # human ties with |m| <= a[i] -> T_hm
    right = (h != 0) & (h * m > 0)
    right_after = right.sum() - np.cumsum(right)  # concordant pairs with |m| > a[i] -> C
    last = np.r_[a[1:] != a[:-1], True]  # the last index of each distinct |m|
    acc = (tie_cum + right_after)[last] / len(a)
    best = int(np.argmax(acc))  # first maximum: the smallest such epsilon
    return float(acc[best]), float(a[last][best])


def accuracy_with_ties(labels, diffs, epsilon: float | None = None) -> tuple[float, float]:
    """(acc_eq, epsilon used); epsilon=None calibrates it (see the module docstring)."""
    h, m = _arrays(labels, diffs)
    if h.size == 0:
        return float("nan"), float("nan")
    if epsilon is None:
        return _calibrated(h, m)
    return tie_stats(h, m, epsilon).accuracy, float(epsilon)


def kendall_tau_with_ties(labels, diffs, epsilon: float | None = None) -> tuple[float, float]:
    """(tau_eq, epsilon used) = (2 acc_eq - 1, epsilon)."""
    acc, eps = accuracy_with_ties(labels, diffs, epsilon)
    return 2 * acc - 1, eps


def rankdata(x) -> np.ndarray:
    """Ranks 1..n, ties given their average rank (as scipy.stats.rankdata 'average')."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    starts = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    group = np.cumsum(starts) - 1  # (n,) group id in sorted order
    first = np.flatnonzero(starts)
    counts = np.diff(np.r_[first, len(x)])
    avg = first + (counts + 1) / 2.0  # 1-based average rank of each group
    ranks = np.empty(len(x))
    ranks[order] = avg[group]
    return ranks


def pearson(x, y) -> float:
    """PLCC; nan when either side is constant or fewer than 2 values."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"x {x.shape} and y {y.shape} differ in length")
    if x.size < 2:
        return float("nan")
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt((xc @ xc) * (yc @ yc))
    return float(xc @ yc / denom) if denom > 0 else float("nan")


def spearman(x, y) -> float:
    """SRCC: Pearson of average ranks."""
    return pearson(rankdata(x), rankdata(y))


# -- grouped reports -----------------------------------------------------------------------

ALL = "all"


def pair_metrics(labels, diffs, tie_threshold: float = 0.5,
                 epsilon: float | None = None) -> dict[str, float]:
    h, m = _arrays(labels, diffs)
    acc_eq, eps = accuracy_with_ties(h, m, epsilon)
    return {
        "n": int(h.size), "ties": int(np.sum(h == 0)),
        "acc_no_ties": pairwise_accuracy(h, m),
        "acc_tie_threshold": pairwise_accuracy_tie_threshold(h, m, tie_threshold),
        "acc_with_ties": acc_eq, "tau_with_ties": 2 * acc_eq - 1, "epsilon": eps,
    }


def _group_key(row: dict) -> tuple[str, str]:
    # mined negatives are a construction, not a human label: never mixed into a human metric
    suffix = "[negative]" if row.get("kind") == "negative" else ""
    return str(row["dataset"]), f"{row['dimension']}{suffix}"


def evaluate_pairs(rows: Sequence[dict], diffs, tie_threshold: float = 0.5,
                   epsilon: float | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """{dataset: {dimension: metrics}} plus {"all": {dimension: metrics}} over every dataset.

    rows: pairs-file rows; diffs[i] = reward(rows[i].chosen) - reward(rows[i].rejected) for
    rows[i].dimension. Negative rows are reported as "<dimension>[negative]"."""
    d = np.asarray(diffs, dtype=np.float64).reshape(-1)
    if len(rows) != d.size:
        raise ValueError(f"{len(rows)} rows but {d.size} diffs")
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        dataset, dim = _group_key(row)
        groups[(dataset, dim)].append(i)
        groups[(ALL, dim)].append(i)
    labels = np.array([0 if r["tie"] else 1 for r in rows], dtype=np.int64)
    report: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for (dataset, dim), idx in sorted(groups.items()):
        report[dataset][dim] = pair_metrics(labels[idx], d[idx], tie_threshold, epsilon)
    return dict(report)


def evaluate_scores(datasets: Sequence[str], dimensions: Sequence[str], human, predicted
                    ) -> dict[str, dict[str, dict[str, float]]]:
    """{dataset: {dimension: {"n", "srcc", "plcc"}}} for score datasets (e.g. MOS)."""
    h = np.asarray(human, dtype=np.float64).reshape(-1)
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if not len(datasets) == len(dimensions) == h.size == p.size:
        raise ValueError("datasets, dimensions, human and predicted differ in length")
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, key in enumerate(zip(datasets, dimensions, strict=True)):
        groups[key].append(i)
    report: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    for (dataset, dim), idx in sorted(groups.items()):
        report[dataset][dim] = {"n": len(idx), "srcc": spearman(h[idx], p[idx]),
                                "plcc": pearson(h[idx], p[idx])}
    return dict(report)


def _cell(value) -> str:
    if isinstance(value, int):
        return str(value)
    if value != value:  # nan
        return "-"
    return f"{value:.4f}"


def format_report(report: dict[str, dict[str, dict[str, float]]]) -> str:
    """A fixed-width table, one line per dataset x dimension; accuracies in [0, 1]."""
    metrics = sorted({k for dims in report.values() for m in dims.values() for k in m},
                     key=lambda k: (k not in ("n", "ties"), k))
    head = ["dataset", "dimension", *metrics]
    body = [[dataset, dim, *(_cell(m.get(k, float("nan"))) for k in metrics)]
            for dataset, dims in report.items() for dim, m in dims.items()]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in [head, *body]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)
