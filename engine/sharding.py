"""Shards of a corpus for bulk scoring on many machines, with no coordination.

`score-dir DIR --shard K/N` scores the videos whose shard is K. A video's shard is a hash of its
key: its path relative to the folder (or, with --manifest, its `id`, else its `video`), the same
sha256 split as `cleverward bulk`'s partitions (manifest.partition_of). Picking a shard reads
names only, never a video's bytes, so planning costs a listing whatever the clips' size; every
machine that lists the same tree computes the same split, and the N outputs merge by
concatenation: each (video, prompt) row is written by exactly one shard. The content hash the
embedding cache keys on is computed by the cache lookup, once per file and run (it memoises it
by path and file signature), not by planning.
"""

from __future__ import annotations

from cleverward.engine.manifest import partition_of


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


def shard_of(key: str, count: int) -> int:
    """Which of `count` shards the video with this key is in (0 when count is 1: n % 1 == 0)."""
    return partition_of(key, count)
