"""RewardClient: the reward server (`cleverward serve`) from Python, sync and async.

    client = RewardClient("http://127.0.0.1:8000", token_file="token.txt")
    scores = client.score(frames, prompts)          # blocks; {"overall": (B,), ...} numpy
    future = client.submit(frames, prompts)         # returns at once (a thread sends it)
    scores = await client.ascore(frames, prompts)   # asyncio

Frames (numpy or torch, any device; uint8 or float in [0, 1], (B, T, H, W, 3) or channels
third) travel as .npy bytes, never pickle. A batch of more than `batch_size` clips is sent as
several requests (concurrently by ascore / submit) and the scores joined in order; so is a
batch whose .npy would pass `max_request_mb` (the server's --max-body-mb, 64 by default,
answers 413 over it), so float frames at video sizes need no hand-tuned batch_size. A 503
(queue full) or a refused connection is retried with exponential backoff, honouring the
server's Retry-After up to `max_backoff_s`; any other error raises RewardServerError with the
server's message, which names the field at fault.
"""

from __future__ import annotations

import asyncio
import io
import random
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

RETRY_STATUSES = (503,)
NPY_HEADER_ROOM = 64 * 1024  # a request's bytes besides the frames: .npy header, form, meta


class RewardServerError(RuntimeError):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(f"reward server answered {status}: {message}")
        self.status, self.message, self.field = status, message, field


def frames_to_npy(frames) -> bytes:
    """A tensor or array of clips -> .npy bytes (float16/bfloat16 tensors as float32)."""
    if hasattr(frames, "detach"):  # torch, without importing it
        frames = frames.detach()
        if frames.dtype.is_floating_point and frames.dtype.itemsize < 4:
            frames = frames.float()
        frames = frames.cpu().numpy()
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(frames), allow_pickle=False)
    return buf.getvalue()


def _npy_clip_bytes(frames) -> int:
    """Bytes of one clip (frames[0]) as frames_to_npy sends it (half floats as float32)."""
    itemsize = frames.dtype.itemsize
    if hasattr(frames, "detach") and frames.dtype.is_floating_point:  # torch half -> float32
        itemsize = max(itemsize, 4)
    return int(np.prod(frames.shape[1:], dtype=np.int64)) * itemsize


