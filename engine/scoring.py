"""`score-dir`: score every (video, prompt) pair of a folder and a prompts file, or a manifest.

    plan (score_plan: prompts, videos, shard) -> resume (stream the earlier output's keys)
      -> text embeddings -> [cache | decode pool -> video encoder] -> reward head
      -> rows appended as each batch finishes -> summary + bounded ranking

Memory does not grow with the output: resume streams it (run_record.resume), rows are appended
after the earlier ones (never rewritten; a later row supersedes an earlier one of its pair) and
the ranking keeps only the best and worst --top per prompt (ranking.py).

The encoder runs in the calling thread on batches while the pool decodes the next clips. Batches
are dynamic: up to cfg.batch_size clips, but whenever the next clip is not decoded yet the clips
in hand are encoded at once, so the encoder works while the decoders do instead of waiting for a
full batch (ONNX Runtime's cost per frame is flat from one clip, 8 frames, up). The summary's
`timings` say where the calling thread's time went (the decoders run beside it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from cleverward.engine.cache_api import NullCache
from cleverward.engine.config import ScoreConfig
from cleverward.engine.decode.source import source_problem
from cleverward.engine.encode_batch import embed_isolating
from cleverward.engine.output import ReadResult, RowWriter, make_row, provenance, stream_output
from cleverward.engine.output_target import owning, resolve_output
from cleverward.engine.progress import report_total
from cleverward.engine.ranking import Ranking
from cleverward.engine.run_record import (
    SUPERSEDED,
    Resumed,
    model_identity,
    read_run_record_for,
    resume,
    save_run_record,
)
from cleverward.engine.score_plan import (  # noqa: F401 - list_folder, list_videos: re-exported
    Corpus,
    Listing,
    folder_corpus,
    list_folder,
    list_videos,
    manifest_corpus,
    plan_pairs,
)
from cleverward.engine.stop_request import stop_point

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
    dropped_rows: int = 0  # torn or invalid rows of this run's videos (their pairs are rescored)
    pyav_retries: int = 0  # clips the DALI decoder could not decode, decoded by PyAV instead
    warnings: list[str] = field(default_factory=list)  # doubtful acceptances, rescore reasons
    ranking: Ranking = field(default_factory=Ranking)  # best / worst --top per prompt
    # seconds of the calling thread: plan, text, cached (rows from cached embeddings),
    # decode_wait (blocked on the decode pool), encode (video encoder), score (head, cache, rows)
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TIMING_KEYS, 0.0))

    def to_json(self) -> dict:
        return {"scored": self.scored, "failed": self.failed, "decoded": self.decoded,
                "cache_hits": self.cache_hits, "seconds": round(self.seconds, 3),
                "resumed": self.resumed, "untouched": self.untouched,
                "skipped_files": self.skipped_files, "skipped_dirs": self.skipped_dirs,
                "rescored": self.rescored, "dropped_rows": self.dropped_rows,
                "pyav_retries": self.pyav_retries,
                "warnings": self.warnings[:MAX_WARNINGS]}

    def warn(self, message: str) -> None:
        self.warnings.append(message)


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

    def __init__(self, model, text_table, plan, writer, summary, model_name,
                 generators=None) -> None:
        self.model, self.text, self.plan = model, text_table, plan
        self.writer, self.summary, self.model_name = writer, summary, model_name
        self.generators = generators or {}  # video -> the manifest's generator column

    def _row(self, video: str, prompt: str, scores, error: str | None = None) -> dict:
        row = make_row(video, prompt, scores, self.model_name, error)
        if video in self.generators:  # JSONL keeps it; CSV / Parquet rows have fixed columns
            row["generator"] = self.generators[video]
        return row

    def fail(self, video: str, error: str) -> None:
        for prompt in self.plan[video]:
            self.writer.write(self._row(video, prompt, None, error))
            self.summary.failed += 1

    def score_batch(self, videos: list[str], vectors) -> None:
        """vectors (B, Dv): host rows from the cache or the encoder's rows on the device."""
        prompts = sorted({p for v in videos for p in self.plan[v]})
        index = {p: i for i, p in enumerate(prompts)}
        text = np.stack([self.text[p] for p in prompts])  # (U, Dt)
        scores = self.model.score(vectors, text)  # (B, U, K)
        for b, video in enumerate(videos):
            for prompt in self.plan[video]:
                row = self._row(video, prompt, scores[b, index[prompt]])
                self.writer.write(row)
                if row["score"] is None:  # NaN / Inf from the head: an error row
                    self.summary.failed += 1
                    continue
                self.summary.scored += 1
                self.summary.ranking.add(prompt, row["score"], video)


