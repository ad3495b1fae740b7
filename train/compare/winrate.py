"""Pairwise win rates over the prompts two generators both answered.

For generators A and B on one metric: n prompts where both have a score, A wins where its score
is higher, ties where equal. The rate counts ties as the user chooses:
    half: (wins + ties / 2) / n     drop: wins / (wins + losses)     loss: wins / n
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from cleverward.train.compare.rows import ScoreTable

TIES = ("half", "drop", "loss")


@dataclass(frozen=True)
class WinRate:
    a: str
    b: str
    metric: str
    n: int  # prompts both answered
    wins: int
    losses: int
    ties: int
    rate: float | None  # None when no prompt (or, with drop, no decided prompt) is shared

    def to_json(self) -> dict:
        return asdict(self)


def tied_rate(wins: int, losses: int, ties: int, policy: str) -> float | None:
    """A's win rate from its record under a tie policy (see the module docstring)."""
    if policy not in TIES:
        raise ValueError(f"ties must be one of {TIES}, got {policy!r}")
    n = wins + losses + ties
    if policy == "drop":
        return wins / (wins + losses) if wins + losses else None
    if n == 0:
        return None
    return (wins + 0.5 * ties) / n if policy == "half" else wins / n


def win_rate(sa: np.ndarray, sb: np.ndarray, policy: str) -> tuple[int, int, int, float | None]:
    """(wins, losses, ties, rate) of A over B from per-prompt scores (P,), NaN = not answered."""
    both = ~(np.isnan(sa) | np.isnan(sb))
    da, db = sa[both], sb[both]
    wins, losses = int((da > db).sum()), int((da < db).sum())
    ties = int(both.sum()) - wins - losses
    return wins, losses, ties, tied_rate(wins, losses, ties, policy)


def all_win_rates(table: ScoreTable, policy: str) -> list[WinRate]:
    """Every ordered pair (A, B), A != B, on every metric of the table."""
    out = []
    for metric in table.metrics:
        values = table.metric(metric)  # (G, P)
        for i, a in enumerate(table.generators):
            for j, b in enumerate(table.generators):
                if i != j:
                    w, lo, t, rate = win_rate(values[i], values[j], policy)
                    out.append(WinRate(a, b, metric, w + lo + t, w, lo, t, rate))
    return out


def win_matrix(rates: list[WinRate], generators: list[str], metric: str) -> np.ndarray:
    """(G, G) rate of row over column on `metric`; NaN on the diagonal and where undefined."""
    at = {g: i for i, g in enumerate(generators)}
    m = np.full((len(generators), len(generators)), np.nan)
    for r in rates:
        if r.metric == metric and r.rate is not None:
            m[at[r.a], at[r.b]] = r.rate
    return m
