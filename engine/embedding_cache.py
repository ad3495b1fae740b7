"""The persistent embedding cache: vectors in FAISS shard files, metadata in SQLite.

Keys
    video  sha256 of the file's bytes; for a folder of frames, of its frame files' names, sizes
           and bytes in frame order. A renamed or copied file hits.
    text   sha256 of the UTF-8 text.
A key is looked up only inside its namespace, (kind, encoder fingerprint, decode config key), so a
changed encoder (weights, preprocessing) or decode setting (frames, size) never reuses a vector.

Layout under the cache root (default: environment.default_cache_dir(); `--cache DIR` chooses):
    cache.sqlite                  namespaces; entries (namespace, key -> shard, row, dim, dtype,
                                  checksum, dataset, created); paths_seen (key, path, last_seen);
                                  file_memo (path -> size, mtime_ns, key)
    vectors/<namespace>/*.faiss   immutable shards (vector_store.py)

Verified on read: an entry whose dim or dtype does not match the encoder, whose shard is missing
or unreadable, or whose bytes fail their checksum is a miss; it is logged, counted in `stats`,
and dropped from the metadata so the fresh vector replaces it. A wrong vector is never returned.

Concurrency: SQLite (WAL, busy timeout) serialises metadata writes between processes; vectors go to
per-process shards written atomically, so two runs at once cannot corrupt each other. Puts are
buffered and flushed every `flush_rows` vectors or `flush_seconds`, and at close(): metadata is
committed only after its shard is in place, so a kill -9 loses at most that much work, never
consistency.

Damage: the cache only saves time, so it never stops a run. `open_cache` returns a GuardedCache:
any sqlite3.DatabaseError at open or at any later call (a garbled page behind a valid header shows
up only when a query touches it) moves the damaged database aside (`cache.sqlite.damaged-<time>`,
named in a warning) and the run goes on with a fresh one, which it rebuilds. A database that is
only busy (locked by another process past the timeout) is not damaged: the cache is switched off
for the rest of the run instead. At close, many small
shards are merged (compaction) by whichever process gets the namespace's lock first.

The memo, (path, size, mtime_ns) -> key, spares rehashing unchanged files. As with git's "racily
clean" entries, a memo recorded within `racy_window_s` of the file's mtime is not trusted (the file
could be rewritten within the same timestamp tick): such a file is hashed once more on its next
lookup, after which the memo holds. A file that changes between lookup and put is not cached.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from cleverward.engine.cache_api import NullCache
from cleverward.engine.decode.frames_dir import frame_files
from cleverward.engine.decode.source import open_regular
from cleverward.engine.vector_store import ShardError, ShardStore

logger = logging.getLogger("cleverward.cache")

DB_NAME = "cache.sqlite"
SCHEMA_VERSION = 1
ORPHAN_AGE_S = 3600.0  # an unreferenced shard younger than this may await its metadata commit
_SQL_CHUNK = 500  # keys per IN (...) query, under SQLite's variable limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS namespaces (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, fingerprint TEXT NOT NULL,
    decode_key TEXT NOT NULL, dim INTEGER NOT NULL, folder TEXT NOT NULL, created REAL NOT NULL,
    UNIQUE (kind, fingerprint, decode_key));
CREATE TABLE IF NOT EXISTS entries (
    namespace INTEGER NOT NULL, key TEXT NOT NULL, shard TEXT NOT NULL, row INTEGER NOT NULL,
    dim INTEGER NOT NULL, dtype TEXT NOT NULL, checksum TEXT NOT NULL, dataset TEXT,
    created REAL NOT NULL, PRIMARY KEY (namespace, key));
CREATE INDEX IF NOT EXISTS entries_by_shard ON entries (namespace, shard);
CREATE TABLE IF NOT EXISTS paths_seen (
    key TEXT NOT NULL, path TEXT NOT NULL, last_seen REAL NOT NULL, PRIMARY KEY (key, path));
CREATE TABLE IF NOT EXISTS file_memo (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, key TEXT NOT NULL,
    recorded_ns INTEGER NOT NULL);
"""