def score_directory(
    cfg: ScoreConfig, model=None, cache=None, progress: Callable[[int], None] | None = None,
    stream=None,
) -> ScoreSummary:
    """Run one score-dir job; rows go to cfg.out as they finish. `progress(n)` per video done.
    `stream`: where rows go when cfg.out is stdout (default sys.stdout)."""
    start = time.perf_counter()
    target = resolve_output(cfg.out)  # a device or FIFO is refused before any work
    corpus = (manifest_corpus(cfg.manifest) if cfg.manifest
              else folder_corpus(cfg.videos_dir, cfg.prompts_file))
    corpus.shard(*cfg.shard)
    plan, locate = corpus.plan, corpus.locate
    if model is None:
        from cleverward.engine.model import load_for_run

        model = load_for_run(cfg.model, cfg.backend, cfg.device)
    cache = cache or NullCache()
    decode_cfg = model.decode_config(cfg.frames, cfg.decoder)
    model_name = model.identity  # resolved location @ head digest, not the string typed
    with owning(target):
        identity = model_identity(model, decode_cfg)
        resumed = _resume(cfg, target, plan, locate, model_name, identity)
        summary = _start_summary(corpus.listing, resumed, cfg.top)
        if corpus.generators and cfg.format != "jsonl":
            summary.warn(f"the manifest's generator column is not in {cfg.format} rows (fixed "
                         "columns): write JSONL, or use `cleverward bulk`, to keep it")
        mark = time.perf_counter()
        summary.timings["plan"] = mark - start
        text_table = _embed_prompts(model, sorted({p for ps in plan.values() for p in ps}), cache)
        summary.timings["text"] = time.perf_counter() - mark
        report_total(progress, len(plan))
        _write_rows(cfg, target, resumed, model_name, stream, lambda writer: _score_plan(
            cfg, model, cache, locate, plan, text_table, decode_cfg, writer, summary, progress,
            model_name, corpus.missing, corpus.generators), provenance(asdict(cfg), identity))
    for warning in getattr(cache, "warnings", ()):
        summary.warn(warning)
    summary.seconds = time.perf_counter() - start
    return summary


def _resume(cfg: ScoreConfig, target, plan, locate, model_name: str, identity: dict) -> Resumed:
    """The earlier output's rows, streamed, against this plan (nothing for stdout or
    --overwrite). `model_name`: the model's identity in rows (RewardModel.identity, not the
    string typed)."""
    if target.is_stdout or not cfg.resume:
        return resume(model_name, plan, locate, identity, ReadResult(), None, None)
    read = stream_output(target.path, cfg.format, plan)  # other videos' rows: counted only
    record, problem = read_run_record_for(target.path, model_name, plan)  # this run's part only
    resumed = resume(model_name, plan, locate, identity, read, record, problem)
    if record is not None:  # the rest of the record is carried over from the file on saving
        resumed.carry = model_name
        resumed.unchanged = resumed.record == record  # a rerun with nothing new: no rewrite
    return resumed


def _start_summary(listing: Listing, resumed: Resumed, top: int) -> ScoreSummary:
    summary = ScoreSummary(resumed=len(resumed.kept), skipped_files=listing.skipped_files,
                           skipped_dirs=listing.skipped_dirs, rescored=resumed.stale,
                           dropped_rows=resumed.dropped, untouched=resumed.untouched,
                           ranking=Ranking(top))
    if listing.skipped_dirs:
        shown = ", ".join(listing.hidden[:5]) + (", ..." if listing.skipped_dirs > 5 else "")
        summary.warn(f"{listing.skipped_dirs} dot-folder(s) skipped, not walked: {shown}")
    for warning in listing.warnings + resumed.reasons:
        summary.warn(warning)
    for video, prompt, score in resumed.kept:
        summary.ranking.add(prompt, score, video)
    return summary


