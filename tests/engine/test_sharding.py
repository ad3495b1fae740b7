"""Shards: a pure function of a file's content, the same in every process and on every machine.

The expected values are worked out from the rule in engine/sharding.py's docstring: the probe is
`str(size) + NUL + first 64 KiB + last 64 KiB` (the whole file when it is at most 128 KiB), and
the shard is the first 8 bytes of its SHA-256, big-endian, modulo N.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cleverward.engine.sharding import PROBE_BYTES, content_probe, parse_shard, shard_of

KIB = 1024


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def _expected_shard(probe: bytes, n: int) -> int:
    return int.from_bytes(hashlib.sha256(probe).digest()[:8], "big") % n


def test_probe_bytes_is_64_kib():
    assert PROBE_BYTES == 64 * KIB


@pytest.mark.parametrize("size", [0, 10, 64 * KIB, 64 * KIB + 1, 100 * KIB, 128 * KIB])
def test_probe_of_a_file_up_to_128_kib_is_its_size_and_all_its_bytes(tmp_path, size):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    p = _write(tmp_path / "v.mp4", data)
    assert content_probe(p) == str(size).encode() + b"\0" + data


@pytest.mark.parametrize("kib", [129, 150, 200])
def test_probe_of_a_large_file_is_its_head_and_tail_only(tmp_path, kib):
    """Over 128 KiB: the probe is str(size) + NUL + the first and the last 64 KiB; the middle
    bytes do not count (200 KiB: 72 KiB of them)."""
    data = bytearray(np.random.default_rng(kib).integers(0, 256, kib * KIB, dtype=np.uint8))
    p = _write(tmp_path / "v.mp4", bytes(data))
    probe = content_probe(p)
    assert probe == str(kib * KIB).encode() + b"\0" + bytes(data[:64 * KIB]) + bytes(
        data[-64 * KIB:])
    data[64 * KIB] ^= 0xFF  # the first byte after the head, before the tail: same probe
    _write(p, bytes(data))
    assert content_probe(p) == probe
    data[-1] ^= 0xFF  # the last byte: a different probe
    _write(p, bytes(data))
    assert content_probe(p) != probe


def test_probe_of_a_frames_folder_is_its_sorted_file_names_and_sizes(tmp_path):
    d = tmp_path / "clip"
    d.mkdir()
    _write(d / "b.png", b"xyz")
    _write(d / "a.png", b"12345")
    (d / "sub").mkdir()  # not an image: ignored
    assert content_probe(d) == repr([("a.png", 5), ("b.png", 3)]).encode()


def test_shard_is_the_documented_hash_of_the_probe(tmp_path):
    """b"0123456789": probe b"10\\0" + the bytes; the shard is sha256(probe)[:8] (big-endian)
    mod N, so two versions of the tool split a corpus the same way."""
    p = _write(tmp_path / "v.mp4", b"0123456789")
    probe = b"10\x000123456789"
    for n in (2, 3, 7, 16, 1000):
        assert shard_of(p, n) == _expected_shard(probe, n)
    assert len({shard_of(p, n) for n in (997, 1000, 1009)}) > 1  # not a constant


def test_one_shard_and_unreadable_paths_go_to_shard_0(tmp_path):
    p = _write(tmp_path / "v.mp4", b"0123456789")
    assert shard_of(p, 1) == 0
    assert [shard_of(tmp_path / "missing.mp4", n) for n in (2, 7, 16)] == [0, 0, 0]


_CHILD = """
import json, sys
from cleverward.engine.sharding import shard_of
paths = json.loads(sys.argv[1])
print(json.dumps([[shard_of(p, n) for n in (2, 3, 7, 16)] for p in paths]))
"""


def test_shards_agree_across_processes_with_different_hash_seeds(tmp_path):
    """Machines never talk: each computes its own split. Two fresh interpreters with different
    PYTHONHASHSEEDs and this one must give every file the same shard (a shard built on Python's
    salted `hash()` would not: with 12 files x 4 counts, all agreeing by chance is ~1e-10)."""
    rng = np.random.default_rng(7)
    paths = [str(_write(tmp_path / f"v{i}.mp4", rng.bytes(int(rng.integers(1, 3000)))))
             for i in range(12)]
    here = [[shard_of(p, n) for n in (2, 3, 7, 16)] for p in paths]
    for seed in ("1", "2"):
        # The child imports the same code as this process (under mutation testing, the mutant).
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=os.pathsep.join(sys.path))
        out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(paths)], env=env,
                             capture_output=True, text=True, check=True)
        assert json.loads(out.stdout) == here
    for column in zip(*here, strict=True):  # for every N the files spread over more than one shard
        assert len(set(column)) > 1


@pytest.mark.parametrize("text, expected", [("0/1", (0, 1)), ("3/4", (3, 4)), ("0/16", (0, 16))])
def test_parse_shard(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text, message", [
    ("3", "expected K/N"), ("a/4", "expected K/N"), ("1/b", "expected K/N"), ("", "expected K/N"),
    ("4/4", "need 0 <= K < N"), ("-1/4", "need 0 <= K < N"), ("0/0", "need 0 <= K < N"),
])
def test_parse_shard_errors_say_what_was_expected(text, message):
    with pytest.raises(ValueError, match=f"^shard: {message}.*{text!r}"):
        parse_shard(text)
