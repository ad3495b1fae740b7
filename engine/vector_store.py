"""Immutable FAISS shard files: where the embedding cache keeps its vectors.

A shard is a FAISS IndexFlat (float32 rows, row i = the i-th vector added), written once to a
temporary name and renamed into place, never modified. Each flush of each process writes a new,
uniquely named shard, so concurrent writers never touch the same file and a crash leaves at worst
an unreferenced shard. Which key lives in which (shard, row) is the metadata's business (SQLite,
embedding_cache.py).

Readers map shards with IO_FLAG_MMAP_IFC: opening one costs microseconds whatever its size, and a
lookup pages in only the rows it reads (a 1668-d vector is 6.7 kB), so a warm cache over a large
corpus does not read whole shards to serve a few hits.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

SUFFIX = ".faiss"


class ShardError(Exception):
    """A shard or a row in it cannot be read (missing file, corrupt file, row out of range)."""


class ShardStore:
    """The shard files of one namespace: a folder of `<time>-<pid>-<random>.faiss`."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._open: dict[str, object] = {}  # shard name -> mapped faiss index

    def write(self, vectors: np.ndarray) -> str:
        """Store (N, D) vectors as a new shard; returns its name. Row i holds vectors[i]."""
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # (N, D)
        index = faiss.IndexFlatIP(vectors.shape[1])  # the metric is unused: this is storage
        index.add(vectors)
        name = f"{time.time_ns()}-{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
        tmp = self.folder / f".{name}.tmp"
        faiss.write_index(index, str(tmp))
        os.replace(tmp, self.folder / name)
        return name

    def _index(self, shard: str):
        import faiss

        if shard not in self._open:
            path = self.folder / shard
            if not path.is_file():
                raise ShardError(f"shard {shard} is missing")
            try:
                self._open[shard] = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
            except RuntimeError as exc:  # faiss reports truncated or garbled files this way
                raise ShardError(f"shard {shard} is unreadable ({str(exc).splitlines()[0]})") \
                    from exc
        return self._open[shard]

    def read(self, shard: str, row: int) -> np.ndarray:
        """The vector at `row` of `shard` -> float32 (D,); ShardError if it cannot be read."""
        index = self._index(shard)
        if not 0 <= row < index.ntotal:
            raise ShardError(f"row {row} is outside shard {shard} ({index.ntotal} rows)")
        return index.reconstruct(int(row))

    def remove(self, shards: list[str]) -> None:
        # A process that has a removed shard mapped keeps reading its old pages (the inode lives
        # until unmapped); one that opens it later gets ShardError and looks the key up again.
        for shard in shards:
            self._open.pop(shard, None)
            (self.folder / shard).unlink(missing_ok=True)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.folder.glob(f"*{SUFFIX}"))

    def age_seconds(self, shard: str) -> float:
        return time.time() - (self.folder / shard).stat().st_mtime

    @contextmanager
    def exclusive(self) -> Iterator[bool]:
        """Try to take this namespace's maintenance lock without waiting; yields whether held.
        Only compaction takes it: reads and writes never wait for anything but SQLite."""
        with open(self.folder / "maintenance.lock", "a+") as f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def close(self) -> None:
        self._open.clear()
