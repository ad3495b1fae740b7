"""Pairs rows -> the tensors the trainer and `eval` work on.

Every distinct video in the rows is decoded and encoded once through the engine (and its
embedding cache, so a second run, or score-dir over the same files, decodes nothing); every
distinct prompt is encoded once. Rows then become index tensors into those two tables. A row
whose video cannot be read is dropped and counted with the reason, never fatal. Unfrozen
training (train/unfrozen.py) indexes the same way over tables with no columns and embeds per batch.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cleverward.engine.dimensions import score_index
from cleverward.engine.progress import report_total
from cleverward.engine.video_index import embed_videos


def resolve_video(path: str, videos_root: str | None, pairs_dir: str | None) -> str:
    """A pairs-file path -> a path on disk: relative paths join videos_root, else the pairs
    file's folder; absolute paths stay."""
    if os.path.isabs(path):
        return path
    base = videos_root if videos_root is not None else (pairs_dir or ".")
    return os.path.normpath(os.path.join(base, path))


@dataclass
class PairTensors:
    rows: list[dict]  # the rows kept, aligned with the index tensors below
    video: torch.Tensor  # (Nv, Dv) float32 video embeddings
    text: torch.Tensor  # (Np, Dt) float32 prompt embeddings
    videos: list[str]  # Nv resolved paths
    prompts: list[str]  # Np texts
    chosen: torch.Tensor  # (R,) int64 into video
    rejected: torch.Tensor  # (R,) int64 into video
    prompt: torch.Tensor  # (R,) int64 into text
    dim: torch.Tensor  # (R,) int64 into SCORE_NAMES
    tie: torch.Tensor  # (R,) bool
    margin: torch.Tensor  # (R,) float32, the pairs file's normalised gap
    targets: torch.Tensor  # (R, 2) float32 scores of chosen, rejected in [0, 1]; NaN: none
    dropped: Counter = field(default_factory=Counter)  # reason -> rows
    video_errors: dict[str, str] = field(default_factory=dict)  # path -> why
    decoded: int = 0
    cache_hits: int = 0
    decoded_per_rank: list = field(default_factory=list)  # under a launcher: each rank's share

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, idx: list[int] | np.ndarray) -> PairTensors:
        """The same tables, only rows idx."""
        ix = torch.as_tensor(np.asarray(idx, dtype=np.int64))
        return PairTensors(
            rows=[self.rows[i] for i in ix.tolist()], video=self.video, text=self.text,
            videos=self.videos, prompts=self.prompts, chosen=self.chosen[ix],
            rejected=self.rejected[ix], prompt=self.prompt[ix], dim=self.dim[ix],
            tie=self.tie[ix], margin=self.margin[ix], targets=self.targets[ix],
        )


def _dimension_index(row: dict, where: str) -> int:
    try:
        return score_index(str(row["dimension"]))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def embed_pair_rows(
    rows: list[dict], model, cache, decode_cfg, videos_root: str | None = None,
    pairs_dir: str | None = None, workers: int = 2, batch_size: int = 8,
    progress: Callable[[int], None] | None = None,
) -> PairTensors:
    """Embed every video and prompt the rows name, and index the rows into them. Under a
    launcher each rank embeds its share (every world-th video and prompt) and the ranks
    exchange them, so N ranks decode each video once in total."""
    from cleverward.train.distributed import gather_objects, gather_rows, world

    rank, size = world()
    paths = row_paths(rows, videos_root, pairs_dir)
    unique = sorted({p for pair in paths for p in pair})
    mine = unique[rank::size]
    report_total(progress, len(mine))
    embedded = embed_videos([(p, p) for p in mine], model, cache, decode_cfg,
                            workers=workers, batch_size=batch_size, progress=progress)
    dv = int(model.video_encoder.dim)
    local = np.stack([embedded.vectors.get(p, np.zeros(dv, np.float32)) for p in mine]) \
        if mine else np.zeros((0, dv), np.float32)
    table = gather_rows(local, len(unique))  # (len(unique), Dv), every rank
    shared = gather_objects({"errors": embedded.errors, "decoded": embedded.decoded,
                             "cache_hits": embedded.cache_hits})
    errors = {k: v for part in shared for k, v in part["errors"].items()}
    ok = [p for p in unique if p not in errors]
    index = {p: i for i, p in enumerate(unique)}
    video = table[[index[p] for p in ok]] if ok else np.zeros((0, dv), np.float32)
    prompts = sorted({str(r["prompt"]) for r in rows})
    text = gather_rows(_encode_texts(model, cache, prompts[rank::size]), len(prompts)) \
        if size > 1 else _encode_texts(model, cache, prompts)
    data = index_pair_rows(rows, paths, ok, errors, video, text)
    data.decoded = sum(part["decoded"] for part in shared)
    data.cache_hits = sum(part["cache_hits"] for part in shared)
    data.decoded_per_rank = [part["decoded"] for part in shared]
    return data


