"""`compare`: win rates, ratings, a per-prompt A/B table and model agreement, from score files.

One model's rows are compared across generators (`model`, default: the model with most rows);
every two models that scored the same clips are also compared with each other (agreement).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cleverward.engine.dimensions import OVERALL
from cleverward.train.compare.agreement import all_agreements
from cleverward.train.compare.ratings import bt_ratings, elo_ratings, resample_prompts
from cleverward.train.compare.rows import (
    GENERATOR_FROM,
    CompareInputError,
    LoadedScores,
    ScoreTable,
    load_scores,
    score_table,
)
from cleverward.train.compare.winrate import TIES, all_win_rates


@dataclass(frozen=True)
class CompareConfig:
    """One comparison. ties: how a tied prompt counts in win rates (half | drop | loss);
    bootstrap: resamples of the prompts for rating intervals at `level`; bt_prior: virtual ties
    per pair in Bradley-Terry (0 = plain MLE); pair: two generators for the per-prompt table."""

    scores: tuple[str, ...]
    ties: str = "half"
    generator_from: str = "auto"
    model: str | None = None
    bootstrap: int = 1000
    seed: int = 0
    level: float = 0.95
    bt_prior: float = 1.0
    elo_k: float = 16.0
    pair: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scores", tuple(str(s) for s in self.scores))
        _check(len(self.scores) >= 1, "scores", "needs at least one score file")
        _check(self.ties in TIES, "ties", f"must be one of {TIES}, got {self.ties!r}")
        _check(self.generator_from in GENERATOR_FROM, "generator_from",
               f"must be one of {GENERATOR_FROM}, got {self.generator_from!r}")
        _check(self.bootstrap >= 1, "bootstrap", f"must be >= 1, got {self.bootstrap}")
        _check(0 < self.level < 1, "level", f"must be in (0, 1), got {self.level}")
        _check(self.bt_prior >= 0, "bt_prior", f"must be >= 0, got {self.bt_prior}")
        _check(self.elo_k > 0, "elo_k", f"must be > 0, got {self.elo_k}")
        if self.pair is not None:
            _check(len(self.pair) == 2 and self.pair[0] != self.pair[1], "pair",
                   f"must be two different generators, got {self.pair!r}")


def _check(ok: bool, name: str, why: str) -> None:
    if not ok:
        raise ValueError(f"CompareConfig.{name} {why}")


def pick_model(loaded: LoadedScores, model: str | None) -> str:
    if not loaded.models:
        raise CompareInputError("no scored rows in the score files (every row has an error?)")
    if model is None:
        return loaded.models[0]
    from cleverward.engine.checkpoint import matching_models

    found = matching_models(loaded.models, model)  # `runs/r1` picks `/abs/runs/r1@<digest>`
    if len(found) != 1:
        what = "no rows of" if not found else "several models' rows match"
        raise CompareInputError(f"{what} model {model!r}; the files hold "
                                f"{', '.join(loaded.models)}")
    return found[0]


def pair_table(table: ScoreTable, a: str, b: str) -> list[dict]:
    """Per prompt both answered: each metric's two scores, and the overall winner."""
    for g in (a, b):
        if g not in table.generators:
            raise CompareInputError(f"--pair: no generator {g!r}; the rows name "
                                    f"{', '.join(table.generators)}")
    ia, ib = table.generators.index(a), table.generators.index(b)
    overall = table.metric(OVERALL)  # (G, P)
    out = []
    for p, prompt in enumerate(table.prompts):
        if np.isnan(overall[ia, p]) or np.isnan(overall[ib, p]):
            continue
        sa, sb = overall[ia, p], overall[ib, p]
        winner = a if sa > sb else b if sb > sa else "tie"
        metrics = {m: [_r(table.values[k, ia, p]), _r(table.values[k, ib, p])]
                   for k, m in enumerate(table.metrics)}
        out.append({"prompt": prompt, "scores": metrics, "winner": winner})
    return out


def _r(x: float) -> float | None:
    return None if np.isnan(x) else round(float(x), 6)


def _ratings(table: ScoreTable, cfg: CompareConfig) -> tuple[dict, list]:
    draws = resample_prompts(len(table.prompts), cfg.bootstrap, cfg.seed)  # (B, P)
    bt = {m: [r.to_json() for r in bt_ratings(table.generators, table.metric(m), cfg.ties,
                                              cfg.bt_prior, draws, cfg.level)]
          for m in table.metrics}
    elo = elo_ratings(table.generators, table.metric(OVERALL), cfg.ties, cfg.elo_k, draws,
                      cfg.level)
    return bt, [r.to_json() for r in elo]


def compare(cfg: CompareConfig) -> dict:
    """Everything `cleverward compare` prints, as one JSON-ready dict."""
    return analyse(cfg)[2]


def analyse(cfg: CompareConfig) -> tuple[LoadedScores, ScoreTable, dict]:
    """The rows read, the compared model's score table, and the result `compare` returns."""
    loaded = load_scores(list(cfg.scores), cfg.generator_from)
    model = pick_model(loaded, cfg.model)
    table = score_table(loaded.clips, model)
    if len(table.generators) < 2:
        raise CompareInputError(f"model {model!r}: rows of only one generator "
                                f"({', '.join(table.generators)}); nothing to compare")
    rates = all_win_rates(table, cfg.ties)
    bt, elo = _ratings(table, cfg)
    return loaded, table, {
        "model": model, "models": loaded.models, "generators": table.generators,
        "prompts": len(table.prompts), "clips": sum(c.model == model for c in loaded.clips),
        "failed_rows": loaded.failed, "metrics": table.metrics, "ties": cfg.ties,
        "bootstrap": cfg.bootstrap, "seed": cfg.seed, "level": cfg.level,
        "bt_prior": cfg.bt_prior, "elo_k": cfg.elo_k,
        "win_rates": [r.to_json() for r in rates],
        "bradley_terry": bt, "elo": elo,
        "pair": None if cfg.pair is None else {
            "a": cfg.pair[0], "b": cfg.pair[1],
            "prompts": pair_table(table, *cfg.pair)},
        "agreement": [a.to_json() for a in all_agreements(loaded.clips, loaded.models)],
    }
