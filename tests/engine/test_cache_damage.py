"""The embedding cache survives its own damage, and a kill -9 keeps what it flushed."""

import sqlite3
import subprocess
import sys
import textwrap

import numpy as np

from cleverward.engine import embedding_cache as ec
from cleverward.engine.embedding_cache import CacheConfig, GuardedCache, Namespace

DIM = 6
VIDEO = Namespace("video", "enc-a", "frames=8", DIM)
TEXT = Namespace("text", "txt-a", "", 4)


def vec(seed, dim=DIM):
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def guarded(root, **cfg):
    return GuardedCache(CacheConfig(root=str(root), **cfg), VIDEO, TEXT)


def fill(root, n=40):
    """A cache with n text entries, flushed and closed (the database then has several pages)."""
    with guarded(root) as cache:
        cache.put_texts([f"prompt {i} " + "x" * 200 for i in range(n)],
                        np.stack([vec(i, 4) for i in range(n)]))
    return root / ec.DB_NAME


def garble_pages(db, first_page=2):
    """Random bytes over every page after the first: the header still says SQLite."""
    page = int.from_bytes(db.read_bytes()[16:18], "big")
    data = bytearray(db.read_bytes())
    rng = np.random.default_rng(1)
    data[page * (first_page - 1):] = rng.integers(0, 256, len(data) - page * (first_page - 1),
                                                  dtype=np.uint8).tobytes()
    db.write_bytes(bytes(data))


def test_garbled_pages_behind_a_valid_header_are_moved_aside_and_rebuilt(tmp_path, caplog):
    db = fill(tmp_path / "c")
    garble_pages(db)
    assert db.read_bytes()[:16] == b"SQLite format 3\x00"
    cache = guarded(tmp_path / "c")  # may open fine: the damage shows at the first query
    assert cache.get_texts(["prompt 1 " + "x" * 200]) == [None]
    cache.put_texts(["fresh"], vec(7, 4)[None])
    cache.close()
    damaged = [p.name for p in (tmp_path / "c").iterdir()
               if ".damaged-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    assert len(damaged) == 1 and damaged[0].startswith("cache.sqlite.damaged-")
    assert any("is damaged" in w and damaged[0] in w for w in cache.warnings), cache.warnings
    with guarded(tmp_path / "c") as again:  # the rebuilt database works and kept the new entry
        np.testing.assert_array_equal(again.get_texts(["fresh"])[0], vec(7, 4))
        assert again.warnings == []


def test_a_file_that_is_not_a_database_is_moved_aside_at_open(tmp_path):
    root = tmp_path / "c"
    root.mkdir()
    (root / ec.DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with guarded(root) as cache:
        assert cache.get_texts(["a"]) == [None]
        cache.put_texts(["a"], vec(1, 4)[None])
    assert any("is damaged" in w for w in cache.warnings)
    with guarded(root) as cache:
        np.testing.assert_array_equal(cache.get_texts(["a"])[0], vec(1, 4))


def test_a_busy_database_switches_the_cache_off_without_moving_it(tmp_path):
    db = fill(tmp_path / "c", n=2)
    holder = sqlite3.connect(db)
    holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
    try:
        cache = guarded(tmp_path / "c", busy_timeout_s=0.05)
        assert cache.get_texts(["new"]) == [None]  # off: every lookup a miss, no error
        cache.put_texts(["new"], vec(3, 4)[None])
        cache.close()
    finally:
        holder.rollback()
        holder.close()
    assert not [p for p in (tmp_path / "c").iterdir() if ".damaged-" in p.name]
    assert any("unusable" in w and "locked" in w for w in cache.warnings), cache.warnings


_KILLED = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from cleverward.engine.embedding_cache import CacheConfig, EmbeddingCache, Namespace
    cache = EmbeddingCache(CacheConfig(root=sys.argv[1], flush_rows=3),
                           Namespace("video", "enc-a", "frames=8", 6), None)
    for i in range(7):
        path = os.path.join(sys.argv[1], "..", f"v{i}.mp4")
        with open(path, "wb") as f:
            f.write(b"clip %d" % i * 50)
        cache.put_video(path, np.full(6, i, np.float32))
    os.kill(os.getpid(), signal.SIGKILL)  # no close(), no atexit: what a kill -9 leaves
""")


def test_kill_9_keeps_every_flushed_vector(tmp_path):
    """flush_rows=3: 7 puts flush after the 3rd and the 6th; the 7th is lost with the process.
    The defaults bound the loss of a real run (before: 2,048 vectors and no time limit)."""
    defaults = CacheConfig(root="unused")
    assert defaults.flush_rows <= 256 and defaults.flush_seconds <= 30
    root = tmp_path / "c"
    proc = subprocess.run([sys.executable, "-c", _KILLED, str(root)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    with GuardedCache(CacheConfig(root=str(root)), Namespace("video", "enc-a", "frames=8", 6),
                      None) as cache:
        got = [cache.get_video(str(root / ".." / f"v{i}.mp4")) for i in range(7)]
    assert [g is not None for g in got] == [True] * 6 + [False]
    assert [float(g[0]) for g in got[:6]] == [0, 1, 2, 3, 4, 5]


def test_time_based_flush(tmp_path, monkeypatch):
    """flush_seconds elapsed since the last flush: the next put flushes, whatever the count."""
    clock = [1000.0]
    monkeypatch.setattr(ec.time, "monotonic", lambda: clock[0])
    cache = ec.EmbeddingCache(CacheConfig(root=str(tmp_path / "c"), flush_seconds=30), None, TEXT)
    cache.put_texts(["a"], vec(1, 4)[None])
    assert cache.stats.stored == 0
    clock[0] += 31
    cache.put_texts(["b"], vec(2, 4)[None])
    assert cache.stats.stored == 2  # both written without close()
    cache.close()