def row_paths(rows: list[dict], videos_root: str | None,
              pairs_dir: str | None) -> list[tuple[str, str]]:
    """(chosen, rejected) resolved paths per row."""
    return [(resolve_video(r["chosen"], videos_root, pairs_dir),
             resolve_video(r["rejected"], videos_root, pairs_dir)) for r in rows]


def index_pair_rows(rows: list[dict], paths: list[tuple[str, str]], ok: list[str],
                    errors: dict[str, str], video: np.ndarray, text: np.ndarray) -> PairTensors:
    """Rows -> index tensors into the tables: `ok` names the video table's rows in order (the
    readable videos; `errors` says why the others are not), `text` is one row per sorted
    distinct prompt. The tables may have 0 columns (unfrozen mode: embedded per batch)."""
    vid = {p: i for i, p in enumerate(ok)}
    prompts = sorted({str(r["prompt"]) for r in rows})
    pid = {p: i for i, p in enumerate(prompts)}
    kept, cols, dropped = [], [], Counter()
    for n, (row, (c, r)) in enumerate(zip(rows, paths, strict=True)):
        if c not in vid or r not in vid:
            bad = c if c not in vid else r
            dropped[_short_reason(errors.get(bad, "not decoded"))] += 1
            continue
        kept.append(row)
        cols.append((vid[c], vid[r], pid[str(row["prompt"])],
                     _dimension_index(row, f"pairs row {n + 1}"), bool(row.get("tie")),
                     float(row.get("margin") or 0.0), _score(row, "score_chosen"),
                     _score(row, "score_rejected")))
    c_, r_, p_, d_, t_, m_, sc, sr = zip(*cols, strict=True) if cols else ((),) * 8
    return PairTensors(
        rows=kept, video=torch.from_numpy(np.asarray(video, np.float32)),
        text=torch.from_numpy(np.asarray(text, np.float32)), videos=ok, prompts=prompts,
        chosen=torch.tensor(c_, dtype=torch.int64), rejected=torch.tensor(r_, dtype=torch.int64),
        prompt=torch.tensor(p_, dtype=torch.int64), dim=torch.tensor(d_, dtype=torch.int64),
        tie=torch.tensor(t_, dtype=torch.bool), margin=torch.tensor(m_, dtype=torch.float32),
        targets=torch.tensor(list(zip(sc, sr, strict=True)), dtype=torch.float32).reshape(-1, 2),
        dropped=dropped, video_errors={Path(p).as_posix(): e for p, e in errors.items()},
    )


def _score(row: dict, column: str) -> float:
    value = row.get(column)
    return float("nan") if value is None else float(value)


def _short_reason(error: str) -> str:
    # one line, without the path, so identical failures aggregate in the summary
    return error.splitlines()[0].split(": ", 1)[-1][:120] if error else "unknown"


def _encode_texts(model, cache, prompts: list[str]) -> np.ndarray:
    if not prompts:
        return np.zeros((0, int(model.text_encoder.dim)), np.float32)
    cached = cache.get_texts(prompts)
    missing = [p for p, v in zip(prompts, cached, strict=True) if v is None]
    if missing:
        fresh = model.encode_texts(missing)
        cache.put_texts(missing, fresh)
        table = dict(zip(missing, fresh, strict=True))
    else:
        table = {}
    return np.stack([v if v is not None else table[p]
                     for p, v in zip(prompts, cached, strict=True)])
