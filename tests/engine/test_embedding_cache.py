"""The persistent embedding cache: keys, memo, verification on read, concurrency, compaction."""

import logging
import multiprocessing
import os
import sqlite3
import time
from types import SimpleNamespace

import numpy as np
import pytest

from cleverward.engine import embedding_cache as ec
from cleverward.engine.cache_api import NullCache
from cleverward.engine.embedding_cache import CacheConfig, EmbeddingCache, Namespace, open_cache

DIM = 6
DECODE = "frames=8;size=224x224;crop=center"
OLD_NS = 1_600_000_000 * 10**9  # an mtime far in the past: memos recorded now are trusted


def video_ns(fingerprint="enc-a", decode=DECODE, dim=DIM):
    return Namespace("video", fingerprint, decode, dim)


def text_ns(fingerprint="txt-a", dim=4):
    return Namespace("text", fingerprint, "", dim)


def open_at(root, video=None, text=None, **cfg):
    return EmbeddingCache(CacheConfig(root=str(root), **cfg), video or video_ns(),
                          text or text_ns())


def vec(seed, dim=DIM):
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


def write(path, data: bytes, mtime_ns=OLD_NS):
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


@pytest.fixture()
def video(tmp_path):
    return write(tmp_path / "a.mp4", b"video bytes " * 100)


@pytest.fixture()
def hash_calls(monkeypatch):
    calls = []
    real = ec.content_digest
    monkeypatch.setattr(ec, "content_digest", lambda p: calls.append(str(p)) or real(p))
    return calls


def test_round_trip_across_sessions(tmp_path, video):
    with open_at(tmp_path / "c") as cache:
        assert cache.get_video(str(video)) is None
        cache.put_video(str(video), vec(0))
    with open_at(tmp_path / "c") as cache:
        np.testing.assert_array_equal(cache.get_video(str(video)), vec(0))
        assert (cache.stats.hits, cache.stats.misses) == (1, 0)


def test_content_change_is_a_miss(tmp_path, video):
    with open_at(tmp_path / "c") as cache:
        cache.get_video(str(video))
        cache.put_video(str(video), vec(0))
    write(video, b"other bytes " * 100, mtime_ns=OLD_NS + 10**9)
    with open_at(tmp_path / "c") as cache:
        assert cache.get_video(str(video)) is None


@pytest.mark.parametrize("other", [video_ns(fingerprint="enc-b"),
                                   video_ns(decode="frames=16;size=224x224;crop=center"),
                                   video_ns(decode="frames=8;size=256x256;crop=center")],
                         ids=["encoder", "frames", "size"])
def test_encoder_or_decode_change_is_a_miss(tmp_path, video, other):
    with open_at(tmp_path / "c") as cache:
        cache.put_video(str(video), vec(0))
    with open_at(tmp_path / "c", video=other) as cache:
        assert cache.get_video(str(video)) is None
    with open_at(tmp_path / "c") as cache:  # the original namespace still has it
        np.testing.assert_array_equal(cache.get_video(str(video)), vec(0))


def test_renamed_file_hits_and_paths_are_recorded(tmp_path, video):
    with open_at(tmp_path / "c") as cache:
        cache.put_video(str(video), vec(0))
    moved = tmp_path / "renamed.webm"
    video.rename(moved)
    with open_at(tmp_path / "c") as cache:
        np.testing.assert_array_equal(cache.get_video(str(moved)), vec(0))
    db = sqlite3.connect(tmp_path / "c" / ec.DB_NAME)
    seen = {p for (p,) in db.execute("SELECT path FROM paths_seen")}
    assert seen == {str(video), str(moved)}


def test_memo_spares_rehashing_an_unchanged_file(tmp_path, video, hash_calls):
    with open_at(tmp_path / "c") as cache:
        cache.get_video(str(video))
        cache.put_video(str(video), vec(0))  # same process: no second hash either
    assert len(hash_calls) == 1
    with open_at(tmp_path / "c") as cache:
        assert cache.get_video(str(video)) is not None
        assert cache.stats.memo_hits == 1
    assert len(hash_calls) == 1
    write(video, b"changed " * 50, mtime_ns=OLD_NS + 5 * 10**9)  # new size and mtime
    with open_at(tmp_path / "c") as cache:
        assert cache.get_video(str(video)) is None
    assert len(hash_calls) == 2


