"""The bulk pipeline's stages, as plain callables on column batches (dict of numpy arrays).

    read:    partition plan files -> one row per video {partition, key, source, video,
             generator, prompts}
    decode:  DecodeStage   -> + frames uint8 (N, H, W, 3) (or (0, ...) when not decoded),
                              vector (Dv,) when the cache already has it, error
    encode:  EncodeStage   -> one row per (video, prompt): the score columns of an output row

The same objects run in-process (the local executor) and as Ray Data map_batches UDFs (the ray
executor): a stage holds no Ray code, so both executors give the same rows. The head runs inside
the encode stage: shipping the vectors to another stage would move ~6.7 KB a clip to save a
(B, Dv) x (Dv, 256) product that costs under 1% of the encoder.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass

import numpy as np

from cleverward.engine.dimensions import CANONICAL_DIMENSIONS
from cleverward.engine.manifest import is_url

ROW_COLUMNS = ("partition", "key", "video", "prompt", "generator", "score",
               *CANONICAL_DIMENSIONS, "model", "error")


@dataclass(frozen=True)
class StageConfig:
    """What every stage needs to rebuild its part of the model in its own process."""

    model: str  # name, checkpoint folder or encoder spec (rows say its RewardModel.identity)
    backend: str  # torch | onnx | tensorrt, chosen once by the driver
    frames: int
    decoder: str
    cache_dir: str | None  # None: no cache
    video_ns: object = None  # embedding_cache.Namespace of the video vectors
    text_ns: object = None
    device: str = "auto"  # resolved in the encoder's own process (Ray gives it its GPU)


class _ThreadCache:
    """The embedding cache, opened in the thread that uses it: SQLite handles belong to their
    thread, and Ray Data calls a UDF from a thread of its own, not the constructor's."""

    def __init__(self, cfg: StageConfig, video: bool, text: bool) -> None:
        self.cfg, self.video, self.text = cfg, video, text
        self._local = threading.local()
        self._opened: list = []
        self._lock = threading.Lock()

    def get(self):
        cache = getattr(self._local, "cache", None)
        if cache is None:
            cache = self._local.cache = self._open()
            with self._lock:
                self._opened.append(cache)
        return cache

    def _open(self):
        from cleverward.engine.cache_api import NullCache

        if self.cfg.cache_dir is None:
            return NullCache()
        from cleverward.engine.embedding_cache import CacheConfig, EmbeddingCache

        # Ray may end an actor without a hook: flush often so little is lost with it.
        return EmbeddingCache(CacheConfig(root=self.cfg.cache_dir, flush_rows=256),
                              self.cfg.video_ns if self.video else None,
                              self.cfg.text_ns if self.text else None)

    def close(self) -> None:
        """Flush and close what this stage opened. SQLite refuses a handle from another thread,
        so those are closed where possible and otherwise left to the OS (their vectors are
        flushed by the cache's own periodic flush)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for cache in opened:
            try:
                cache.close()
            except Exception:  # noqa: BLE001 - a handle of another thread: see the docstring
                continue


class _Fetched:
    """A local path for a manifest video: the file itself, or an fsspec URL copied to a
    temporary file (removed on exit)."""

    def __init__(self, video: str) -> None:
        self.video, self.path, self._tmp = video, video, None

    def __enter__(self) -> str:
        if is_url(self.video):
            import fsspec

            suffix = os.path.splitext(self.video)[1]
            fd, self._tmp = tempfile.mkstemp(prefix="cleverward-", suffix=suffix)
            with os.fdopen(fd, "wb") as out, fsspec.open(self.video, "rb") as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    out.write(block)
            self.path = self._tmp
        return self.path

    def __exit__(self, *exc) -> None:
        if self._tmp is not None:
            os.unlink(self._tmp)


class DecodeStage:
    """Decode (or find in the cache) each video of a batch. CPU work: one per decode worker."""

    def __init__(self, cfg: StageConfig, height: int, width: int) -> None:
        from cleverward.engine.config import DecodeConfig

        self.cfg = cfg
        self.decode_cfg = DecodeConfig(frames=cfg.frames, height=height, width=width,
                                       decoder=cfg.decoder)
        self.cache = _ThreadCache(cfg, video=True, text=False)

    def __call__(self, batch: dict) -> dict:
        frames, vectors, errors = [], [], []
        empty = np.zeros((0, self.decode_cfg.height, self.decode_cfg.width, 3), np.uint8)
        for video in batch["video"]:
            clip, vector, error = self.one(str(video))
            frames.append(empty if clip is None else clip)
            vectors.append(np.zeros(0, np.float32) if vector is None else vector)
            errors.append(error or "")
        return {**batch, "generator": _text_column(batch["generator"]),
                "frames": _column(frames), "vector": _column(vectors),
                "error": np.array(errors, dtype=object)}

    def one(self, video: str) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
        from cleverward.engine.decode_pool import decode_one

        try:
            with _Fetched(video) as path:
                vector = self.cache.get().get_video(path)
                if vector is not None:
                    return None, vector, None
                decoded = decode_one(video, path, self.decode_cfg, single_threaded=True)
        except OSError as exc:
            return None, None, f"cannot read {video}: {exc.strerror or exc}"
        if decoded.error is not None:
            return None, None, decoded.error
        return decoded.frames, None, None

    def close(self) -> None:
        self.cache.close()

    def __del__(self) -> None:  # Ray ends actors without a hook; flush what is buffered
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to report to
            return


class EncodeStage:
    """Encode the decoded clips, score every (video, prompt) of the batch: one per GPU (or a
    CPU actor where there is none)."""

    def __init__(self, cfg: StageConfig) -> None:
        from cleverward.engine.device import resolve_device
        from cleverward.engine.model import RewardModel

        self.cfg = cfg
        model = RewardModel.from_pretrained(cfg.model)
        where = resolve_device(cfg.device)  # ORT sessions ask for this GPU's providers
        self.model = model.with_backend(cfg.backend, device=where).to(where)
        self.cache = _ThreadCache(cfg, video=True, text=True)
        self.texts: dict[str, np.ndarray] = {}

    def __call__(self, batch: dict) -> dict:
        vectors, errors = self._vectors(batch)
        prompts = sorted({str(p) for ps in batch["prompts"] for p in ps})
        text = self._texts(prompts)  # (U, Dt)
        index = {p: i for i, p in enumerate(prompts)}
        good = [i for i, v in enumerate(vectors) if v is not None]
        scores = (self.model.score(np.stack([vectors[i] for i in good]), text)
                  if good and prompts else None)  # (G, U, K)
        rows: dict[str, list] = {c: [] for c in ROW_COLUMNS}
        slot = {i: g for g, i in enumerate(good)}
        name = self.model.identity
        for i in range(len(batch["key"])):
            for prompt in batch["prompts"][i]:
                s = scores[slot[i], index[str(prompt)]] if i in slot else None
                _append_row(rows, batch, i, str(prompt), s, name, errors[i])
        return {c: _column(v) for c, v in rows.items()}

    def _vectors(self, batch: dict) -> tuple[list[np.ndarray | None], list[str | None]]:
        from cleverward.engine.encode_batch import encode_isolating

        vectors: list[np.ndarray | None] = []
        errors: list[str | None] = []
        todo = []
        for i, (vector, error) in enumerate(zip(batch["vector"], batch["error"], strict=True)):
            vectors.append(np.asarray(vector, np.float32) if len(vector) else None)
            errors.append(str(error) or None)
            if not error and not len(vector):
                todo.append(i)
        if todo:
            clips = [np.asarray(batch["frames"][i], np.uint8) for i in todo]
            for i, (vec, error) in zip(todo, encode_isolating(self.model, clips), strict=True):
                vectors[i], errors[i] = vec, error or None
                if vec is not None and not is_url(str(batch["video"][i])):
                    self.cache.get().put_video(str(batch["video"][i]), vec)
        return vectors, errors

    def _texts(self, prompts: list[str]) -> np.ndarray:
        missing = [p for p in prompts if p not in self.texts]
        if missing:
            cached = self.cache.get().get_texts(missing)
            fresh = [p for p, v in zip(missing, cached, strict=True) if v is None]
            self.texts.update({p: v for p, v in zip(missing, cached, strict=True)
                               if v is not None})
            if fresh:
                encoded = self.model.encode_texts(fresh)
                self.cache.get().put_texts(fresh, encoded)
                self.texts.update(zip(fresh, encoded, strict=True))
        if not prompts:
            return np.zeros((0, 1), np.float32)
        return np.stack([self.texts[p] for p in prompts])

    def close(self) -> None:
        self.cache.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to report to
            return


def _text_column(values) -> np.ndarray:
    """A text column whose missing cells are "" (the sink writes them as null). A column left
    with None or NaN cells is typed null or double by Arrow in a batch where every cell is
    missing and string in the others, and Ray then fails to merge the blocks ("Field generator
    has incompatible types: string vs double"), depending on how batches happen to fall."""
    return np.array([v if isinstance(v, str) else "" for v in values], dtype=object)


def _append_row(rows: dict, batch: dict, i: int, prompt: str, scores, model: str,
                error: str | None) -> None:
    finite = scores is not None and bool(np.all(np.isfinite(scores)))
    if scores is not None and not finite:
        error = "the model produced a non-finite score (NaN or Inf): check its weights"
    values = [round(float(s), 6) for s in scores] if finite else [None] * (
        1 + len(CANONICAL_DIMENSIONS))
    generator = batch["generator"][i]  # None, or NaN after Ray's JSON read of a null
    rows["partition"].append(int(batch["partition"][i]))
    rows["key"].append(str(batch["key"][i]))
    rows["video"].append(str(batch["source"][i]))
    rows["prompt"].append(prompt)
    rows["generator"].append(generator if isinstance(generator, str) else "")  # "": none
    rows["score"].append(values[0])
    for name, value in zip(CANONICAL_DIMENSIONS, values[1:], strict=True):
        rows[name].append(value)
    rows["model"].append(model)
    rows["error"].append(None if finite else (error or "failed"))


def _column(arrays: list[np.ndarray]) -> np.ndarray:
    """A batch column of per-row arrays, as an object array (rows may differ in shape)."""
    out = np.empty(len(arrays), dtype=object)
    for i, a in enumerate(arrays):
        out[i] = a
    return out