def _chunks(frames, prompts: list[str], all_pairs: bool, size: int,
            max_bytes: float = float("inf")):
    """(frames, prompts) per request: clips in runs of at most `size` clips and `max_bytes`
    of .npy (at least one clip a request), prompts along unless all_pairs."""
    if isinstance(prompts, str):
        raise TypeError("prompts: give a list of strings, not one string")
    prompts = list(prompts)
    if frames.ndim == 4:  # one clip
        return [(frames[None], prompts)]
    fit = int((max_bytes - NPY_HEADER_ROOM) // max(1, _npy_clip_bytes(frames)))
    size = max(1, min(size, fit))
    return [(frames[i : i + size], prompts if all_pairs else prompts[i : i + size])
            for i in range(0, len(frames), size)]


def _join(parts: list[dict]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([np.asarray(p[k], np.float32) for p in parts]) for k in parts[0]}


class RewardClient:
    def __init__(self, url: str = "http://127.0.0.1:8000", token: str | None = None,
                 token_file: str | None = None, timeout_s: float = 120.0, retries: int = 8,
                 backoff_s: float = 0.05, max_backoff_s: float = 2.0, batch_size: int = 8,
                 max_workers: int = 4, max_request_mb: float = 64.0) -> None:
        if token_file:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        if batch_size < 1 or retries < 0 or not max_request_mb > 0:
            raise ValueError("batch_size must be >= 1, retries >= 0 and max_request_mb > 0")
        self.url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout_s, self.retries = timeout_s, retries
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.batch_size, self.max_workers = batch_size, max_workers
        self.max_request_bytes = max_request_mb * 2**20
        self._sync = None
        self._pool: ThreadPoolExecutor | None = None

    # -- sync --------------------------------------------------------------------------------

    def _client(self):
        import httpx

        if self._sync is None:
            self._sync = httpx.Client(timeout=self.timeout_s, headers=self.headers)
        return self._sync

    def score(self, frames, prompts, all_pairs: bool = False) -> dict[str, np.ndarray]:
        """Blocks until scored -> {"overall": (B,) or (B, P), <dimension>: ...} float32."""
        parts = [self._post(self._frames_files(f), p, all_pairs)
                 for f, p in _chunks(frames, prompts, all_pairs, self.batch_size,
                         self.max_request_bytes)]
        return _join(parts)

    def score_video(self, path, prompts) -> dict[str, np.ndarray]:
        """One video file, decoded by the server as score-dir decodes it -> scores (1, P)."""
        path = Path(path)
        files = {"video": (path.name, path.read_bytes(), "application/octet-stream")}
        return _join([self._post(files, list(prompts), True)])

    def submit(self, frames, prompts, all_pairs: bool = False) -> Future:
        """Send in the background; the Future's result() is score()'s. The frames are encoded
        before this returns, so the caller may reuse their memory at once."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="reward-client")
        chunks = [(self._frames_files(f), p)
                  for f, p in _chunks(frames, prompts, all_pairs, self.batch_size,
                         self.max_request_bytes)]
        futures = [self._pool.submit(self._post, files, p, all_pairs) for files, p in chunks]
        joined: Future = Future()

        def done(_):
            if all(f.done() for f in futures) and not joined.done():
                errors = [f.exception() for f in futures if f.exception() is not None]
                if errors:
                    joined.set_exception(errors[0])
                else:
                    joined.set_result(_join([f.result() for f in futures]))

        for f in futures:
            f.add_done_callback(done)
        return joined

    def _frames_files(self, frames) -> dict:
        return {"frames": ("frames.npy", frames_to_npy(frames), "application/octet-stream")}

    def _post(self, files: dict, prompts: list[str], all_pairs: bool) -> dict:
        import httpx

        data = {"meta": _meta(prompts, all_pairs)}
        for attempt in range(self.retries + 1):
            try:
                response = self._client().post(f"{self.url}/score", data=data, files=files)
            except httpx.ConnectError:
                if attempt == self.retries:
                    raise
                time.sleep(self._delay(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retries:
                time.sleep(self._delay(attempt, response))
                continue
            return _result(response)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, response) -> float:
        wait = self.backoff_s * 2**attempt * (1 + random.random())  # jitter: no thundering herd
        if response is not None and response.headers.get("retry-after", "").isdigit():
            wait = max(wait, float(response.headers["retry-after"]))
        return min(wait, self.max_backoff_s)

    # -- async -------------------------------------------------------------------------------

    async def ascore(self, frames, prompts, all_pairs: bool = False) -> dict[str, np.ndarray]:
        """As score, the chunks sent concurrently on one async connection pool."""
        import httpx

        chunks = _chunks(frames, prompts, all_pairs, self.batch_size,
                         self.max_request_bytes)
        async with httpx.AsyncClient(timeout=self.timeout_s, headers=self.headers) as client:
            parts = await asyncio.gather(*[
                self._apost(client, self._frames_files(f), p, all_pairs) for f, p in chunks])
        return _join(list(parts))

    async def _apost(self, client, files: dict, prompts: list[str], all_pairs: bool) -> dict:
        import httpx

        data = {"meta": _meta(prompts, all_pairs)}
        for attempt in range(self.retries + 1):
            try:
                response = await client.post(f"{self.url}/score", data=data, files=files)
            except httpx.ConnectError:
                if attempt == self.retries:
                    raise
                await asyncio.sleep(self._delay(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.retries:
                await asyncio.sleep(self._delay(attempt, response))
                continue
            return _result(response)
        raise AssertionError("unreachable")

    # -- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    def __enter__(self) -> RewardClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _meta(prompts: list[str], all_pairs: bool) -> str:
    import json

    return json.dumps({"prompts": list(prompts), "all_pairs": all_pairs})


def _result(response) -> dict:
    if response.status_code != 200:
        try:
            body = response.json()
            message, field = body.get("error", response.text), body.get("field")
        except ValueError:
            message, field = response.text[:200], None
        raise RewardServerError(response.status_code, message, field)
    return response.json()["scores"]