def test_racily_recorded_memo_is_rechecked_once(tmp_path, hash_calls, monkeypatch):
    """The hash's start time is set by hand (a wall clock under load made this flaky): 0.01 s
    after the file's mtime is inside the 1 s racy window, 5 s after is not."""
    fresh = tmp_path / "fresh.mp4"
    fresh.write_bytes(b"just written")
    mtime = fresh.stat().st_mtime_ns
    for expected, after_s in ((1, 0.01), (2, 5.0), (2, 6.0)):  # hashed, racy: again, then held
        monkeypatch.setattr(ec.time, "time_ns", lambda a=after_s: mtime + int(a * 1e9))
        with open_at(tmp_path / "c", racy_window_s=1.0) as cache:
            cache.get_video(str(fresh))
        assert len(hash_calls) == expected


def test_racy_window_is_respected(tmp_path, hash_calls):
    fresh = tmp_path / "fresh.mp4"
    fresh.write_bytes(b"just written")
    for expected in (1, 2, 3):  # with a huge window the memo is never trusted
        with open_at(tmp_path / "c", racy_window_s=3600) as cache:
            cache.get_video(str(fresh))
        assert len(hash_calls) == expected


def test_file_changed_during_encoding_is_not_cached(tmp_path, video):
    with open_at(tmp_path / "c") as cache:
        cache.get_video(str(video))
        write(video, b"rewritten while decoding", mtime_ns=OLD_NS + 10**9)
        cache.put_video(str(video), vec(0))
        assert any("changed while" in p for p in cache.stats.problems)
    with open_at(tmp_path / "c") as cache:
        assert cache.get_video(str(video)) is None


def _shard_files(root):
    return sorted((root / "vectors").glob("video-*/*.faiss"))


def test_corrupt_vector_is_a_reported_miss_then_replaced(tmp_path, video, caplog):
    with open_at(tmp_path / "c") as cache:
        cache.put_video(str(video), vec(0))
    (shard,) = _shard_files(tmp_path / "c")
    data = bytearray(shard.read_bytes())
    data[-8:] = b"\xff" * 8  # the last vector's last components
    shard.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="cleverward.cache"):
        with open_at(tmp_path / "c") as cache:
            assert cache.get_video(str(video)) is None
            assert cache.stats.invalid == 1 and "checksum" in cache.stats.problems[0]
            cache.put_video(str(video), vec(1))
    assert "checksum" in caplog.text
    with open_at(tmp_path / "c") as cache:
        np.testing.assert_array_equal(cache.get_video(str(video)), vec(1))


@pytest.mark.parametrize("damage", ["truncate", "delete", "garbage"])
def test_unreadable_shard_is_a_reported_miss(tmp_path, video, damage):
    with open_at(tmp_path / "c") as cache:
        cache.put_video(str(video), vec(0))
    (shard,) = _shard_files(tmp_path / "c")
    if damage == "truncate":
        shard.write_bytes(shard.read_bytes()[:40])
    elif damage == "delete":
        shard.unlink()
    else:
        shard.write_bytes(b"not a faiss index" * 10)
    with open_at(tmp_path / "c") as cache:
        assert cache.get_video(str(video)) is None
        assert cache.stats.invalid == 1


def test_dimension_mismatch_is_a_reported_miss(tmp_path, video):
    with open_at(tmp_path / "c") as cache:
        cache.put_video(str(video), vec(0))
    # the same namespace identity now claiming another width (an encoder that changed its
    # output without changing its fingerprint): the stored entry must not be returned
    with open_at(tmp_path / "c", video=video_ns(dim=DIM + 1)) as cache:
        assert cache.get_video(str(video)) is None
        assert "dim" in cache.stats.problems[0]
    with pytest.raises(ValueError, match="expected dim"):
        with open_at(tmp_path / "c") as cache:
            cache.put_video(str(video), vec(0, DIM + 2))


def test_frames_folder_keys(tmp_path):
    folder = tmp_path / "clip_frames"
    folder.mkdir()
    for i in range(3):
        write(folder / f"f_{i}.png", f"frame {i}".encode())
    os.utime(folder, ns=(OLD_NS, OLD_NS))
    with open_at(tmp_path / "c") as cache:
        key = cache.video_key(folder)
        cache.put_video(str(folder), vec(0))
    copy = tmp_path / "copy_frames"
    copy.mkdir()
    for f in folder.iterdir():
        write(copy / f.name, f.read_bytes())
    with open_at(tmp_path / "c") as cache:
        np.testing.assert_array_equal(cache.get_video(str(copy)), vec(0))
        (copy / "f_2.png").rename(copy / "f_9.png")  # same bytes, another frame name
        assert cache.video_key(copy) != key
    assert ec.content_digest(folder) == key


