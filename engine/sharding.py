"""Shards of a corpus for bulk scoring on many machines, with no coordination.

`score-dir DIR --shard K/N` scores the videos whose shard is K. A video's shard is a function of
its content alone (the file's size and its first and last 64 KiB; for a frames folder, its
images' names and sizes), so every machine computes the same split from its own copy of the
corpus, a renamed or copied file lands in the same shard (and hits the same cache entry), and the
N outputs merge by concatenation: each (video, prompt) row is written by exactly one shard.
The probe reads 128 KiB a file, not the whole file: this decides placement, not identity
(the cache's key is the full content hash).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cleverward.engine.decode.source import open_regular

PROBE_BYTES = 64 * 1024


def parse_shard(text: str) -> tuple[int, int]:
    """"K/N" -> (K, N) with 0 <= K < N; errors say what was expected."""
    k, sep, n = str(text).partition("/")
    try:
        if not sep:
            raise ValueError
        index, count = int(k), int(n)
    except ValueError:
        raise ValueError(f"shard: expected K/N (e.g. 0/4), got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard: need 0 <= K < N, got {text!r}")
    return index, count


def content_probe(path: str | os.PathLike) -> bytes:
    """The bytes a shard is decided by (see the module docstring)."""
    p = Path(path)
    if p.is_dir():
        listing = sorted((f.name, f.stat().st_size) for f in p.iterdir() if f.is_file())
        return repr(listing).encode()
    with open_regular(p) as f:  # a FIFO or device is refused, never read (it could block)
        size = os.fstat(f.fileno()).st_size
        head = f.read(PROBE_BYTES)
        if size > 2 * PROBE_BYTES:
            f.seek(size - PROBE_BYTES)
        tail = f.read(PROBE_BYTES) if size > PROBE_BYTES else b""
    return str(size).encode() + b"\0" + head + tail


def shard_of(path: str | os.PathLike, count: int) -> int:
    """Which of `count` shards the video at `path` belongs to. An unreadable path goes to
    shard 0, so exactly one shard reports its error."""
    if count == 1:
        return 0
    try:
        probe = content_probe(path)
    except OSError:
        return 0
    return int.from_bytes(hashlib.sha256(probe).digest()[:8], "big") % count
