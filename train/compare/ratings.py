"""Bradley-Terry and Elo ratings of generators from per-prompt comparisons, with bootstrap
intervals that resample prompts.

On each prompt, every two generators that both answered play one game on each metric: the higher
score wins; a tie is half a win each (or dropped with ties="drop"; ties="loss" is a win-rate
convention only and counts as half here, since a game both players lose has no rating meaning).

Bradley-Terry: P(i beats j) = pi_i / (pi_i + pi_j), fitted by maximum likelihood with Hunter's
(2004) MM iteration  pi_i <- W_i / sum_j N_ij / (pi_i + pi_j),  reported as theta = log pi with
mean 0 (natural-log units: theta_i - theta_j is the log-odds that i beats j). A generator that
wins (or loses) every game has no finite MLE, so `prior` virtual ties per pair that met are
added (prior=0: the plain MLE).
Elo: online updates r_i += k (s - 1 / (1 + 10^((r_j - r_i) / 400))) from 1000, prompt by
prompt in file order (each prompt one rating period).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

ELO_BASE, ELO_SCALE = 1000.0, 400.0


def prompt_games(values: np.ndarray, ties: str = "half") -> tuple[np.ndarray, np.ndarray]:
    """Per-prompt wins and games from scores (G, P), NaN = not answered.
    -> wins (P, G, G): wins[p, i, j] = i's wins over j; games (P, G, G) symmetric, 0 or 1."""
    v = values.T  # (P, G)
    vi, vj = v[:, :, None], v[:, None, :]  # (P, G, 1), (P, 1, G)
    met = ~(np.isnan(vi) | np.isnan(vj)) & ~np.eye(v.shape[1], dtype=bool)  # (P, G, G)
    with np.errstate(invalid="ignore"):
        win, tie = (vi > vj) & met, (vi == vj) & met
    games = met & ~tie if ties == "drop" else met
    wins = win + (0.0 if ties == "drop" else 0.5 * tie)
    return wins.astype(float), games.astype(float)


def fit_bt(wins: np.ndarray, games: np.ndarray, prior: float = 1.0, tol: float = 1e-10,
           max_iter: int = 10_000) -> np.ndarray:
    """Bradley-Terry log-strengths from total wins / games (..., G, G); leading axes are
    independent fits (bootstrap replicates). -> theta (..., G), mean 0 over the generators that
    played; NaN for one that played no game."""
    met = (games > 0).astype(float)
    w = wins + 0.5 * prior * met  # one virtual tie per pair = half a win each
    n = games + prior * met
    total_wins = w.sum(-1)  # (..., G)
    played = n.sum(-1) > 0  # (..., G)
    pi = np.where(played, 1.0, np.nan)
    if not played.any():  # no game at all (every comparison a dropped tie): undefined
        return np.full(played.shape, np.nan)
    with warnings.catch_warnings():  # a replicate where nobody played is all NaN: it stays so
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(max_iter):
            with np.errstate(invalid="ignore", divide="ignore"):
                pair = pi[..., :, None] + pi[..., None, :]  # (..., G, G); NaN beside a non-player
                denom = np.where(n > 0, n / pair, 0.0).sum(-1)  # (..., G)
                new = np.where(played, total_wins / denom, np.nan)
                new = new / np.exp(np.nanmean(np.log(new), axis=-1, keepdims=True))  # geo-mean 1
            done = np.nanmax(np.abs(np.log(new) - np.log(pi))) < tol
            pi = new
            if done:
                break
        with np.errstate(divide="ignore"):
            theta = np.log(pi)
        return theta - np.nanmean(theta, axis=-1, keepdims=True)


def elo(order: np.ndarray, wins: np.ndarray, games: np.ndarray, k: float = 16.0) -> np.ndarray:
    """Online Elo over prompts taken in `order` (B, L) of prompt indices, one row per replicate.
    A prompt is one rating period: each of its games is scored against the ratings at its
    start and the changes are summed (so the order of pairs within a prompt does not matter).
    -> ratings (B, G)."""
    # float32: the loop is bound by B * G * G exponentials per prompt, and ratings need no more.
    r = np.full((order.shape[0], wins.shape[1]), ELO_BASE, np.float32)  # (B, G)
    wins, games = wins.astype(np.float32), games.astype(np.float32)
    c = np.float32(np.log(10) / ELO_SCALE)
    for step in range(order.shape[1]):
        p = order[:, step]  # (B,)
        expected = 1 / (1 + np.exp(c * (r[:, None, :] - r[:, :, None])))  # (B, G, G): i vs j
        r += np.float32(k) * (games[p] * (wins[p] - expected)).sum(-1)
    return r.astype(float)


@dataclass(frozen=True)
class Rating:
    generator: str
    value: float
    ci_low: float
    ci_high: float
    rank: int  # 1 = best by the point estimate; equal estimates share a rank

    def to_json(self) -> dict:
        return {"generator": self.generator, "value": round(self.value, 4),
                "ci_low": round(self.ci_low, 4), "ci_high": round(self.ci_high, 4),
                "rank": self.rank}


def _ratings(generators: list[str], point: np.ndarray, reps: np.ndarray,
             level: float) -> list[Rating]:
    with warnings.catch_warnings():  # a generator NaN in every replicate: its interval is NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanpercentile(reps, [50 * (1 - level), 50 * (1 + level)], axis=0)  # (G,)
    # Competition ranking: 1 + how many are clearly better, so equal ratings share a rank.
    p = np.nan_to_num(point, nan=-np.inf)
    rank = 1 + (p[None, :] > p[:, None] + 1e-9).sum(1)  # (G,)
    return sorted((Rating(g, float(point[i]), float(lo[i]), float(hi[i]), int(rank[i]))
                   for i, g in enumerate(generators)), key=lambda r: (r.rank, -r.value))


def resample_prompts(n_prompts: int, rounds: int, seed: int) -> np.ndarray:
    """(rounds, P) prompt indices drawn with replacement, seeded."""
    return np.random.default_rng(seed).integers(0, n_prompts, size=(rounds, n_prompts))


def bt_ratings(generators: list[str], values: np.ndarray, ties: str, prior: float,
               draws: np.ndarray, level: float = 0.95) -> list[Rating]:
    """Bradley-Terry theta per generator with a percentile bootstrap interval over `draws`."""
    wins, games = prompt_games(values, ties)  # (P, G, G) each
    point = fit_bt(wins.sum(0), games.sum(0), prior)
    counts = np.stack([np.bincount(d, minlength=values.shape[1]) for d in draws])  # (B, P)
    reps = fit_bt(np.tensordot(counts, wins, 1), np.tensordot(counts, games, 1), prior)
    return _ratings(generators, point, reps, level)


def elo_ratings(generators: list[str], values: np.ndarray, ties: str, k: float,
                draws: np.ndarray, level: float = 0.95) -> list[Rating]:
    """Elo over the prompts in file order, with an interval from the resampled (and so
    reordered) prompt sequences in `draws`."""
    wins, games = prompt_games(values, ties)
    point = elo(np.arange(values.shape[1])[None, :], wins, games, k)[0]
    reps = elo(draws, wins, games, k)
    return _ratings(generators, point, reps, level)