_UPSERT = """
INSERT INTO entries (namespace, key, shard, row, dim, dtype, checksum, dataset, created)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (namespace, key) DO UPDATE SET
    shard = excluded.shard, row = excluded.row, dim = excluded.dim, dtype = excluded.dtype,
    checksum = excluded.checksum, dataset = COALESCE(excluded.dataset, entries.dataset),
    created = excluded.created
"""


@dataclass(frozen=True)
class CacheConfig:
    root: str
    flush_rows: int = 256  # vectors buffered before a shard is written (1668-d: 1.7 MB)
    flush_seconds: float = 30.0  # ... or this long since the last flush: a kill loses little
    compact_min_shards: int = 16  # small shards in a namespace before close() merges them
    compact_max_rows: int = 8192  # rows merged per compaction (bounds its memory)
    racy_window_s: float = 2.0
    busy_timeout_s: float = 60.0  # wait this long for another process's write lock

    def __post_init__(self) -> None:
        if not self.root:
            raise ValueError("root: must name a folder")
        for name in ("flush_rows", "compact_min_shards", "compact_max_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")
        if not self.flush_seconds > 0:
            raise ValueError(f"flush_seconds: must be > 0, got {self.flush_seconds}")
        if self.racy_window_s < 0:
            raise ValueError(f"racy_window_s: must be >= 0, got {self.racy_window_s}")


@dataclass(frozen=True)
class Namespace:
    """What produced the vectors: kind (video | text), encoder fingerprint, decode config key."""

    kind: str
    fingerprint: str
    decode_key: str
    dim: int

    def __post_init__(self) -> None:
        if self.kind not in ("video", "text"):
            raise ValueError(f"kind: must be 'video' or 'text', got {self.kind!r}")
        if not self.fingerprint:
            raise ValueError("fingerprint: must not be empty")
        if self.dim < 1:
            raise ValueError(f"dim: must be >= 1, got {self.dim}")

    def folder(self) -> str:
        ident = f"{self.kind}\n{self.fingerprint}\n{self.decode_key}".encode()
        return f"{self.kind}-{hashlib.sha256(ident).hexdigest()[:16]}"


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    invalid: int = 0  # entries found but rejected on read (reported, then treated as misses)
    hashed: int = 0  # files whose content was hashed (the memo spares the rest)
    memo_hits: int = 0
    stored: int = 0
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in
                ("hits", "misses", "invalid", "hashed", "memo_hits", "stored", "problems")}


class _Entry(NamedTuple):
    key: str
    shard: str
    row: int
    dim: int
    dtype: str
    checksum: str


@dataclass
class _Space:
    id: int
    ns: Namespace
    store: ShardStore
    pending: dict[str, tuple[np.ndarray, str | None]] = field(default_factory=dict)


def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _hash_file(h, path: Path) -> None:
    with open_regular(path) as f:  # never a FIFO or device: hashing one would block or never end
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)


def content_digest(path: str | os.PathLike) -> str:
    """sha256 of a video file's bytes, or of a frames folder's (name, size, bytes) in frame
    order (lengths are hashed too, so no two different folders share a byte stream)."""
    p = Path(path)
    h = hashlib.sha256()
    if not p.is_dir():
        _hash_file(h, p)
        return h.hexdigest()
    for f in frame_files(p):
        name = f.name.encode()
        h.update(len(name).to_bytes(8, "little") + name + f.stat().st_size.to_bytes(8, "little"))
        _hash_file(h, f)
    return h.hexdigest()


def file_signature(path: str | os.PathLike) -> tuple[int, int]:
    """(size, mtime_ns) of a file; for a frames folder the total size of its frames and the
    latest mtime of the folder (changes when frames are added, removed or renamed) and frames."""
    p = Path(path)
    st = p.stat()
    if not p.is_dir():
        return st.st_size, st.st_mtime_ns
    stats = [f.stat() for f in frame_files(p)]
    return sum(s.st_size for s in stats), max([st.st_mtime_ns] + [s.st_mtime_ns for s in stats])


def vector_checksum(vector: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(vector).tobytes(), digest_size=8).hexdigest()


