"""`score-dir`: score every (video, prompt) pair of a folder and a prompts file.

    plan (prompts, videos, resume) -> text embeddings -> [cache | decode pool -> video encoder]
      -> reward head -> rows appended as each batch finishes -> summary + ranking

The encoder runs in the calling thread on batches while the pool decodes the next clips. Batches
are dynamic: up to cfg.batch_size clips, but whenever the next clip is not decoded yet the clips
in hand are encoded at once, so the encoder works while the decoders do instead of waiting for a
full batch (ONNX Runtime's cost per frame is flat from one clip, 8 frames, up). The summary's
`timings` say where the calling thread's time went (the decoders run beside it).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from cleverward.engine.cache_api import NullCache
from cleverward.engine.config import ScoreConfig
from cleverward.engine.decode import VIDEO_SUFFIXES
from cleverward.engine.decode.frames_dir import is_frames_dir
from cleverward.engine.decode.source import source_problem
from cleverward.engine.decode_pool import decode_stream
from cleverward.engine.encode_batch import encode_isolating
from cleverward.engine.output import ReadResult, RowWriter, make_row, provenance, read_output
from cleverward.engine.output_target import owning, resolve_output
from cleverward.engine.progress import report_total
from cleverward.engine.prompts import PromptEntry, parse_prompts
from cleverward.engine.run_record import (
    Resumed,
    model_identity,
    read_run_record,
    resume,
    save_run_record,
)

TIMING_KEYS = ("plan", "text", "cached", "decode_wait", "encode", "score")
MAX_WARNINGS = 200  # kept in the summary; the count is always exact


@dataclass
class ScoreSummary:
    scored: int = 0
    failed: int = 0
    decoded: int = 0
    cache_hits: int = 0
    seconds: float = 0.0
    resumed: int = 0  # rows of this run's plan kept from an earlier run
    untouched: int = 0  # rows of other prompts, videos or models in the output, left as they are
    skipped_files: int = 0
    skipped_dirs: int = 0  # dot-folders (.git, .cache, ...) passed over, not walked
    rescored: int = 0  # earlier rows scored again because nothing proved them fresh
    dropped_rows: int = 0  # torn or invalid rows found in the output (their pairs are rescored)
    warnings: list[str] = field(default_factory=list)  # doubtful acceptances, rescore reasons
    ranking: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    # seconds of the calling thread: plan, text, cached (rows from cached embeddings),
    # decode_wait (blocked on the decode pool), encode (video encoder), score (head, cache, rows)
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TIMING_KEYS, 0.0))

    def to_json(self) -> dict:
        return {"scored": self.scored, "failed": self.failed, "decoded": self.decoded,
                "cache_hits": self.cache_hits, "seconds": round(self.seconds, 3),
                "resumed": self.resumed, "untouched": self.untouched,
                "skipped_files": self.skipped_files, "skipped_dirs": self.skipped_dirs,
                "rescored": self.rescored, "dropped_rows": self.dropped_rows,
                "warnings": self.warnings[:MAX_WARNINGS]}

    def warn(self, message: str) -> None:
        self.warnings.append(message)


@dataclass
class Listing:
    videos: list[str]  # sorted paths relative to the folder
    skipped_files: int = 0  # files without a video suffix
    skipped_dirs: int = 0  # dot-folders, not walked
    hidden: list[str] = field(default_factory=list)  # the first few of them
    warnings: list[str] = field(default_factory=list)


def list_folder(folder: str | Path) -> Listing:
    """Videos under `folder` (files with a video suffix, folders of frame images). Dot-folders
    (.git, .cache) are counted and not walked. A name that is not UTF-8 cannot be written into a
    row: it is skipped with a warning that shows its bytes. Symlinks are listed as they are; the
    decoders and the cache refuse those that do not lead to a regular file (source.py)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder")
    out = Listing([])
    for dirpath, dirnames, filenames in os.walk(root, onerror=lambda exc: out.warnings.append(
            f"{exc.filename}: cannot list it ({exc.strerror}); skipped")):
        here = Path(dirpath)
        if here != root and is_frames_dir(here):
            _add(out, here.relative_to(root).as_posix())
            dirnames.clear()  # its images are frames of one video
            continue
        hidden = [d for d in dirnames if d.startswith(".")]
        out.skipped_dirs += len(hidden)
        out.hidden += [(here / d).relative_to(root).as_posix() for d in hidden][:5]
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if Path(name).suffix.lower() in VIDEO_SUFFIXES:
                _add(out, (here / name).relative_to(root).as_posix())
            else:
                out.skipped_files += 1
    out.videos.sort()
    return out


