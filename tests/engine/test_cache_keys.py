"""Cache keys: the full content, not a prefix, decides a video's key (issue 15's gap).

References are computed independently with hashlib over the whole byte stream the docstrings
of engine/embedding_cache.py define; files are read in 1 MiB blocks there, so every file that
matters here is larger than one block.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from cleverward.engine.embedding_cache import (
    CacheConfig,
    EmbeddingCache,
    Namespace,
    content_digest,
    file_signature,
    text_key,
)

MIB = 1 << 20
OLD_NS = 1_600_000_000 * 10**9  # an mtime far in the past: a memo recorded now is trusted


def _write(path, data: bytes, mtime_ns: int = OLD_NS):
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def _bytes(n: int, seed: int = 0) -> bytearray:
    return bytearray(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8))


def _cache(root) -> EmbeddingCache:
    return EmbeddingCache(CacheConfig(root=str(root)), Namespace("video", "enc", "frames=8", 3),
                          Namespace("text", "txt", "", 3))


@pytest.mark.parametrize("size", [0, 1, MIB - 1, MIB, MIB + 1, 2 * MIB + 12345])
def test_digest_is_the_sha256_of_every_byte(tmp_path, size):
    data = bytes(_bytes(size, seed=size % 97))
    assert content_digest(_write(tmp_path / "v.mp4", data)) == hashlib.sha256(data).hexdigest()


def test_files_differing_only_after_the_first_mib_get_different_keys(tmp_path):
    """Two 2.5 MiB files, equal in size and in their first MiB (and mtime), one byte apart at
    1 MiB + 1000: a key built from a prefix (or from size and mtime) would collide and serve a's
    embedding for b."""
    a = _bytes(2 * MIB + MIB // 2)
    b = bytearray(a)
    b[MIB + 1000] ^= 0x01
    pa, pb = _write(tmp_path / "a.mp4", bytes(a)), _write(tmp_path / "b.mp4", bytes(b))
    with _cache(tmp_path / "cache") as cache:
        ka, kb = cache.video_key(pa), cache.video_key(pb)
        assert ka == hashlib.sha256(a).hexdigest() and kb == hashlib.sha256(b).hexdigest()
        cache.put_video(str(pa), np.ones(3, np.float32))
        assert cache.get_video(str(pb)) is None
        np.testing.assert_array_equal(cache.get_video(str(pa)), np.ones(3, np.float32))


def test_a_change_past_the_first_mib_is_a_miss_in_a_later_session(tmp_path):
    """Same path, same size, a later mtime: the memo must not hand back the old key."""
    data = _bytes(MIB + 4096)
    p = _write(tmp_path / "v.mp4", bytes(data))
    with _cache(tmp_path / "cache") as cache:
        cache.put_video(str(p), np.ones(3, np.float32))
    data[-1] ^= 0xFF
    _write(p, bytes(data), OLD_NS + 10**9)
    with _cache(tmp_path / "cache") as cache:
        assert cache.video_key(p) == hashlib.sha256(data).hexdigest()
        assert cache.get_video(str(p)) is None


def _frames(folder, frames: dict[str, bytes]):
    folder.mkdir()
    for name, data in frames.items():
        _write(folder / name, data)
    return folder


def test_frames_folder_digest_frames_names_and_lengths(tmp_path):
    """The stream is, per frame in natural order: len(name) (8 bytes LE), name, size (8 bytes LE),
    bytes. Worked here for 2.png (b"yz") and 10.png (b"x", after 2.png in natural order)."""
    d = _frames(tmp_path / "a", {"10.png": b"x", "2.png": b"yz", "notes.txt": b"ignored"})
    stream = (b"\x05" + b"\0" * 7 + b"2.png" + b"\x02" + b"\0" * 7 + b"yz"
              + b"\x06" + b"\0" * 7 + b"10.png" + b"\x01" + b"\0" * 7 + b"x")
    assert content_digest(d) == hashlib.sha256(stream).hexdigest()
    # the same concatenated bytes split differently between the frames: a different key
    e = _frames(tmp_path / "b", {"10.png": b"", "2.png": b"yzx"})
    assert content_digest(e) != content_digest(d)


def test_text_key_is_the_sha256_of_the_utf8_text():
    assert text_key("a café") == hashlib.sha256("a café".encode()).hexdigest()
    assert text_key("a cat") != text_key("a cat ")


def test_file_signature_is_size_and_mtime(tmp_path):
    p = _write(tmp_path / "v.mp4", b"12345", mtime_ns=OLD_NS + 7)
    assert file_signature(p) == (5, OLD_NS + 7)


def test_frames_folder_signature_sums_sizes_and_takes_the_latest_mtime(tmp_path):
    d = _frames(tmp_path / "clip", {"1.png": b"abc", "2.png": b"de"})
    os.utime(d / "1.png", ns=(OLD_NS + 30, OLD_NS + 30))
    os.utime(d / "2.png", ns=(OLD_NS + 20, OLD_NS + 20))
    os.utime(d, ns=(OLD_NS + 10, OLD_NS + 10))
    assert file_signature(d) == (5, OLD_NS + 30)
    os.utime(d, ns=(OLD_NS + 40, OLD_NS + 40))  # a frame removed or renamed touches the folder
    assert file_signature(d) == (5, OLD_NS + 40)


def test_namespace_folder_names_kind_and_hashes_every_field():
    """folder = kind + "-" + sha256("kind\\nfingerprint\\ndecode")[:16] (the cache's on-disk
    layout: a different rule would orphan every existing cache)."""
    ns = Namespace("video", "enc-a", "frames=8", 4)
    ident = b"video\nenc-a\nframes=8"
    assert ns.folder() == "video-" + hashlib.sha256(ident).hexdigest()[:16]
    # the separator keeps ("enc-a", "frames=8") and ("enc-af", "rames=8") apart
    assert Namespace("video", "enc-af", "rames=8", 4).folder() != ns.folder()
    assert Namespace("text", "enc-a", "frames=8", 4).folder().startswith("text-")


def test_one_session_hashes_each_file_once(tmp_path):
    """Three files, each keyed twice in one session: three hashes, counted (stats.hashed)."""
    paths = [_write(tmp_path / f"v{i}.mp4", bytes(_bytes(100, seed=i))) for i in range(3)]
    with _cache(tmp_path / "cache") as cache:
        keys = [cache.video_key(p) for p in paths + paths]
        assert cache.stats.hashed == 3
    assert keys[:3] == keys[3:] == [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_a_later_session_trusts_the_memo_and_counts_each_hit(tmp_path):
    paths = [_write(tmp_path / f"v{i}.mp4", bytes(_bytes(100, seed=i))) for i in range(2)]
    with _cache(tmp_path / "cache") as cache:
        for p in paths:
            cache.video_key(p)
    with _cache(tmp_path / "cache") as cache:
        assert [cache.video_key(p) for p in paths] == [
            hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]
        assert (cache.stats.memo_hits, cache.stats.hashed) == (2, 0)


def test_a_memo_recorded_exactly_one_window_after_the_mtime_is_trusted(tmp_path, monkeypatch):
    """racy means recorded_ns < mtime_ns + window: at recorded_ns == mtime_ns + window the
    file had a full window to settle, so the memo holds (the boundary, to the nanosecond)."""
    import cleverward.engine.embedding_cache as ec

    mtime = OLD_NS
    p = _write(tmp_path / "v.mp4", b"abc", mtime_ns=mtime)
    monkeypatch.setattr(ec.time, "time_ns", lambda: mtime + 10**9)  # the clock when hashing
    cfg = CacheConfig(root=str(tmp_path / "cache"), racy_window_s=1.0)
    spaces = (Namespace("video", "enc", "frames=8", 3), Namespace("text", "txt", "", 3))
    with EmbeddingCache(cfg, *spaces) as cache:
        cache.video_key(p)
    with EmbeddingCache(cfg, *spaces) as cache:
        cache.video_key(p)
        assert (cache.stats.memo_hits, cache.stats.hashed) == (1, 0)
