"""Decode clips on a pool of worker threads, in order, a bounded window ahead of the consumer.

FFmpeg (PyAV) and DALI release the GIL while decoding, so threads overlap decoding with the
encoder running in the main thread without the pickling cost of processes. The window bounds
memory: at most `workers * prefetch` decoded clips wait at once.

`on_wait`, if given, is called (in the consumer's thread) whenever the next clip is not decoded
yet, before blocking on it: the scorer uses it to encode the clips it holds instead of idling, so
the encoder batches whatever is ready (dynamic batching) and never waits for a full batch while
the decoders still work.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from cleverward.engine.config import DecodeConfig
from cleverward.engine.decode import DecodeError, decode_with_notes, select_decoder
from cleverward.engine.decode.pyav_decoder import PyAVDecoder
from cleverward.engine.decode.source import source_problem


@dataclass
class Decoded:
    key: str  # the caller's name for the clip (relative path)
    path: str
    frames: np.ndarray | None  # uint8 (N, H, W, 3) (a CUDA tensor from DALI's NVDEC), None: error
    error: str | None = None
    notes: tuple[str, ...] = ()  # warnings about a doubtful acceptance (still image, tiny clip)


# In a pool each worker is one decoding thread: FFmpeg's own frame threads on top would put
# workers x cores decoder threads (plus the encoder's) on the cores, and hand frames between
# threads for no gain. Pixels do not depend on FFmpeg's threading.
_POOL_PYAV = PyAVDecoder(thread_type="NONE")


def decode_one(key: str, path: str, cfg: DecodeConfig, single_threaded: bool = False) -> Decoded:
    """One clip -> Decoded (frames, or the reason it cannot be decoded); never raises."""
    try:
        problem = source_problem(path)  # before select_decoder: a FIFO is never opened
        if problem is not None:
            raise DecodeError(path, problem)
        decoder = select_decoder(path, cfg.decoder)
        if single_threaded and isinstance(decoder, PyAVDecoder):
            decoder = _POOL_PYAV
        frames, notes = decode_with_notes(path, cfg, decoder)
        return Decoded(key, path, frames, notes=tuple(notes))
    except DecodeError as exc:
        return Decoded(key, path, None, exc.reason)
    except Exception as exc:  # noqa: BLE001 - one bad clip must not stop the run; the row says why
        return Decoded(key, path, None, f"decode failed: {type(exc).__name__}: {exc}")


def decode_stream(
    items: Iterable[tuple[str, str]], cfg: DecodeConfig, workers: int = 2, prefetch: int = 4,
    on_wait: Callable[[], None] | None = None,
) -> Iterator[Decoded]:
    """items: (key, path) pairs -> Decoded, in input order."""
    window = max(1, workers * prefetch)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        pending: deque = deque()

        def take() -> Decoded:
            head = pending.popleft()
            if on_wait is not None and not head.done():
                on_wait()
            return head.result()

        for key, path in items:
            pending.append(pool.submit(decode_one, key, path, cfg, workers > 1))
            if len(pending) >= window:
                yield take()
        while pending:
            yield take()
