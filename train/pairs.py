"""Scored datasets -> the VideoCross pairs: one entry point, `build_pairs(config)`.

    rows, summary = build_pairs(PairsConfig(datasets=("t2vqa:T2VQA/info.txt",)))
    write_pairs(rows, "pairs.jsonl"); print(summary, file=sys.stderr)

1. Every annotation file is read by its adapter (train/datasets/) and its dimension names mapped
   onto the canonical ones (train/taxonomy.py); names that fit none are dropped and counted.
2. Videos are checked on disk: a missing one is counted and reported, never fatal. With `dedup`,
   exact duplicates (same content hash) are merged onto one canonical path.
3. Score pairs: within one dataset, one prompt and one dimension, every two scored videos make a
   pair. The better-scored is chosen when the gap exceeds margin_frac x the scale, the scale being
   the dataset's declared range (VideoFeedback: 1-4) or else the observed max - min of that
   dataset+dimension; smaller gaps are ties. Scores are never compared across datasets: their
   scales disagree. A video scored twice for one prompt and dimension gets the mean.
4. Vote pairs: direct human preferences (GenAI-Bench, VideoGen-RewardBench, generic pair records)
   become rows as they are; tie / bothbad / same are ties, the raw label kept in `vote`.
5. Negatives (train/negatives.py): per video, `negatives_per_video` textual_alignment pairs
   against videos of other prompts of the same dataset, random or (hard_negatives) nearest in
   text-embedding space.
6. Ties are kept (tie=true) or dropped (keep_ties=False); a pair whose two sides became one video
   after dedup is dropped. Rows are sorted; one seed drives every random choice.
Paths in rows are relative to videos_root when one is given (the trainer joins them again), else
absolute. Columns: train/pairs_io.py.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from itertools import combinations
from pathlib import Path

import numpy as np

from cleverward.train.datasets import DatasetRecords, PairItem, load_dataset, parse_spec
from cleverward.train.dedup import duplicate_aliases
from cleverward.train.negatives import embed_prompts, negative_rows
from cleverward.train.pairs_io import make_row
from cleverward.train.pairs_summary import PairsSummary, summarise_rows
from cleverward.train.scales import normalise_scores, score_span
from cleverward.train.taxonomy import Taxonomy, load_taxonomy

EmbedTexts = Callable[[list[str]], np.ndarray]


def _require(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ValueError(f"PairsConfig.{name}: {message}")


@dataclass(frozen=True)
class PairsConfig:
    datasets: tuple[str, ...]  # "format:path", e.g. "videofeedback:VF/train/data_annotated.json"
    videos_root: str | None = None
    margin_frac: float = 0.05  # ties below this fraction of the dataset's scale
    keep_ties: bool = True
    negatives_per_video: int = 1
    hard_negatives: bool = False  # needs embed_texts at build time
    hard_negative_max_similarity: float = 0.95  # closer prompts may be paraphrases: skipped
    dedup: bool = True
    seed: int = 0
    taxonomy_file: str | None = None

    def __post_init__(self) -> None:
        _require(not isinstance(self.datasets, str), "datasets",
                 "expected a list of FORMAT:PATH, got one string")
        object.__setattr__(self, "datasets", tuple(self.datasets))
        _require(len(self.datasets) > 0, "datasets", "give at least one FORMAT:PATH")
        for spec in self.datasets:
            try:
                parse_spec(spec)
            except ValueError as e:
                raise ValueError(f"PairsConfig.datasets: {e}") from None
        for name in ("videos_root", "taxonomy_file"):
            value = getattr(self, name)
            _require(value is None or isinstance(value, (str, Path)), name, "expected a path")
            if isinstance(value, Path):
                object.__setattr__(self, name, str(value))
        self._check_numbers()

    def _check_numbers(self) -> None:
        m = self.margin_frac
        _require(isinstance(m, (int, float)) and not isinstance(m, bool) and 0 <= m < 1,
                 "margin_frac", f"expected a number in [0, 1), got {m!r}")
        for name in ("negatives_per_video", "seed"):
            v = getattr(self, name)
            _require(isinstance(v, int) and not isinstance(v, bool) and v >= 0, name,
                     f"expected an integer >= 0, got {v!r}")
        for name in ("keep_ties", "hard_negatives", "dedup"):
            _require(isinstance(getattr(self, name), bool), name, "expected true or false")
        s = self.hard_negative_max_similarity
        _require(isinstance(s, (int, float)) and -1 < s <= 1, "hard_negative_max_similarity",
                 f"expected a cosine in (-1, 1], got {s!r}")


@dataclass(frozen=True)
class _Score:
    dataset: str
    dimension: str
    prompt: str
    video: str
    value: float
    source: str


def _canonical(records: list[DatasetRecords], taxonomy: Taxonomy, dropped: Counter):
    scores, pairs = [], []
    for rec in records:
        for item in rec.scored:
            mapped, lost = taxonomy.map_scores(item.scores, item.dataset)
            dropped.update(f"{item.dataset}:{name}" for name in lost)
            scores += [_Score(item.dataset, dim, item.prompt, item.video, v, item.source)
                       for dim, v in sorted(mapped.items())]
        for pair in rec.pairs:
            dim = taxonomy.canonical(pair.dimension, pair.dataset)
            if dim is None:
                dropped[f"{pair.dataset}:{pair.dimension}"] += 1
            else:
                pairs.append(replace(pair, dimension=dim))
    return scores, pairs


def _declared_ranges(records: list[DatasetRecords]) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    for rec in records:
        if rec.score_range is None:
            continue
        for dataset in {i.dataset for i in rec.scored}:
            lo, hi = out.get(dataset, rec.score_range)
            out[dataset] = (min(lo, rec.score_range[0]), max(hi, rec.score_range[1]))
    return out


def _grouped(scores: list[_Score]) -> dict[tuple[str, str], dict[str, dict[str, tuple]]]:
    """(dataset, dimension) -> prompt -> video -> (mean value, first source)."""
    raw: dict = defaultdict(lambda: defaultdict(dict))
    for s in scores:
        slot = raw[(s.dataset, s.dimension)][s.prompt].setdefault(s.video, ([], s.source))
        slot[0].append(s.value)
    return {key: {prompt: {v: (sum(x) / len(x), src) for v, (x, src) in videos.items()}
                  for prompt, videos in by_prompt.items()}
            for key, by_prompt in raw.items()}


def _score_pair(key, prompt, a, b, span, threshold) -> dict:
    (va, (sa, src)), (vb, (sb, _)) = a, b
    tie = abs(sa - sb) <= threshold
    if not tie and sb > sa:
        (va, sa), (vb, sb) = (vb, sb), (va, sa)
    lo, hi = span
    return make_row(
        key[0], key[1], prompt, va, vb, kind="score", tie=tie,
        margin=round(abs(sa - sb) / (hi - lo), 6) if hi > lo else 0.0,
        score_chosen=round(float(normalise_scores(sa, lo, hi)), 6),
        score_rejected=round(float(normalise_scores(sb, lo, hi)), 6), source=src,
    )


def score_rows(scores: list[_Score], ranges: dict, margin_frac: float) -> list[dict]:
    rows = []
    for key, by_prompt in sorted(_grouped(scores).items()):
        values = [x for videos in by_prompt.values() for x, _ in videos.values()]
        span = score_span(values, ranges.get(key[0]))
        threshold = margin_frac * (span[1] - span[0])
        for prompt in sorted(by_prompt):
            videos = sorted(by_prompt[prompt].items())
            rows += [_score_pair(key, prompt, a, b, span, threshold)
                     for a, b in combinations(videos, 2)]
    return rows


def vote_rows(pairs: Iterable[PairItem]) -> list[dict]:
    return [make_row(p.dataset, p.dimension, p.prompt, p.chosen, p.rejected, kind="vote",
                     tie=p.tie, vote=p.vote, source=p.source) for p in pairs]


def _negatives(scores, pairs, config: PairsConfig, embed_texts) -> list[dict]:
    by_dataset: dict[str, set] = defaultdict(set)
    for s in scores:
        by_dataset[s.dataset].add((s.video, s.prompt))
    for p in pairs:
        by_dataset[p.dataset] |= {(p.chosen, p.prompt), (p.rejected, p.prompt)}
    vectors, index = None, {}
    if config.hard_negatives and config.negatives_per_video > 0:
        prompts = sorted({p for items in by_dataset.values() for _, p in items})
        vectors = embed_prompts(prompts, embed_texts)
        index = {p: i for i, p in enumerate(prompts)}
    rng = np.random.default_rng(config.seed)
    rows = []
    for dataset in sorted(by_dataset):
        items = sorted(by_dataset[dataset])
        own = None
        if vectors is not None:
            own = vectors[[index[p] for p in sorted({p for _, p in items})]]
        rows += negative_rows(dataset, items, config.negatives_per_video, rng, own,
                              config.hard_negative_max_similarity)
    return rows


def _display_path(path: str, videos_root: str | None) -> str:
    if videos_root is not None:
        rel = os.path.relpath(path, videos_root)
        if rel != ".." and not rel.startswith(".." + os.sep):
            return Path(rel).as_posix()
    return os.path.abspath(path)


def _finish(rows: list[dict], config: PairsConfig) -> tuple[list[dict], int, int]:
    """Drop self-pairs and (unless kept) ties; make paths portable; sort."""
    kept = [r for r in rows if r["chosen"] != r["rejected"]]
    self_pairs = len(rows) - len(kept)
    if not config.keep_ties:
        ties = sum(r["tie"] for r in kept)
        kept = [r for r in kept if not r["tie"]]
    else:
        ties = 0
    shown: dict[str, str] = {}  # one path appears in many rows: convert each once
    for r in kept:
        for side in ("chosen", "rejected"):
            path = r[side]
            if path not in shown:
                shown[path] = _display_path(path, config.videos_root)
            r[side] = shown[path]
    kept.sort(key=lambda r: (r["dataset"], r["dimension"], r["kind"], r["prompt"], r["chosen"],
                             r["rejected"]))
    return kept, self_pairs, ties


def _alias(scores, pairs, aliases: dict[str, str]):
    if not aliases:
        return scores, pairs
    scores = [replace(s, video=aliases.get(s.video, s.video)) for s in scores]
    pairs = [replace(p, chosen=aliases.get(p.chosen, p.chosen),
                     rejected=aliases.get(p.rejected, p.rejected)) for p in pairs]
    return scores, pairs


def build_pairs(
    config: PairsConfig, embed_texts: EmbedTexts | None = None
) -> tuple[list[dict], PairsSummary]:
    """All pairs rows for `config`, and what happened on the way. `embed_texts(list of str) ->
    (N, D) array` is the text encoder for hard negatives (required when hard_negatives)."""
    if config.hard_negatives and config.negatives_per_video > 0 and embed_texts is None:
        raise ValueError("PairsConfig.hard_negatives: needs embed_texts (a text encoder)")
    taxonomy = load_taxonomy(config.taxonomy_file)
    records = [load_dataset(spec, config.videos_root) for spec in config.datasets]
    dropped: Counter = Counter()
    scores, pairs = _canonical(records, taxonomy, dropped)
    videos = sorted({s.video for s in scores} | {v for p in pairs for v in (p.chosen, p.rejected)})
    missing = [v for v in videos if not os.path.exists(v)]
    aliases = duplicate_aliases(videos) if config.dedup else {}
    scores, pairs = _alias(scores, pairs, aliases)
    rows = score_rows(scores, _declared_ranges(records), config.margin_frac) + vote_rows(pairs)
    rows += _negatives(scores, pairs, config, embed_texts)
    rows, self_pairs, ties = _finish(rows, config)
    read = Counter(i.dataset for r in records for i in (*r.scored, *r.pairs))
    summary = PairsSummary(
        cells=summarise_rows(rows), items_read=dict(sorted(read.items())), videos=len(videos),
        missing_videos=len(missing),
        missing_examples=tuple(_display_path(v, config.videos_root) for v in missing[:3]),
        dropped_dimensions=dict(sorted(dropped.items())), duplicate_videos=len(aliases),
        self_pairs_dropped=self_pairs, ties_dropped=ties,
        negatives=_negatives_mode(config),
    )
    return rows, summary


def _negatives_mode(config: PairsConfig) -> str:
    if config.negatives_per_video == 0:
        return "none"
    return "hard" if config.hard_negatives else "random"
