"""`cleverward eval`: the correct figures and each public convention's, with bootstrap intervals,
for a model or for any reward model's saved scores.

    report = evaluate(EvalConfig(pairs="heldout.jsonl", model="runs/r1", videos_root="data/"))
    report = evaluate(EvalConfig(pairs="heldout.jsonl", scores="all_models_scores.jsonl"))
    figure(report, "acc_no_ties")  # the headline: every human-labelled pair

For every pairs row, diff = reward(chosen) - reward(rejected) on the row's dimension (overall:
`score`; a dimension: `dimensions[dim]`). From a model, rewards come through the engine (the
same encoders, cache and head as score-dir); from a scores file (score-dir's columns, JSONL, CSV
or Parquet), rows are matched on (video, prompt), one model at a time (train/score_table.py).
Figures (train/conventions.py, train/metrics.py), per dataset and dimension, over all datasets,
and over every human-labelled pair:
  - acc_no_ties         ties excluded
  - acc_tie_threshold   every pair; a human tie is right when |diff| < tie_threshold (0.02 by
                        default, in cosine units; set it for other score scales)
  - acc_with_ties, tau_with_ties, epsilon   Deutsch et al.'s tie-calibrated accuracy
  - srcc, plcc, krcc    for score rows: each video's predicted reward against its normalised
                        human score (e.g. T2VQA MOS), per dataset and dimension
each with a bootstrap interval over prompts (train/bootstrap.py), and, with `conventions`, the
same figures as each public script computes them. A pair whose video cannot be scored is left
out and counted under "dropped" with the reason.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from cleverward.train.bootstrap import BootstrapConfig
from cleverward.train.conventions import CONVENTIONS, CORRECT, FigureParams, convention
from cleverward.train.eval_report import (
    ALL,
    SCORE_METRICS,
    format_pair_table,
    format_score_table,
    pair_records,
    score_records,
)
from cleverward.train.features import embed_pair_rows, resolve_video
from cleverward.train.pairs_io import read_pairs
from cleverward.train.score_table import ScoreTable, load_score_tables
from cleverward.train.targets import regression_targets

__all__ = ["EvalConfig", "ScoreTable", "evaluate", "figure", "format_eval"]

DEFAULT_TIE_THRESHOLD = 0.02


@dataclass(frozen=True)
class EvalConfig:
    pairs: str
    model: str | None = None  # a model to run
    scores: str | None = None  # or a scores file ...
    pick: str | None = None  # ... and the one model of it to evaluate (default: each)
    videos_root: str | None = None
    tie_threshold: float = DEFAULT_TIE_THRESHOLD
    epsilon: float | None = None  # None: tie-calibrated
    conventions: tuple[str, ...] = ()  # public conventions to add beside the correct figures
    bootstrap: int = 1000
    ci: float = 0.95
    seed: int = 0
    frames: int | None = None
    decoder: str = "auto"
    cache_dir: str | None = None
    use_cache: bool = True
    workers: int = 2
    device: str = "auto"  # where the encoders and the head run (engine/device.resolve_device)

    def __post_init__(self) -> None:
        if (self.model is None) == (self.scores is None):
            raise ValueError("give exactly one of --model and --scores")
        if self.pick is not None and self.scores is None:
            raise ValueError("--model NAME picks a model of a --scores file; give --scores")
        for name in self.conventions:
            convention(name)
        FigureParams(self.tie_threshold, self.epsilon)  # validates both
        BootstrapConfig(self.bootstrap, self.ci, self.seed)
        if self.frames is not None and self.frames < 1:
            raise ValueError(f"--frames: must be >= 1, got {self.frames}")

    @property
    def params(self) -> FigureParams:
        return FigureParams(self.tie_threshold, self.epsilon)

    @property
    def boot(self) -> BootstrapConfig:
        return BootstrapConfig(self.bootstrap, self.ci, self.seed)


@dataclass
class Rewards:
    """One model's rewards on the pairs it could score."""

    model: str
    rows: list[dict]  # kept pairs rows
    diffs: np.ndarray  # (R,) reward(chosen) - reward(rejected)
    by_video: dict  # {(prompt, video key, dimension): reward}
    dropped: Counter


# -- rewards from a model ---------------------------------------------------------------------