def _add(listing: Listing, rel: str) -> None:
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:  # os.walk gave undecodable bytes as surrogates
        shown = os.fsencode(rel).decode("utf-8", "backslashreplace")
        listing.warnings.append(f"{shown}: file name is not valid UTF-8; skipped (rename it)")
        listing.skipped_files += 1
        return
    listing.videos.append(rel)


def list_videos(folder: str | Path) -> tuple[list[str], int]:
    """(videos, files passed over): see list_folder."""
    listing = list_folder(folder)
    return listing.videos, listing.skipped_files


def plan_pairs(entries: list[PromptEntry], videos: list[str]) -> dict[str, list[str]]:
    """video -> its prompts (deduplicated, in file order)."""
    plan: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        for video in [entry.video] if entry.video else videos:
            if entry.prompt not in plan[video]:
                plan[video].append(entry.prompt)
    return dict(plan)


def _embed_prompts(model, prompts: list[str], cache) -> dict[str, np.ndarray]:
    cached = cache.get_texts(prompts)
    missing = [p for p, v in zip(prompts, cached, strict=True) if v is None]
    fresh = model.encode_texts(missing) if missing else np.zeros((0, 1), np.float32)
    if missing:
        cache.put_texts(missing, fresh)
    table = {p: v for p, v in zip(prompts, cached, strict=True) if v is not None}
    table.update(zip(missing, fresh, strict=True))
    return table


class _Scorer:
    """Holds what one run needs to turn video embeddings into rows."""

    def __init__(self, model, text_table, plan, writer, summary, model_name) -> None:
        self.model, self.text, self.plan = model, text_table, plan
        self.writer, self.summary, self.model_name = writer, summary, model_name

    def fail(self, video: str, error: str) -> None:
        for prompt in self.plan[video]:
            self.writer.write(make_row(video, prompt, None, self.model_name, error))
            self.summary.failed += 1

    def score_batch(self, videos: list[str], vectors: np.ndarray) -> None:
        prompts = sorted({p for v in videos for p in self.plan[v]})
        index = {p: i for i, p in enumerate(prompts)}
        text = np.stack([self.text[p] for p in prompts])  # (U, Dt)
        scores = self.model.score(vectors, text)  # (B, U, K)
        for b, video in enumerate(videos):
            for prompt in self.plan[video]:
                row = make_row(video, prompt, scores[b, index[prompt]], self.model_name)
                self.writer.write(row)
                if row["score"] is None:  # NaN / Inf from the head: an error row
                    self.summary.failed += 1
                    continue
                self.summary.scored += 1
                self.summary.ranking.setdefault(prompt, []).append((row["score"], video))


def score_directory(
    cfg: ScoreConfig, model=None, cache=None, progress: Callable[[int], None] | None = None,
    stream=None,
) -> ScoreSummary:
    """Run one score-dir job; rows go to cfg.out as they finish. `progress(n)` per video done.
    `stream`: where rows go when cfg.out is stdout (default sys.stdout)."""
    from cleverward.engine.model import RewardModel

    start = time.perf_counter()
    target = resolve_output(cfg.out)  # a device or FIFO is refused before any work
    root = Path(cfg.videos_dir)
    entries = parse_prompts(cfg.prompts_file, root, missing_ok=True)  # errors before decoding
    missing = {e.video: e.missing for e in reversed(entries) if e.missing}  # first line wins
    listing = list_folder(root)
    plan = plan_pairs(entries, listing.videos)
    if cfg.shard[1] > 1:
        from cleverward.engine.sharding import shard_of

        k, n = cfg.shard
        plan = {v: ps for v, ps in plan.items() if shard_of(root / v, n) == k}
    if model is None:
        from cleverward.engine.backends import choose_backend

        model = RewardModel.from_pretrained(cfg.model)
        model = model.with_backend(choose_backend(cfg.backend, model)[0])
    cache = cache or NullCache()
    decode_cfg = model.decode_config(cfg.frames, cfg.decoder)
    with owning(target):
        identity = model_identity(model, decode_cfg)
        resumed = _resume(cfg, target, plan, root, identity)
        summary = _start_summary(listing, resumed)
        mark = time.perf_counter()
        summary.timings["plan"] = mark - start
        text_table = _embed_prompts(model, sorted({p for ps in plan.values() for p in ps}), cache)
        summary.timings["text"] = time.perf_counter() - mark
        report_total(progress, len(plan))
        _write_rows(cfg, target, resumed, stream, lambda writer: _score_plan(
            cfg, model, cache, root, plan, text_table, decode_cfg, writer, summary, progress,
            missing), provenance(asdict(cfg), identity))
    for warning in getattr(cache, "warnings", ()):
        summary.warn(warning)
    summary.seconds = time.perf_counter() - start
    return summary


