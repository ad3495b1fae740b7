"""build-pairs' embedding step: near-duplicate merging, cross-dataset pairs and mined hard
negatives over the videos a pairs file names (the rules are in train/mining.py).

    rows, stats = mine_pairs(rows, MineConfig(negatives=4, dedup=True), model, cache)

Videos are embedded through the engine and its cache (decoded once, shared with score-dir and
training); prompts through the model's text encoder. A video that cannot be decoded takes no
part in mining and is counted; its pairs are kept as they are.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from cleverward.engine.progress import report_total
from cleverward.engine.video_index import embed_videos
from cleverward.train.features import resolve_video
from cleverward.train.mining import (
    canonical_ids,
    canonical_map,
    cross_dataset_pairs,
    merge_duplicate_pairs,
    near_duplicate_groups,
    negative_pairs,
    negatives_by_prompt,
    negatives_by_video,
)
from cleverward.train.pairs_io import COLUMNS


@dataclass(frozen=True)
class MineConfig:
    negatives: int = 0  # per video, from each of: nearest prompts, look-alike videos
    dedup: bool = False  # link near-duplicate videos across datasets and merge their pairs
    duplicate_threshold: float = 0.95  # video-embedding cosine at or above: one clip
    max_prompt_similarity: float = 0.9  # nearer prompts may be paraphrases: not negatives
    videos_root: str | None = None
    workers: int = 2

    def __post_init__(self) -> None:
        if self.negatives < 0:
            raise ValueError(f"MineConfig.negatives: must be >= 0, got {self.negatives}")
        for name in ("duplicate_threshold", "max_prompt_similarity"):
            v = getattr(self, name)
            if not -1 < v <= 1:
                raise ValueError(f"MineConfig.{name}: expected a cosine in (-1, 1], got {v}")


def _items(rows: list[dict]) -> tuple[list[str], list[str], list[str]]:
    """Each video once with the prompt and dataset it was labelled under (not negatives'
    rejected sides: those were generated for another prompt)."""
    seen: dict[str, tuple[str, str]] = {}
    for row in rows:
        sides = ("chosen",) if row.get("kind") == "negative" else ("chosen", "rejected")
        for side in sides:
            seen.setdefault(row[side], (str(row["prompt"]), str(row["dataset"])))
    videos = sorted(seen)
    return videos, [seen[v][0] for v in videos], [seen[v][1] for v in videos]


def _complete(row: dict, kind: str) -> dict:
    """Mined rows carry every pairs-file column (train/pairs_io.py)."""
    out = {c: row.get(c) for c in COLUMNS}
    out.update(kind=kind, tie=bool(row.get("tie")), margin=float(row.get("margin") or 0.0))
    out.update({k: v for k, v in row.items() if k not in COLUMNS})
    return out


def mine_pairs(rows: list[dict], cfg: MineConfig, model, cache,
               pairs_dir: str | None = None, progress=None) -> tuple[list[dict], dict]:
    videos, prompts, datasets = _items(rows)
    paths = [resolve_video(v, cfg.videos_root, pairs_dir) for v in videos]
    report_total(progress, len(videos))
    embedded = embed_videos(list(zip(videos, paths, strict=True)), model, cache,
                            model.decode_config(), workers=cfg.workers, progress=progress)
    ok = [i for i, v in enumerate(videos) if v in embedded.vectors]
    stats: dict = Counter(videos=len(videos), embedded=len(ok),
                          unreadable=len(videos) - len(ok))
    if len(ok) < 2:
        return rows, dict(stats)
    vids = [videos[i] for i in ok]
    vemb = np.stack([embedded.vectors[v] for v in vids]).astype(np.float32)  # (N, Dv)
    canon = np.arange(len(vids))
    if cfg.dedup:
        groups = near_duplicate_groups(vemb, cfg.duplicate_threshold, [datasets[i] for i in ok])
        canon = canonical_ids(len(vids), groups)
        mapping = canonical_map(vids, groups)
        stats["duplicate_groups"] = len(groups)
        cross = cross_dataset_pairs(rows, mapping)
        rows, merge_stats = merge_duplicate_pairs(rows, mapping)
        stats.update(merge_stats)
        stats["cross_dataset"] = len(cross)
        rows = rows + [_complete(r, "score") for r in cross]
    if cfg.negatives > 0:
        vprompts = [prompts[i] for i in ok]
        unique = sorted(set(vprompts))
        table = dict(zip(unique, model.encode_texts(unique), strict=True))
        temb = np.stack([table[p] for p in vprompts]).astype(np.float32)  # (N, Dt)
        by_p = negatives_by_prompt(temb, vprompts, cfg.negatives, cfg.max_prompt_similarity,
                                   canon)
        by_v = negatives_by_video(vemb, temb, vprompts, cfg.negatives,
                                  cfg.max_prompt_similarity, canon)
        mined = (negative_pairs(by_p, vids, vprompts, "prompt")
                 + negative_pairs(by_v, vids, vprompts, "video"))
        for r in mined:
            r["rejected_prompt"] = vprompts[vids.index(r["rejected"])]
        stats["mined_negatives"] = len(mined)
        rows = rows + [_complete(r, "negative") for r in mined]
    return rows, dict(stats)
