"""Exact duplicate videos by content hash, so one clip listed by two datasets is one video.

A file hashes to sha256 of its bytes; a folder of frames to sha256 over its files' relative
names and bytes, in sorted order. Only regular files and folders are hashed (a FIFO would block),
and only those whose size (or, for a folder, file count and total size) collides with another's:
a unique size cannot be a duplicate, so most of the corpus is never read.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

_CHUNK = 1 << 20  # 1 MiB reads: hashing is bound by disk, not by Python overhead


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _update_with_file(h, path: Path) -> None:
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)


def content_hash(path: str | Path) -> str:
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        for p in _files_under(path):
            h.update(p.relative_to(path).as_posix().encode() + b"\0")
            h.update(str(p.stat().st_size).encode() + b"\0")
            _update_with_file(h, p)
    else:
        _update_with_file(h, path)
    return h.hexdigest()


def _size_key(path: Path) -> tuple:
    if path.is_dir():
        files = _files_under(path)
        return ("dir", len(files), sum(p.stat().st_size for p in files))
    return ("file", path.stat().st_size)


def _group(paths: Iterable[str], key) -> list[list[str]]:
    groups: dict = {}
    for p in sorted(set(paths)):
        groups.setdefault(key(p), []).append(p)
    return [g for g in groups.values() if len(g) > 1]


def duplicate_aliases(paths: Iterable[str]) -> dict[str, str]:
    """path -> canonical path (the smallest of its duplicates), for duplicated existing paths
    only; a path absent from the result is its own canonical."""
    # regular files and folders only: a FIFO or device named in an annotation file would
    # block (or never end) the first read of its content hash
    existing = [p for p in paths if os.path.isfile(p) or os.path.isdir(p)]
    aliases: dict[str, str] = {}
    for same_size in _group(existing, lambda p: _size_key(Path(p))):
        for same_hash in _group(same_size, content_hash):
            canonical = same_hash[0]
            aliases.update({p: canonical for p in same_hash[1:]})
    return aliases