def _resume(cfg: ScoreConfig, target, plan, root: Path, identity: dict) -> Resumed:
    """The earlier output's rows against this plan (nothing for stdout or --overwrite)."""
    if target.is_stdout or not cfg.resume:
        return resume(cfg.model, plan, root, identity, ReadResult(), None, None)
    read = read_output(target.path, cfg.format)
    record, problem = read_run_record(target.path)
    return resume(cfg.model, plan, root, identity, read, record, problem)


def _start_summary(listing: Listing, resumed: Resumed) -> ScoreSummary:
    summary = ScoreSummary(resumed=len(resumed.kept), skipped_files=listing.skipped_files,
                           skipped_dirs=listing.skipped_dirs, rescored=resumed.stale,
                           dropped_rows=resumed.dropped,
                           untouched=len(resumed.rows) - len(resumed.kept))
    if listing.skipped_dirs:
        shown = ", ".join(listing.hidden[:5]) + (", ..." if listing.skipped_dirs > 5 else "")
        summary.warn(f"{listing.skipped_dirs} dot-folder(s) skipped, not walked: {shown}")
    for warning in listing.warnings + resumed.reasons:
        summary.warn(warning)
    for row in resumed.kept:
        summary.ranking.setdefault(row["prompt"], []).append((row["score"], row["video"]))
    return summary


def _write_rows(cfg, target, resumed: Resumed, stream, score, about: dict | None = None) -> None:
    """Open the writer, record the run beside a file output, and let `score(writer)` run."""
    if target.is_stdout:
        import sys

        with RowWriter(None, cfg.format, stream=stream or sys.stdout) as writer:
            score(writer)
        return
    writer = RowWriter(target.path, cfg.format, resumed.rows, provenance=about)
    try:
        with writer:
            if writer.appends:  # rows land as they finish: record them now
                save_run_record(target.path, resumed.record)
            score(writer)
    finally:
        if writer.closed and not writer.appends:  # Parquet: the rows landed on close
            save_run_record(target.path, resumed.record)


def _score_plan(cfg, model, cache, root, plan, text_table, decode_cfg, writer, summary,
                progress, missing=None) -> None:
    mark = time.perf_counter()
    scorer = _Scorer(model, text_table, plan, writer, summary, cfg.model)
    pending_v, pending_e, to_decode = [], [], []
    for video in plan:
        problem = (missing or {}).get(video) or source_problem(root / video)
        if problem is not None:  # never hashed, never decoded: an error row at once
            scorer.fail(video, problem)
            if progress:
                progress(1)
            continue
        vec = cache.get_video(str(root / video))
        if vec is None:
            to_decode.append(video)
            continue
        summary.cache_hits += 1
        pending_v.append(video)
        pending_e.append(vec)
        if len(pending_v) >= 256:
            scorer.score_batch(pending_v, np.stack(pending_e))
            pending_v, pending_e = [], []
    if pending_v:
        scorer.score_batch(pending_v, np.stack(pending_e))
    if progress and summary.cache_hits:
        progress(summary.cache_hits)
    summary.timings["cached"] = time.perf_counter() - mark
    _encode_and_score(cfg, model, cache, root, to_decode, decode_cfg, scorer, progress)


def _encode_and_score(cfg, model, cache, root, videos, decode_cfg, scorer, progress) -> None:
    batch: list = []
    timings = scorer.summary.timings

    def flush() -> None:
        mark = time.perf_counter()
        results = encode_isolating(model, [d.frames for d in batch])
        encoded = time.perf_counter()
        timings["encode"] += encoded - mark
        good = [(d, vec) for d, (vec, _) in zip(batch, results, strict=True) if vec is not None]
        for d, (vec, error) in zip(batch, results, strict=True):
            if vec is None:
                scorer.fail(d.key, error)
            else:
                cache.put_video(d.path, vec)
        if good:
            scorer.score_batch([d.key for d, _ in good], np.stack([v for _, v in good]))
        if progress:
            progress(len(batch))
        batch.clear()
        timings["score"] += time.perf_counter() - encoded

    def flush_ready() -> None:  # the next clip is still decoding: encode what is here meanwhile
        if batch:
            flush()

    items = ((v, str(root / v)) for v in videos)
    stream = decode_stream(items, decode_cfg, workers=cfg.workers, on_wait=flush_ready)
    while True:
        mark, busy = time.perf_counter(), timings["encode"] + timings["score"]
        d = next(stream, None)
        timings["decode_wait"] += time.perf_counter() - mark - (
            timings["encode"] + timings["score"] - busy)
        if d is None:
            break
        for note in d.notes:
            scorer.summary.warn(f"{d.key}: {note}")
        if d.error is not None:
            scorer.fail(d.key, d.error)
            if progress:
                progress(1)
            continue
        scorer.summary.decoded += 1
        batch.append(d)
        if len(batch) >= cfg.batch_size:
            flush()
    if batch:
        flush()
