"""Percentile bootstrap intervals that resample prompts, not pairs.

Pairs that share a prompt share its difficulty (and often its videos), so they are not
independent draws: the unit resampled is the prompt, every pair of a drawn prompt comes along
(a cluster bootstrap). Each resample draws as many prompts as there are, with replacement, and
recomputes the figures on the pairs they bring; the interval is the (1 - ci) / 2 and
(1 + ci) / 2 quantiles of the resampled figures. A figure undefined in some resamples (no
decided pair drawn) is taken over the rest; undefined in all, its interval is None. A figure
that calibrates (acc_with_ties picks its epsilon) recalibrates in every resample, so its
interval covers the calibration's own variability.

Seeded per group: the same data, seed and group name give the same interval whatever else is
evaluated in the run.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BootstrapConfig:
    resamples: int = 1000  # 0: no intervals
    ci: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if self.resamples < 0:
            raise ValueError(f"--bootstrap: must be >= 0, got {self.resamples}")
        if not 0 < self.ci < 1:
            raise ValueError(f"--ci: must be between 0 and 1 (e.g. 0.95), got {self.ci}")


class PromptClusters:
    """Pair indices grouped by prompt, for drawing whole prompts."""

    def __init__(self, prompts: Sequence[str]) -> None:
        keys = np.asarray([str(p) for p in prompts], dtype=object)
        _, inverse = np.unique(keys, return_inverse=True) if len(keys) else ([], np.zeros(0, int))
        self.order = np.argsort(inverse, kind="stable")  # (N,) pair indices, prompt by prompt
        self.sizes = np.bincount(inverse) if len(keys) else np.zeros(0, np.int64)  # (P,)
        self.starts = np.r_[0, np.cumsum(self.sizes)[:-1]] if len(keys) else self.sizes

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One resample: pair indices of P prompts drawn with replacement."""
        p = len(self.sizes)
        picked = rng.integers(0, p, size=p)  # (P,)
        sizes = self.sizes[picked]
        # position j inside each picked prompt: arange(total) - start of its block in the output
        offsets = np.repeat(np.cumsum(sizes) - sizes, sizes)
        within = np.arange(int(sizes.sum())) - offsets
        return self.order[np.repeat(self.starts[picked], sizes) + within]


def group_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def intervals(figures: Callable[[np.ndarray], dict[str, float]], prompts: Sequence[str],
              cfg: BootstrapConfig, name: str) -> dict[str, tuple[float, float] | None]:
    """{figure: (low, high) or None}; figures(idx) computes every figure on pairs idx."""
    if cfg.resamples == 0 or len(prompts) == 0:
        return {}
    clusters, rng = PromptClusters(prompts), group_rng(cfg.seed, name)
    draws: dict[str, list[float]] = {}
    for _ in range(cfg.resamples):
        for key, value in figures(clusters.draw(rng)).items():
            draws.setdefault(key, []).append(value)
    q = [(1 - cfg.ci) / 2, (1 + cfg.ci) / 2]
    out: dict[str, tuple[float, float] | None] = {}
    for key, values in draws.items():
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        out[key] = tuple(float(x) for x in np.quantile(v, q)) if v.size else None
    return out