def _missing_hint(cfg: EvalConfig, errors: dict[str, str]) -> str | None:
    missing = sorted(p for p, why in errors.items() if "no such file" in why)
    if not missing:
        return None
    base = cfg.videos_root or str(Path(cfg.pairs).resolve().parent)
    option = "check --videos-root" if cfg.videos_root else "set --videos-root"
    return (f"video not found, e.g. {missing[0]} (relative paths are joined to {base}; "
            f"{option} to the folder the pairs file's paths are relative to)")


def _model_rewards(cfg: EvalConfig, rows: list[dict], progress=None) -> list[Rewards]:
    from cleverward.engine.device import resolve_device
    from cleverward.engine.embedding_cache import open_cache
    from cleverward.engine.model import RewardModel

    model = RewardModel.from_pretrained(cfg.model, device=resolve_device(cfg.device))
    frames = cfg.frames or model.cfg.frames
    cache = open_cache(SimpleNamespace(cache_dir=cfg.cache_dir, use_cache=cfg.use_cache,
                                       frames=frames, decoder=cfg.decoder), model)
    try:
        data = embed_pair_rows(rows, model, cache, model.decode_config(frames, cfg.decoder),
                               cfg.videos_root, str(Path(cfg.pairs).resolve().parent),
                               workers=cfg.workers, progress=progress)
    finally:
        cache.close()
    with torch.inference_mode():
        # (Nv, K, E) and (Np, K, E): every video and prompt projected once, then gathered
        head = model.frames_scorer.head(model.device)  # the head on the run's device
        pv = head.project_video(data.video.to(model.device)).cpu()
        pt = head.project_text(data.text.to(model.device)).cpu()
        k = data.dim
        r_c = (pv[data.chosen, k] * pt[data.prompt, k]).sum(-1)  # (R,)
        r_r = (pv[data.rejected, k] * pt[data.prompt, k]).sum(-1)
    by_video = {}
    for i, row in enumerate(data.rows):
        by_video[(row["prompt"], data.videos[int(data.chosen[i])], row["dimension"])] = \
            float(r_c[i])
        by_video[(row["prompt"], data.videos[int(data.rejected[i])], row["dimension"])] = \
            float(r_r[i])
    dropped = Counter(data.dropped)
    hint = _missing_hint(cfg, data.video_errors)
    if hint:  # one reason with the path tried and the option to set, instead of a bare count
        gone = sum(n for why, n in dropped.items() if "no such file" in why)
        dropped = Counter({why: n for why, n in dropped.items() if "no such file" not in why})
        dropped[hint] = gone
    diffs = (r_c - r_r).numpy().astype(np.float64)
    finite = np.isfinite(diffs)  # a NaN / Inf reward cannot be ranked: dropped, with the reason
    if not finite.all():
        dropped["the model's reward is NaN or Inf"] += int((~finite).sum())
    kept = [row for row, ok in zip(data.rows, finite, strict=True) if ok]
    return [Rewards(model.identity, kept, diffs[finite], by_video, dropped)]  # as score-dir rows


# -- rewards from a scores file ---------------------------------------------------------------

def _table_rewards(name: str, table: ScoreTable, rows: list[dict]) -> Rewards:
    kept, diffs, by_video, dropped = [], [], {}, Counter()
    for row in rows:
        rc, why_c = table.reward(row["prompt"], row["chosen"], row["dimension"])
        rr, why_r = table.reward(row["prompt"], row["rejected"], row["dimension"])
        if rc is None or rr is None:
            dropped[why_c or why_r] += 1
            continue
        kept.append(row)
        diffs.append(rc - rr)
        by_video[(row["prompt"], row["chosen"], row["dimension"])] = rc
        by_video[(row["prompt"], row["rejected"], row["dimension"])] = rr
    return Rewards(name, kept, np.asarray(diffs, np.float64), by_video, dropped)


def _file_rewards(cfg: EvalConfig, rows: list[dict]) -> list[Rewards]:
    tables = load_score_tables(cfg.scores, cfg.pick)
    return [_table_rewards(name, table, rows) for name, table in tables.items()]


# -- the report -------------------------------------------------------------------------------