def test_texts_are_cached_by_text_and_encoder(tmp_path):
    texts = ["a corgi surfing", "a red balloon"]
    with open_at(tmp_path / "c") as cache:
        assert cache.get_texts(texts) == [None, None]
        cache.put_texts(texts, np.stack([vec(1, 4), vec(2, 4)]))
    with open_at(tmp_path / "c") as cache:
        got = cache.get_texts(["a red balloon", "unseen"])
        np.testing.assert_array_equal(got[0], vec(2, 4))
        assert got[1] is None
    with open_at(tmp_path / "c", text=text_ns("txt-b")) as cache:
        assert cache.get_texts(texts) == [None, None]


def test_small_shards_are_compacted(tmp_path):
    files = [write(tmp_path / f"v{i}.mp4", f"clip {i}".encode()) for i in range(12)]
    for i, f in enumerate(files):  # one session (one shard) per video
        with open_at(tmp_path / "c", compact_min_shards=4, flush_rows=8) as cache:
            cache.put_video(str(f), vec(i))
    assert len(_shard_files(tmp_path / "c")) < 6
    with open_at(tmp_path / "c") as cache:
        for i, f in enumerate(files):
            np.testing.assert_array_equal(cache.get_video(str(f)), vec(i))


def _writer(root: str, paths: list[str], offset: int) -> None:
    cfg = CacheConfig(root=root, flush_rows=16)
    with EmbeddingCache(cfg, video_ns(), text_ns()) as cache:
        for i, p in enumerate(paths):
            cache.get_video(p)
            cache.put_video(p, vec(int(p.rsplit("_", 1)[1].split(".")[0])))
            if i % 20 == offset:
                time.sleep(0.001)


def test_two_processes_writing_at_once(tmp_path):
    files = [str(write(tmp_path / f"v_{i}.mp4", f"clip {i}".encode() * 10)) for i in range(120)]
    shared = files[:40]  # both processes embed these
    a, b = shared + files[40:80], shared[::-1] + files[80:]
    # spawn, not fork: by now the suite has started OpenMP, ORT and gloo threads, and a forked
    # child inherits their locks in whatever state they were
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path / "c"), part, k))
             for k, part in enumerate((a, b))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with open_at(tmp_path / "c") as cache:
        for f in files:
            np.testing.assert_array_equal(cache.get_video(f), vec(int(f.rsplit("_", 1)[1][:-4])))
        assert cache.stats.invalid == 0


def _fake_model(fingerprint="enc-a"):
    encoder = SimpleNamespace(dim=DIM)
    text = SimpleNamespace(dim=4, fingerprint=lambda: "txt-a")
    from cleverward.engine.config import DecodeConfig

    return SimpleNamespace(
        fingerprint=lambda: fingerprint, video_encoder=encoder, text_encoder=text,
        decode_config=lambda frames=None, decoder="auto": DecodeConfig(frames=frames or 8,
                                                                       decoder=decoder))


def test_open_cache_follows_the_config(tmp_path):
    from cleverward.engine.config import ScoreConfig

    base = dict(videos_dir=str(tmp_path), prompts_file="p.jsonl", out="o.jsonl")
    assert isinstance(open_cache(ScoreConfig(**base, use_cache=False), _fake_model()), NullCache)
    chosen = open_cache(ScoreConfig(**base, cache_dir=str(tmp_path / "mine")), _fake_model())
    assert chosen.location == tmp_path / "mine"
    chosen.close()
    default = open_cache(ScoreConfig(**base), _fake_model())  # CLEVERWARD_CACHE (conftest)
    assert str(default.location) == os.environ["CLEVERWARD_CACHE"]
    default.close()


def test_config_is_validated():
    with pytest.raises(ValueError, match="flush_rows"):
        CacheConfig(root="x", flush_rows=0)
    with pytest.raises(ValueError, match="kind"):
        Namespace("audio", "fp", "", 4)