def _write_rows(cfg, target, resumed: Resumed, model_name: str, stream, score,
                about: dict | None = None) -> None:
    """Open the writer (after the rows already there), withdraw the stale scores, record the run
    beside a file output, and let `score(writer)` run. `about`: the provenance a Parquet file
    keeps in its schema metadata."""
    if target.is_stdout:
        import sys

        with RowWriter(None, cfg.format, stream=stream or sys.stdout) as writer:
            score(writer)
        return
    writer = RowWriter(target.path, cfg.format, append=cfg.resume, provenance=about)
    try:
        with writer:
            for video, prompt in resumed.superseded:  # before the record says they are redone
                writer.write(make_row(video, prompt, None, model_name, SUPERSEDED))
            for video, prompt, older in resumed.withdrawn:  # this location's older weights
                writer.write(make_row(video, prompt, None, older, SUPERSEDED))
            if writer.appends and not resumed.unchanged:  # rows land as they finish: now
                save_run_record(target.path, resumed.record, carry=resumed.carry)
            score(writer)
    finally:
        if writer.closed and not writer.appends and not resumed.unchanged:  # Parquet: on close
            save_run_record(target.path, resumed.record, carry=resumed.carry)


def _score_plan(cfg, model, cache, locate, plan, text_table, decode_cfg, writer, summary,
                progress, model_name, missing=None, generators=None) -> None:
    mark = time.perf_counter()
    scorer = _Scorer(model, text_table, plan, writer, summary, model_name, generators)
    pending_v, pending_e, to_decode = [], [], []
    for video in plan:
        stop_point()
        problem = (missing or {}).get(video) or source_problem(locate(video))
        if problem is not None:  # never hashed, never decoded: an error row at once
            scorer.fail(video, problem)
            if progress:
                progress(1)
            continue
        vec = cache.get_video(str(locate(video)))
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
    _encode_and_score(cfg, model, cache, locate, to_decode, decode_cfg, scorer, progress)


def _encode_and_score(cfg, model, cache, locate, videos, decode_cfg, scorer, progress) -> None:
    """Decode (engine/dali_stream.open_stream: DALI batches or the PyAV pool), encode on the
    model's device, score there; only the scores and the vectors the cache keeps reach the
    host."""
    import torch

    from cleverward.engine.dali_stream import DecodeCounts, open_stream

    batch: list = []
    timings = scorer.summary.timings
    counts = DecodeCounts()
    # On a GPU batch i's host->device copy is started (engine/device_feed's side stream)
    # before batch i-1 is finished (its vectors read back, scored), so the copy overlaps
    # batch i-1's encoding; batch i is then queued and finished at the next flush. On CPU
    # staging is the identity and every batch is finished at once, as before.
    pending: list = []
    ahead = model.device.type == "cuda"

    def flush() -> None:
        mark = time.perf_counter()
        frames = [d.frames for d in batch]
        clips = model.stage_clips(frames) if ahead else frames
        staging = time.perf_counter() - mark
        while pending:  # batch i-1, read back while batch i's copy runs (timed as "score")
            finish(*pending.pop(0))
        mark = time.perf_counter()
        results = embed_isolating(model, clips)  # rows on the device
        timings["encode"] += staging + time.perf_counter() - mark
        pending.append((list(batch), results))
        batch.clear()
        if not ahead:
            finish(*pending.pop(0))

    def finish(done: list, results: list) -> None:
        mark = time.perf_counter()
        good = [(d, vec) for d, (vec, _) in zip(done, results, strict=True) if vec is not None]
        for d, (vec, error) in zip(done, results, strict=True):
            if vec is None:
                scorer.fail(d.key, error)
        if good:
            vectors = torch.stack([v for _, v in good])  # (G, Dv) on the device
            host = vectors.float().cpu().numpy()  # what the cache stores, one copy
            for (d, _), row in zip(good, host, strict=True):
                cache.put_video(d.path, row)
            scorer.score_batch([d.key for d, _ in good], vectors)
        if progress:
            progress(len(done))
        timings["score"] += time.perf_counter() - mark

    def flush_ready() -> None:  # the next clip is still decoding: encode what is here meanwhile
        if batch:
            flush()
        while pending:
            finish(*pending.pop(0))

    items = ((v, str(locate(v))) for v in videos)
    stream = open_stream(items, decode_cfg, cfg.workers, model.device, counts,
                         on_wait=flush_ready)
    while True:
        stop_point()  # a SIGTERM asked for a stop: here, between clips, it unwinds cleanly
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
    flush_ready()
    scorer.summary.pyav_retries += counts.pyav_retries
