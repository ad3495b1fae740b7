"""Compaction: rewrite an append-only output as the rows its readers return, nothing else.

score-dir only appends, so an output gathers superseded rows (rescores), tombstones (WITHDRAWN
error rows) and lines no reader trusts (torn, invalid). `compact_output` keeps the last valid row
per (video, prompt, model) unless it is a tombstone, in file order, and drops the rest.

Two passes over the file, so memory holds no rows: the first keeps a 16-byte hash of each valid
row's key (blake2b) and sorts them to find the last position of each key (~48 bytes a row at
the peak: `cleverward compact` of 1.2M rows peaked at 101.8 MiB, of 1,000 rows at 46.4 MiB); the
second reads the file again and writes the rows at those positions to a temporary file beside
it, which then replaces it in one rename. Rows are written from their parsed values, as
score-dir writes them (a JSONL row score-dir wrote comes out byte for byte the same). The
caller holds the output (output_target.owning), so it cannot change between the passes; if its
row count did change, nothing is replaced. The run record beside the output names videos,
signatures and prompts, not lines, so it stays valid as it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cleverward.engine.output import (
    _REDO,
    WITHDRAWN,
    OutputError,
    ReadResult,
    RowWriter,
    iter_output,
    row_key,
)


@dataclass(frozen=True)
class Compacted:
    """What a compaction found (and, unless dry_run, did)."""

    path: str
    rows_before: int  # valid rows in the file, superseded ones and tombstones included
    rows_after: int  # rows the readers return: what the compacted file holds
    superseded: int  # valid rows a later row of their pair replaces
    tombstones: int  # pairs whose last row is a withdrawal: readers return none, dropped
    dropped: int  # torn or invalid lines (never returned by readers)
    bytes_before: int
    bytes_after: int | None  # None with dry_run
    dry_run: bool


def _key_hash(row: dict) -> bytes:
    video, prompt, model = row_key(row)
    text = f"{len(video)}:{video}{len(prompt)}:{prompt}{model}"  # lengths: no two keys alike
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def last_positions(path: Path, fmt: str) -> tuple[np.ndarray, int]:
    """(keep, dropped): keep[i] is True when the i-th valid row of the file is the last row of
    its key; dropped counts the torn or invalid lines. Holds 16 bytes a row, no row."""
    digests = bytearray()
    read = ReadResult()
    for _, row in iter_output(path, fmt, read):
        digests += _key_hash(row)
    halves = np.frombuffer(digests, dtype="<u8").reshape(-1, 2)  # (rows, 2), no copy
    n = len(halves)
    keep = np.zeros(n, dtype=bool)
    if n:
        order = np.lexsort((halves[:, 1], halves[:, 0]))  # by key; stable: then by position
        ordered = halves[order]
        last = np.ones(n, dtype=bool)
        last[:-1] = (ordered[1:] != ordered[:-1]).any(axis=1)  # the next one is another key
        keep[order[last]] = True
    return keep, read.dropped


def _provenance(path: Path, fmt: str) -> dict | None:
    """A Parquet output's provenance (schema metadata "cleverward"), carried over."""
    if fmt != "parquet":
        return None
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    with suppress(ValueError):
        value = json.loads(meta.get(b"cleverward", b"null"))
        return value if isinstance(value, dict) else None
    return None


def compact_output(path: str | Path, fmt: str, dry_run: bool = False) -> Compacted:
    """Rewrite the output at `path` (a regular file; the caller holds it) keeping only the rows
    readers return. OutputError for a file that is not a score file or that changed meanwhile."""
    path = Path(path)
    if not path.is_file():
        raise OutputError(f"{path}: no such file" if not path.exists()
                          else f"{path}: not a regular file")
    size = path.stat().st_size
    try:
        keep, dropped = last_positions(path, fmt)
    except OutputError as exc:  # the readers' hint is score-dir's; this is not a --out
        raise OutputError(str(exc).replace(f"; {_REDO}", "; check the file and --format")) \
            from None
    tombstones = superseded = 0
    tmp = path.with_name(f".{path.name}.compact.{os.getpid()}")
    writer = None if dry_run else RowWriter(tmp, fmt, provenance=_provenance(path, fmt))
    try:
        i = -1
        for i, (_, row) in enumerate(iter_output(path, fmt, ReadResult())):
            if i >= len(keep):
                break
            if not keep[i]:
                superseded += 1
            elif row.get("error") == WITHDRAWN:
                tombstones += 1
            elif writer is not None:
                writer.write(row)
        if i + 1 != len(keep):
            raise OutputError(f"{path}: changed while it was compacted (another process writes "
                              "it?); left as it was")
        if writer is not None:
            writer.close()
            os.chmod(tmp, stat.S_IMODE(path.stat().st_mode))  # the output's own permissions
            os.replace(tmp, path)
    finally:
        if writer is not None and not writer.closed:
            with suppress(OutputError):
                writer.close()
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
    after = int(keep.sum()) - tombstones
    return Compacted(str(path), len(keep), after, superseded, tombstones, dropped, size,
                     None if dry_run else path.stat().st_size, dry_run)