def _check_entry(entry: _Entry, ns: Namespace) -> str | None:
    if entry.dim != ns.dim:
        return f"stored dim {entry.dim} != encoder dim {ns.dim}"
    if entry.dtype != "float32":
        return f"stored dtype {entry.dtype} != float32"
    return None


def _check_vector(vector: np.ndarray, entry: _Entry) -> str | None:
    if vector.dtype != np.float32 or vector.shape != (entry.dim,):
        return f"read {vector.dtype} {vector.shape}, expected float32 ({entry.dim},)"
    if vector_checksum(vector) != entry.checksum:
        return "checksum mismatch (corrupt vector)"
    return None


def _set_wal(db: sqlite3.Connection, path: Path, timeout: float) -> None:
    """Switch the database to WAL (readers never block the writer and vice versa). The switch
    needs an exclusive lock, and SQLite answers "database is locked" at once, without calling
    the busy handler, while another process is opening or creating the same file; so retry
    until the timeout rather than fail the run."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) and "busy" not in str(err):
                raise
            if time.monotonic() >= deadline:
                raise sqlite3.OperationalError(
                    f"{path}: still locked by another process after {timeout:.0f} s") from err
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


def _connect(path: Path, timeout: float = 60.0) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), timeout=timeout)
    _set_wal(db, path, timeout)
    db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable up to the last checkpoint
    db.executescript(_SCHEMA)
    if db.execute("PRAGMA user_version").fetchone()[0] == 0:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    return db


class EmbeddingCache:
    """Video and text embeddings, persistent across runs and processes. Same interface as
    NullCache (get_video / put_video / get_texts / put_texts / close)."""

    def __init__(
        self, cfg: CacheConfig, video: Namespace | None, text: Namespace | None = None
    ) -> None:
        self.cfg = cfg
        self.location = Path(cfg.root)
        self.location.mkdir(parents=True, exist_ok=True)
        self.stats = CacheStats()
        self._db = _connect(self.location / DB_NAME, cfg.busy_timeout_s)
        self._spaces = {ns.kind: self._register(ns) for ns in (video, text) if ns is not None}
        self._memo: dict[str, tuple[tuple[int, int], str]] = {}  # path -> (signature, key)
        self._memo_new: dict[str, tuple[int, int, str, int]] = {}  # path -> row to record
        self._seen: set[tuple[str, str]] = set()  # (key, path) to record
        self._closed = False
        self._last_flush = time.monotonic()

    def _register(self, ns: Namespace) -> _Space:
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO namespaces (kind, fingerprint, decode_key, dim, folder, "
                "created) VALUES (?, ?, ?, ?, ?, ?)",
                (ns.kind, ns.fingerprint, ns.decode_key, ns.dim, ns.folder(), time.time()))
        (ns_id,) = self._db.execute(
            "SELECT id FROM namespaces WHERE kind = ? AND fingerprint = ? AND decode_key = ?",
            (ns.kind, ns.fingerprint, ns.decode_key)).fetchone()
        return _Space(ns_id, ns, ShardStore(self.location / "vectors" / ns.folder()))

    # -- keys -------------------------------------------------------------------------------

    def video_key(self, path: str | os.PathLike) -> str | None:
        """Content key of a video file or frames folder; None if it cannot be read."""
        path = os.path.abspath(path)
        try:
            sig = file_signature(path)
            known = self._memo.get(path)
            if known is not None and known[0] == sig:
                return known[1]
            key = self._memo_key(path, sig)
            if key is None:
                started = time.time_ns()  # before reading: a write during hashing is then racy
                key = content_digest(path)
                self.stats.hashed += 1
                self._memo_new[path] = (*sig, key, started)
        except OSError:
            return None
        self._memo[path] = (sig, key)
        return key

    def _memo_key(self, path: str, sig: tuple[int, int]) -> str | None:
        row = self._db.execute(
            "SELECT size, mtime_ns, key, recorded_ns FROM file_memo WHERE path = ?", (path,)
        ).fetchone()
        if row is None or (row[0], row[1]) != sig:
            return None
        if row[1] + int(self.cfg.racy_window_s * 1e9) > row[3]:
            return None  # racily recorded: the file may have changed within the same tick
        self.stats.memo_hits += 1
        return row[2]

    # -- the interface score_directory uses -------------------------------------------------

    def get_video(self, path: str) -> np.ndarray | None:
        key = self.video_key(path)
        if key is None:
            self.stats.misses += 1
            return None
        self._seen.add((key, os.path.abspath(path)))
        return self._get("video", [key])[0]

    def put_video(self, path: str, vector: np.ndarray, dataset: str | None = None) -> None:
        """Cache the embedding of the file at `path` (as it was when get_video hashed it)."""
        path = os.path.abspath(path)
        known = self._memo.get(path)
        try:
            sig = file_signature(path)
        except OSError:
            sig = None
        if known is not None and known[0] != sig:
            self._report(f"{path}: changed while it was being encoded; not cached")
            return
        key = known[1] if known is not None else self.video_key(path)
        if key is None:
            return
        self._seen.add((key, path))
        self._put("video", key, vector, dataset)

    def get_texts(self, texts: list[str]) -> list[np.ndarray | None]:
        return self._get("text", [text_key(t) for t in texts])

    def put_texts(self, texts: list[str], vectors: np.ndarray) -> None:
        for text, vector in zip(texts, vectors, strict=True):
            self._put("text", text_key(text), vector, None)

    def close(self) -> None:
        if self._closed:
            return
        try:
            for kind in self._spaces:
                self._flush(kind)
            self._record_side_tables()
            for space in self._spaces.values():
                self._compact(space)
        finally:
            for space in self._spaces.values():
                space.store.close()
            self._db.close()
            self._closed = True

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- reads ------------------------------------------------------------------------------

    def _get(self, kind: str, keys: list[str]) -> list[np.ndarray | None]:
        space = self._spaces.get(kind)
        if space is None:
            return [None] * len(keys)
        out = [space.pending[k][0] if k in space.pending else None for k in keys]
        entries = self._entries(space.id, [k for k, v in zip(keys, out, strict=True) if v is None])
        for i, key in enumerate(keys):
            if out[i] is None and key in entries:
                out[i] = self._read_verified(space, entries[key])
        hits = sum(v is not None for v in out)
        self.stats.hits += hits
        self.stats.misses += len(keys) - hits
        return out

    def _entries(self, ns_id: int, keys: list[str]) -> dict[str, _Entry]:
        found: dict[str, _Entry] = {}
        for start in range(0, len(keys), _SQL_CHUNK):
            chunk = keys[start : start + _SQL_CHUNK]
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                "SELECT key, shard, row, dim, dtype, checksum FROM entries "
                f"WHERE namespace = ? AND key IN ({marks})", (ns_id, *chunk)):
                found[row[0]] = _Entry(*row)
        return found

    def _read_verified(self, space: _Space, entry: _Entry) -> np.ndarray | None:
        problem = _check_entry(entry, space.ns)
        if problem is None:
            try:
                vector = space.store.read(entry.shard, entry.row)
            except ShardError as exc:
                # Another process may have just moved the row (compaction): look it up again.
                moved = self._entries(space.id, [entry.key]).get(entry.key)
                if moved is not None and moved != entry:
                    return self._read_verified(space, moved)
                vector, problem = None, str(exc)
            if vector is not None:
                problem = _check_vector(vector, entry)
                if problem is None:
                    return vector
        self._invalidate(space, entry, problem)
        return None

    def _invalidate(self, space: _Space, entry: _Entry, problem: str) -> None:
        self.stats.invalid += 1
        self._report(f"cache entry {space.ns.kind}:{entry.key[:16]} rejected: {problem}")
        with self._db:
            self._db.execute(
                "DELETE FROM entries WHERE namespace = ? AND key = ? AND shard = ? AND row = ?",
                (space.id, entry.key, entry.shard, entry.row))

    def _report(self, message: str) -> None:
        if len(self.stats.problems) < 100:
            self.stats.problems.append(message)
        logger.warning(message)

    # -- writes -----------------------------------------------------------------------------

    def _put(self, kind: str, key: str, vector: np.ndarray, dataset: str | None) -> None:
        space = self._spaces.get(kind)
        if space is None:
            return
        vec = np.ascontiguousarray(vector, dtype=np.float32).reshape(-1)  # (D,)
        if vec.shape != (space.ns.dim,):
            raise ValueError(f"{kind} vector: expected dim {space.ns.dim}, got {vec.shape}")
        if not np.isfinite(vec).all():
            self._report(f"{kind} vector for {key[:16]} is not finite; not cached")
            return
        space.pending[key] = (vec, dataset)
        due = time.monotonic() - self._last_flush >= self.cfg.flush_seconds
        if len(space.pending) >= self.cfg.flush_rows or due:
            for name in self._spaces:
                self._flush(name)
            self._last_flush = time.monotonic()

    def _flush(self, kind: str) -> None:
        space = self._spaces[kind]
        if not space.pending:
            return
        keys = list(space.pending)
        vectors = np.stack([space.pending[k][0] for k in keys])  # (N, D)
        shard = space.store.write(vectors)  # in place before any metadata points at it
        now = time.time()
        rows = [(space.id, k, shard, i, space.ns.dim, "float32", vector_checksum(vectors[i]),
                 space.pending[k][1], now) for i, k in enumerate(keys)]
        with self._db:
            self._db.executemany(_UPSERT, rows)
        self.stats.stored += len(rows)
        space.pending.clear()
        self._record_side_tables()

    def _record_side_tables(self) -> None:
        now = time.time()
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO file_memo (path, size, mtime_ns, key, recorded_ns) "
                "VALUES (?, ?, ?, ?, ?)", [(p, *row) for p, row in self._memo_new.items()])
            self._db.executemany(
                "INSERT INTO paths_seen (key, path, last_seen) VALUES (?, ?, ?) "
                "ON CONFLICT (key, path) DO UPDATE SET last_seen = excluded.last_seen",
                [(k, p, now) for k, p in self._seen])
        self._memo_new.clear()
        self._seen.clear()

    # -- maintenance ------------------------------------------------------------------------

    def _compact(self, space: _Space) -> None:
        """Merge small shards (every flush writes one) so lookups do not open thousands of
        files. Non-blocking: if another process holds the lock, it is compacting already."""
        with space.store.exclusive() as held:
            if not held:
                return
            small = self._db.execute(
                "SELECT shard, COUNT(*) FROM entries WHERE namespace = ? GROUP BY shard "
                "HAVING COUNT(*) < ? ORDER BY COUNT(*), shard",
                (space.id, self.cfg.flush_rows)).fetchall()
            if len(small) >= self.cfg.compact_min_shards:
                picked, total = [], 0
                for shard, n in small:
                    if picked and total + n > self.cfg.compact_max_rows:
                        break
                    picked.append(shard)
                    total += n
                self._merge(space, picked)
            self._sweep_orphans(space)

    def _merge(self, space: _Space, shards: list[str]) -> None:
        marks = ",".join("?" * len(shards))
        entries = [_Entry(*row) for row in self._db.execute(
            "SELECT key, shard, row, dim, dtype, checksum FROM entries "
            f"WHERE namespace = ? AND shard IN ({marks})", (space.id, *shards))]
        kept = [(e, v) for e in entries if (v := self._read_verified(space, e)) is not None]
        if kept:
            merged = space.store.write(np.stack([v for _, v in kept]))  # (N, D)
            with self._db:
                # Only rows still where we read them: a concurrent put may have replaced one.
                self._db.executemany(
                    "UPDATE entries SET shard = ?, row = ? WHERE namespace = ? AND key = ? "
                    "AND shard = ? AND row = ?",
                    [(merged, i, space.id, e.key, e.shard, e.row) for i, (e, _) in
                     enumerate(kept)])
        space.store.remove(shards)

    def _sweep_orphans(self, space: _Space) -> None:
        used = {s for (s,) in self._db.execute(
            "SELECT DISTINCT shard FROM entries WHERE namespace = ?", (space.id,))}
        stale = [s for s in space.store.names()
                 if s not in used and space.store.age_seconds(s) > ORPHAN_AGE_S]
        space.store.remove(stale)


def namespaces_for(model, frames: int | None = None, decoder: str = "auto") -> tuple[
        Namespace, Namespace]:
    """The (video, text) namespaces of a RewardModel under a decode setting."""
    decode = model.decode_config(frames, decoder)
    video = Namespace("video", model.fingerprint(), decode.key(), model.video_encoder.dim)
    text = Namespace("text", model.text_encoder.fingerprint(), "", model.text_encoder.dim)
    return video, text


def cache_root(cache_dir: str | os.PathLike | None) -> Path:
    from cleverward.engine.environment import default_cache_dir

    if not cache_dir:
        return default_cache_dir()
    return Path(os.path.abspath(Path(cache_dir).expanduser()))


def open_cache(cfg, model):
    """The cache a run should use: cfg has cache_dir, use_cache, frames, decoder (ScoreConfig,
    IndexConfig). NullCache when disabled; else a GuardedCache, which never stops a run."""
    if not cfg.use_cache:
        return NullCache()
    root = cache_root(cfg.cache_dir)
    video, text = namespaces_for(model, cfg.frames, cfg.decoder)
    return GuardedCache(CacheConfig(root=str(root)), video, text)


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


class GuardedCache:
    """An EmbeddingCache that survives its own damage (see the module docstring). Same
    interface; `warnings` lists what happened, for the run's summary."""

    def __init__(self, cfg: CacheConfig, video: Namespace | None,
                 text: Namespace | None = None) -> None:
        self.cfg, self._spaces = cfg, (video, text)
        self.location = Path(cfg.root)
        self.warnings: list[str] = []
        self.moved_aside: list[Path] = []
        self._inner = self._open(retry=True)

    @property
    def stats(self) -> CacheStats:
        return getattr(self._inner, "stats", CacheStats())

    def _open(self, retry: bool):
        try:
            return EmbeddingCache(self.cfg, *self._spaces)
        except sqlite3.DatabaseError as exc:
            if retry and not _is_busy(exc):
                self._move_aside(exc)
                return self._open(retry=False)
            return self._off(exc)
        except (OSError, sqlite3.Error) as exc:
            return self._off(exc)

    def _off(self, exc: Exception) -> NullCache:
        self._warn(f"embedding cache at {self.location} is unusable "
                   f"({type(exc).__name__}: {exc}); running without it")
        return NullCache()

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        logger.warning(message)

    def _move_aside(self, exc: sqlite3.DatabaseError) -> None:
        db = self.location / DB_NAME
        aside = db.with_name(f"{DB_NAME}.damaged-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(db) + suffix)
            if src.exists():
                os.replace(src, Path(str(aside) + suffix))
        self.moved_aside.append(aside)
        self._warn(f"embedding cache database {db} is damaged ({exc}); moved aside to "
                   f"{aside.name}, rebuilding it")

    def _recover(self, exc: sqlite3.Error) -> None:
        """Drop the damaged inner cache (its unflushed vectors are lost) and start afresh."""
        with contextlib.suppress(Exception):
            self._inner._db.close()
        if _is_busy(exc) or not isinstance(exc, sqlite3.DatabaseError):
            self._inner = self._off(exc)
            return
        try:
            self._move_aside(exc)
        except OSError as move_error:
            self._inner = self._off(move_error)
            return
        self._inner = self._open(retry=False)

    def _call(self, name: str, fallback, *args):
        try:
            return getattr(self._inner, name)(*args)
        except sqlite3.Error as exc:
            self._recover(exc)
            return fallback

    def get_video(self, path: str) -> np.ndarray | None:
        return self._call("get_video", None, path)

    def put_video(self, path: str, vector: np.ndarray, dataset: str | None = None) -> None:
        extra = (dataset,) if dataset is not None else ()  # NullCache takes no dataset
        self._call("put_video", None, path, vector, *extra)

    def get_texts(self, texts: list[str]) -> list[np.ndarray | None]:
        return self._call("get_texts", [None] * len(texts), texts)

    def put_texts(self, texts: list[str], vectors: np.ndarray) -> None:
        self._call("put_texts", None, texts, vectors)

    def close(self) -> None:
        try:
            self._inner.close()
        except sqlite3.Error as exc:
            self._recover(exc)
            with contextlib.suppress(sqlite3.Error):
                self._inner.close()

    def __enter__(self) -> GuardedCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
