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

import json
import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cleverward.engine.cache_api import NullCache
from cleverward.engine.config import ScoreConfig
from cleverward.engine.decode import VIDEO_SUFFIXES
from cleverward.engine.decode.frames_dir import is_frames_dir
from cleverward.engine.decode_pool import decode_stream
from cleverward.engine.embedding_cache import file_signature
from cleverward.engine.output import RowWriter, make_row, read_rows
from cleverward.engine.prompts import PromptEntry, parse_prompts

TIMING_KEYS = ("plan", "text", "cached", "decode_wait", "encode", "score")


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
    ranking: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    # seconds of the calling thread: plan, text, cached (rows from cached embeddings),
    # decode_wait (blocked on the decode pool), encode (video encoder), score (head, cache, rows)
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TIMING_KEYS, 0.0))

    def to_json(self) -> dict:
        return {"scored": self.scored, "failed": self.failed, "decoded": self.decoded,
                "cache_hits": self.cache_hits, "seconds": round(self.seconds, 3),
                "resumed": self.resumed, "untouched": self.untouched,
                "skipped_files": self.skipped_files}


def list_videos(folder: str | Path) -> tuple[list[str], int]:
    """Videos under `folder` (files with a video suffix, folders of frame images), as sorted
    paths relative to it, and the number of other files passed over."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder")
    found, skipped = [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here != root and is_frames_dir(here):
            found.append(here.relative_to(root).as_posix())
            dirnames.clear()  # its images are frames of one video
            continue
        dirnames.sort()
        for name in filenames:
            if Path(name).suffix.lower() in VIDEO_SUFFIXES:
                found.append((here / name).relative_to(root).as_posix())
            else:
                skipped += 1
    return sorted(found), skipped


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
                s = scores[b, index[prompt]]
                self.writer.write(make_row(video, prompt, s, self.model_name))
                self.summary.scored += 1
                self.summary.ranking.setdefault(prompt, []).append((float(s[0]), video))


RUN_RECORD_SUFFIX = ".cwrun.json"


def run_record_path(out: str | Path) -> Path:
    """The run record beside an output: which model identity and video files its rows came from."""
    return Path(str(out) + RUN_RECORD_SUFFIX)


def model_identity(model, decode_cfg) -> dict:
    """What a score depends on besides the pair: the video encoder, the head's weights (a
    checkpoint retrained in place keeps its path) and the frames sampled (decode_cfg.key(), as
    the embedding cache: the decoders return the same frames, so --decoder is not part)."""
    from cleverward.engine.video_index import head_digest

    return {"encoder": model.fingerprint(), "head": head_digest(model),
            "decode": decode_cfg.key()}


def load_run_record(out: str | Path) -> dict | None:
    """The run record of `out`; None when there is none (outputs written before run records)
    or it is unreadable."""
    try:
        data = json.loads(run_record_path(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("models"), dict) else None


def save_run_record(out: str | Path, record: dict) -> None:
    path = run_record_path(out)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class _Resumed:
    rows: list[dict]  # every row the output keeps, in file order
    kept: list[dict]  # of those, the rows of this run's plan (not scored again)
    record: dict  # the run record once this run's rows are in


def _resume(cfg: ScoreConfig, plan: dict[str, list[str]], root: Path, identity: dict) -> _Resumed:
    """Split an earlier output. Rows outside this run's plan (other prompts, videos, models) are
    kept untouched; a successful row of the plan is kept, and its pair dropped from the plan,
    only if the run record says the same model identity scored the same video file (no record:
    an output from before run records, whose rows are trusted). `--overwrite` keeps nothing."""
    rows = read_rows(cfg.out, cfg.format) if cfg.resume else []
    record = load_run_record(cfg.out) if cfg.resume else None
    models = dict(record["models"]) if record else {}
    mine = models.get(cfg.model)
    trusted = record is None or not isinstance(mine, dict)
    before = mine.get("videos", {}) if not trusted and mine.get("identity") == identity else {}
    sigs = {v: list(file_signature(root / v)) for v in plan}

    def fresh(video: str, prompt: str) -> bool:
        seen = before.get(video) or {}
        return trusted or (seen.get("sig") == sigs[video] and prompt in seen.get("prompts", ()))

    wanted = {(v, p) for v, ps in plan.items() for p in ps}
    out, kept, done = [], [], set()
    for row in rows:
        key = (row.get("video"), row.get("prompt"))
        if row.get("model") != cfg.model or key not in wanted:
            out.append(row)
        elif row.get("score") is not None and key not in done and fresh(*key):
            out.append(row)
            kept.append(row)
            done.add(key)
    videos = {v: seen for v, seen in before.items() if v not in plan}
    for v, ps in plan.items():
        seen = before.get(v) or {}
        old = seen.get("prompts", []) if seen.get("sig") == sigs[v] else []
        videos[v] = {"sig": sigs[v], "prompts": old + [p for p in ps if p not in old]}
    models[cfg.model] = {"identity": identity, "videos": videos}
    for video, prompt in done:
        plan[video].remove(prompt)
    for video in [v for v, ps in plan.items() if not ps]:
        del plan[video]
    return _Resumed(out, kept, {"version": 1, "models": models})


def score_directory(
    cfg: ScoreConfig, model=None, cache=None, progress: Callable[[int], None] | None = None
) -> ScoreSummary:
    """Run one score-dir job; rows go to cfg.out as they finish. `progress(n)` per video done."""
    from cleverward.engine.model import RewardModel

    start = time.perf_counter()
    root = Path(cfg.videos_dir)
    entries = parse_prompts(cfg.prompts_file, root)  # all prompt errors before any decoding
    videos, skipped = list_videos(root)
    plan = plan_pairs(entries, videos)
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
    resumed = _resume(cfg, plan, root, model_identity(model, decode_cfg))
    summary = ScoreSummary(resumed=len(resumed.kept), skipped_files=skipped,
                           untouched=len(resumed.rows) - len(resumed.kept))
    for row in resumed.kept:
        summary.ranking.setdefault(row["prompt"], []).append((row["score"], row["video"]))
    mark = time.perf_counter()
    summary.timings["plan"] = mark - start
    text_table = _embed_prompts(model, sorted({p for ps in plan.values() for p in ps}), cache)
    summary.timings["text"] = time.perf_counter() - mark

    writer = RowWriter(cfg.out, cfg.format, resumed.rows)
    try:
        with writer:
            if writer.appends:  # rows land as they finish: record them now
                save_run_record(cfg.out, resumed.record)
            _score_plan(cfg, model, cache, root, plan, text_table, decode_cfg, writer, summary,
                        progress)
    finally:
        if writer.closed and not writer.appends:  # Parquet: the rows landed on close
            save_run_record(cfg.out, resumed.record)
    summary.seconds = time.perf_counter() - start
    return summary


def _score_plan(cfg, model, cache, root, plan, text_table, decode_cfg, writer, summary,
                progress) -> None:
    mark = time.perf_counter()
    scorer = _Scorer(model, text_table, plan, writer, summary, cfg.model)
    pending_v, pending_e, to_decode = [], [], []
    for video in plan:
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


def _encode_isolating(model, clips: list[np.ndarray]) -> list[tuple[np.ndarray | None, str]]:
    """Encode a batch; if it fails, retry clip by clip so one bad clip only fails itself."""
    try:
        return [(vec, "") for vec in model.encode_videos(clips)]
    except Exception:  # noqa: BLE001 - isolated below; each failure is reported in its row
        pass
    out = []
    for clip in clips:
        try:
            out.append((model.encode_videos([clip])[0], ""))
        except Exception as exc:  # noqa: BLE001 - the row carries the reason
            out.append((None, f"encoder failed: {type(exc).__name__}: {exc}"))
    return out


def _encode_and_score(cfg, model, cache, root, videos, decode_cfg, scorer, progress) -> None:
    batch: list = []
    timings = scorer.summary.timings

    def flush() -> None:
        mark = time.perf_counter()
        results = _encode_isolating(model, [d.frames for d in batch])
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