def _mos_records(cfg: EvalConfig, r: Rewards) -> list[dict]:
    """SRCC / PLCC / KRCC of predicted rewards against normalised human scores (score rows)."""
    targets, pred = [], []
    pairs_dir = str(Path(cfg.pairs).resolve().parent)
    for t in regression_targets(r.rows):
        key = (t["prompt"], t["video"], t["dimension"])
        if cfg.model is not None:  # model rewards are keyed by resolved path
            key = (t["prompt"], resolve_video(t["video"], cfg.videos_root, pairs_dir),
                   t["dimension"])
        if key in r.by_video:
            targets.append(t)
            pred.append(r.by_video[key])
    return score_records(targets, pred, r.model, cfg.boot) if targets else []


def _no_pairs_error(cfg: EvalConfig, n: int, rewards: list[Rewards]) -> ValueError:
    dropped = sum((r.dropped for r in rewards), Counter())
    reasons = "; ".join(f"{k} x {why}" for why, k in dropped.most_common(3))
    return ValueError(f"{cfg.pairs}: none of the {n} pairs could be scored ({reasons})")


def evaluate(cfg: EvalConfig, progress=None) -> dict:
    """{"config", "pairs_read", "models": [{model, evaluated, dropped}], "conventions":
    {name: {script, quirk}}, "records": [flat figure records]} (train/eval_report.py)."""
    rows = read_pairs(cfg.pairs)
    if not rows:
        raise ValueError(f"{cfg.pairs}: no pairs to evaluate")
    rewards = (_model_rewards(cfg, rows, progress) if cfg.model is not None
               else _file_rewards(cfg, rows))
    if not any(r.rows for r in rewards):
        raise _no_pairs_error(cfg, len(rows), rewards)
    records: list[dict] = []
    for r in rewards:
        if r.rows:
            records += pair_records(r.rows, r.diffs, r.model, cfg.conventions, cfg.params,
                                    cfg.boot)
            records += _mos_records(cfg, r)
    used = [CORRECT, *(c for c in cfg.conventions if c != CORRECT)]
    return {
        "config": asdict(cfg), "pairs_read": len(rows),
        "models": [{"model": r.model, "evaluated": len(r.rows), "dropped": dict(r.dropped)}
                   for r in rewards],
        "conventions": {c: {"script": CONVENTIONS[c].script, "quirk": CONVENTIONS[c].quirk}
                        for c in used},
        "records": records,
    }


def figure(report: dict, metric: str, dataset: str = ALL, dimension: str = ALL,
           convention: str = CORRECT, model: str | None = None) -> dict:
    """The one record for a figure (model may be omitted when the report has one)."""
    hits = [r for r in report["records"] if r["metric"] == metric and r["dataset"] == dataset
            and r["dimension"] == dimension and r["convention"] == convention
            and (model is None or r["model"] == model)]
    if len(hits) != 1:
        raise KeyError(f"{len(hits)} records for {metric} {dataset}/{dimension} {convention}"
                       f"{'' if model is None else ' ' + model}")
    return hits[0]


def json_ready(report: dict) -> dict:
    """The report for --json: no NaN or Inf anywhere (None instead)."""
    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        return x
    return clean(report)


def format_eval(report: dict) -> str:
    conv = list(report["conventions"])  # the correct one first
    lines = []
    for m in report["models"]:
        recs = [r for r in report["records"] if r["model"] == m["model"]]
        pair_recs = [r for r in recs if r["metric"] not in SCORE_METRICS]
        lines += [f"model: {m['model']}",
                  f"pairs: {m['evaluated']} evaluated of {report['pairs_read']}"]
        lines += [f"  dropped {n}: {why}" for why, n in m["dropped"].items()]
        if not m["evaluated"]:
            lines += ["  (no figures: none of its rows matched a pair)", ""]
            continue
        for c in conv:
            info = report["conventions"][c]
            label = "correct figures" if c == CORRECT else f"convention {c}"
            lines += ["", f"{label} ({info['script']}): {info['quirk']}",
                      format_pair_table(pair_recs, c)]
        score_recs = [r for r in recs if r["metric"] in SCORE_METRICS]
        if score_recs:
            lines += ["", "correlation with normalised human scores",
                      format_score_table(score_recs)]
        lines.append("")
    ci = report["config"]
    if ci["bootstrap"]:
        lines.append(f"[low, high]: {ci['ci']:.0%} bootstrap interval over prompts "
                     f"({ci['bootstrap']} resamples, seed {ci['seed']})")
    return "\n".join(lines).rstrip()
