"""`cleverward eval`: one set of protocols for a model, or for any reward model's saved scores.

    report = evaluate(EvalConfig(pairs="heldout.jsonl", model="runs/r1", videos_root="data/"))
    report = evaluate(EvalConfig(pairs="heldout.jsonl", scores="other_model_scores.jsonl"))

For every pairs row, diff = reward(chosen) - reward(rejected) on the row's dimension (overall:
`score`; a dimension: `dimensions[dim]`). From a model, rewards come through the engine (the
same encoders, cache and head as score-dir); from a scores file (score-dir's columns, JSONL, CSV
or Parquet), rows are matched on (video, prompt). Metrics (train/metrics.py), per dataset and
dimension and over all datasets:
  - acc_no_ties         ties excluded (UnifiedReward's GenAI-Bench convention)
  - acc_tie_threshold   every pair; a human tie is right when |diff| < tie_threshold
                        (VideoScore's convention; its 0.5 was on a 1-4 scale: the default here,
                        0.02, is in cosine units and must be set for other score scales)
  - acc_with_ties, tau_with_ties   Deutsch et al.'s tie-calibrated accuracy (epsilon reported)
  - srcc, plcc          for score rows: each video's predicted reward against its normalised
                        human score (e.g. T2VQA MOS), per dataset and dimension
A pair whose video cannot be scored is left out and counted under "dropped" with the reason.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from types import SimpleNamespace

import numpy as np
import torch

from cleverward.engine.dimensions import OVERALL
from cleverward.train.features import embed_pair_rows, resolve_video
from cleverward.train.metrics import evaluate_pairs, evaluate_scores, format_report, pair_metrics
from cleverward.train.pairs_io import read_pairs
from cleverward.train.targets import regression_targets

DEFAULT_TIE_THRESHOLD = 0.02


@dataclass(frozen=True)
class EvalConfig:
    pairs: str
    model: str | None = None
    scores: str | None = None
    videos_root: str | None = None
    tie_threshold: float = DEFAULT_TIE_THRESHOLD
    epsilon: float | None = None  # None: tie-calibrated
    frames: int | None = None
    decoder: str = "auto"
    cache_dir: str | None = None
    use_cache: bool = True
    workers: int = 2

    def __post_init__(self) -> None:
        if (self.model is None) == (self.scores is None):
            raise ValueError("EvalConfig: give exactly one of model and scores")
        if self.tie_threshold < 0:
            raise ValueError(f"EvalConfig.tie_threshold: must be >= 0, got {self.tie_threshold}")
        if self.epsilon is not None and self.epsilon < 0:
            raise ValueError(f"EvalConfig.epsilon: must be >= 0, got {self.epsilon}")


# -- rewards from a model ---------------------------------------------------------------------

def _model_rewards(cfg: EvalConfig, rows: list[dict]):
    """-> (kept rows, diffs, {(prompt, video path, dim): reward}, dropped, source name)."""
    from cleverward.engine.embedding_cache import open_cache
    from cleverward.engine.model import RewardModel

    model = RewardModel.from_pretrained(cfg.model)
    frames = cfg.frames or model.cfg.frames
    cache = open_cache(SimpleNamespace(cache_dir=cfg.cache_dir, use_cache=cfg.use_cache,
                                       frames=frames, decoder=cfg.decoder), model)
    try:
        data = embed_pair_rows(rows, model, cache, model.decode_config(frames, cfg.decoder),
                               cfg.videos_root, str(Path(cfg.pairs).resolve().parent),
                               workers=cfg.workers)
    finally:
        cache.close()
    with torch.inference_mode():
        # (Nv, K, E) and (Np, K, E): every video and prompt projected once, then gathered
        pv = model.head.project_video(data.video)
        pt = model.head.project_text(data.text)
        k = data.dim
        r_c = (pv[data.chosen, k] * pt[data.prompt, k]).sum(-1)  # (R,)
        r_r = (pv[data.rejected, k] * pt[data.prompt, k]).sum(-1)
    rewards = {}
    for i, row in enumerate(data.rows):
        rewards[(row["prompt"], data.videos[int(data.chosen[i])], row["dimension"])] = \
            float(r_c[i])
        rewards[(row["prompt"], data.videos[int(data.rejected[i])], row["dimension"])] = \
            float(r_r[i])
    return data.rows, (r_c - r_r).numpy(), rewards, data.dropped


# -- rewards from a scores file ---------------------------------------------------------------

class ScoreTable:
    """score-dir rows, looked up by (prompt, video). Videos match on their path relative to the
    scored folder; a pairs path that is longer or shorter matches on its trailing components
    when exactly one scored video shares them."""

    def __init__(self, rows: list[dict], source: str) -> None:
        self.source = source
        self.by_key: dict[tuple[str, str], dict] = {}
        self.by_name: dict[tuple[str, str], list[str]] = {}
        for row in rows:
            video = PurePosixPath(str(row["video"]).replace(os.sep, "/")).as_posix()
            self.by_key[(row["prompt"], video)] = row
            self.by_name.setdefault((row["prompt"], PurePosixPath(video).name), []).append(video)

    def lookup(self, prompt: str, video: str) -> dict | None:
        v = PurePosixPath(video.replace(os.sep, "/"))
        if (prompt, v.as_posix()) in self.by_key:
            return self.by_key[(prompt, v.as_posix())]
        candidates = self.by_name.get((prompt, v.name), [])
        matches = [c for c in candidates if _tail_match(v, PurePosixPath(c))]
        return self.by_key[(prompt, matches[0])] if len(matches) == 1 else None

    def reward(self, prompt: str, video: str, dimension: str) -> tuple[float | None, str]:
        row = self.lookup(prompt, video)
        if row is None:
            return None, f"no row for this (video, prompt) in {self.source}"
        if row.get("error") or row.get("score") is None:
            return None, f"scored with an error: {str(row.get('error'))[:80]}"
        if dimension == OVERALL:
            return float(row["score"]), ""
        value = (row.get("dimensions") or {}).get(dimension)
        if value is None:
            return None, f"{self.source} has no {dimension!r} score"
        return float(value), ""


def _tail_match(a: PurePosixPath, b: PurePosixPath) -> bool:
    n = min(len(a.parts), len(b.parts))
    return a.parts[-n:] == b.parts[-n:]


def load_score_table(path: str) -> ScoreTable:
    from cleverward.engine.output import read_rows

    suffix = Path(path).suffix.lower()
    fmt = {".csv": "csv", ".parquet": "parquet"}.get(suffix, "jsonl")
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: scores file not found")
    return ScoreTable(read_rows(path, fmt), path)


def _file_rewards(cfg: EvalConfig, rows: list[dict]):
    table = load_score_table(cfg.scores)
    kept, diffs, rewards, dropped = [], [], {}, Counter()
    for row in rows:
        rc, why_c = table.reward(row["prompt"], row["chosen"], row["dimension"])
        rr, why_r = table.reward(row["prompt"], row["rejected"], row["dimension"])
        if rc is None or rr is None:
            dropped[why_c or why_r] += 1
            continue
        kept.append(row)
        diffs.append(rc - rr)
        rewards[(row["prompt"], row["chosen"], row["dimension"])] = rc
        rewards[(row["prompt"], row["rejected"], row["dimension"])] = rr
    return kept, np.asarray(diffs, np.float64), rewards, dropped


# -- the report -------------------------------------------------------------------------------

def _mos_report(cfg: EvalConfig, rows: list[dict], rewards: dict) -> dict:
    """SRCC / PLCC of predicted rewards against normalised human scores (score rows)."""
    datasets, dims, human, pred = [], [], [], []
    pairs_dir = str(Path(cfg.pairs).resolve().parent)
    for t in regression_targets(rows):
        key = (t["prompt"], t["video"], t["dimension"])
        if cfg.model is not None:  # model rewards are keyed by resolved path
            key = (t["prompt"], resolve_video(t["video"], cfg.videos_root, pairs_dir),
                   t["dimension"])
        if key in rewards:
            datasets.append(t["dataset"])
            dims.append(t["dimension"])
            human.append(t["target"])
            pred.append(rewards[key])
    if not human:
        return {}
    return evaluate_scores(datasets, dims, human, pred)


def evaluate(cfg: EvalConfig) -> dict:
    rows = read_pairs(cfg.pairs)
    if not rows:
        raise ValueError(f"{cfg.pairs}: no pairs to evaluate")
    source = _model_rewards if cfg.model is not None else _file_rewards
    kept, diffs, rewards, dropped = source(cfg, rows)
    if not kept:
        reasons = "; ".join(f"{n} x {why}" for why, n in dropped.most_common(3))
        raise ValueError(f"{cfg.pairs}: none of the {len(rows)} pairs could be scored ({reasons})")
    human = [i for i, r in enumerate(kept) if r.get("kind") != "negative"]
    return {
        "config": asdict(cfg),
        "pairs": {"read": len(rows), "evaluated": len(kept), "dropped": dict(dropped)},
        # one number to compare runs by: every human-labelled pair, all datasets and dimensions
        "headline": pair_metrics([0 if kept[i]["tie"] else 1 for i in human], diffs[human],
                                 cfg.tie_threshold, cfg.epsilon) if human else {},
        "pairwise": evaluate_pairs(kept, diffs, cfg.tie_threshold, cfg.epsilon),
        "scores": _mos_report(cfg, kept, rewards),
    }


def format_eval(report: dict) -> str:
    lines = [f"pairs: {report['pairs']['evaluated']} evaluated of {report['pairs']['read']}"]
    h = report["headline"]
    if h:
        lines.append(f"human-labelled pairs, all dimensions: {h['n']} ({h['ties']} ties); "
                     f"accuracy without ties {h['acc_no_ties']:.4f}, with tie threshold "
                     f"{h['acc_tie_threshold']:.4f}, tau with ties {h['tau_with_ties']:.4f}")
    for why, n in report["pairs"]["dropped"].items():
        lines.append(f"  dropped {n}: {why}")
    lines += ["", format_report(report["pairwise"])]
    if report["scores"]:
        lines += ["", "correlation with normalised human scores", format_report(report["scores"])]
    return "\n".join(lines)
