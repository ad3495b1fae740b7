"""Shards: a pure function of a video's key (its path relative to the folder, or a manifest id),
the same in every process and on every machine, and picked without opening a video.

The expected values are worked out from the rule in engine/sharding.py's docstring: the shard
is the first 8 bytes of the SHA-256 of the key's UTF-8 bytes, big-endian, modulo N.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest

from cleverward.engine.sharding import parse_shard, shard_of


def _expected_shard(key: str, n: int) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % n


def test_shard_is_the_documented_hash_of_the_key():
    """sha256("sub/clip.mp4")[:8] (big-endian) mod N, so two versions of the tool (and
    `cleverward bulk`'s partitions) split a corpus the same way."""
    for n in (2, 3, 7, 16, 1000):
        assert shard_of("sub/clip.mp4", n) == _expected_shard("sub/clip.mp4", n)
    assert len({shard_of("sub/clip.mp4", n) for n in (997, 1000, 1009)}) > 1  # not a constant
    assert shard_of("anything", 1) == 0


def test_shards_partition_a_set_of_keys_and_are_stable():
    """Every key is in exactly one of N shards; the same call gives the same answer; for every
    N the keys spread over more than one shard."""
    keys = [f"gen{g}/clip{i:04}.mp4" for g in range(3) for i in range(200)]
    for n in (2, 3, 7, 16):
        shards = [[k for k in keys if shard_of(k, n) == s] for s in range(n)]
        assert sorted(k for part in shards for k in part) == sorted(keys)
        assert sum(len(p) for p in shards) == len(keys)
        assert sum(1 for p in shards if p) > 1
        assert [shard_of(k, n) for k in keys] == [shard_of(k, n) for k in keys]


_CHILD = """
import json, sys
from cleverward.engine.sharding import shard_of
keys = json.loads(sys.argv[1])
print(json.dumps([[shard_of(k, n) for n in (2, 3, 7, 16)] for k in keys]))
"""


def test_shards_agree_across_processes_with_different_hash_seeds():
    """Machines never talk: each computes its own split. Two fresh interpreters with different
    PYTHONHASHSEEDs and this one must give every key the same shard (a shard built on Python's
    salted `hash()` would not: with 12 keys x 4 counts, all agreeing by chance is ~1e-10)."""
    keys = [f"v{i}.mp4" for i in range(12)]
    here = [[shard_of(k, n) for n in (2, 3, 7, 16)] for k in keys]
    for seed in ("1", "2"):
        # The child imports the same code as this process (under mutation testing, the mutant).
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=os.pathsep.join(sys.path))
        out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(keys)], env=env,
                             capture_output=True, text=True, check=True)
        assert json.loads(out.stdout) == here
    for column in zip(*here, strict=True):
        assert len(set(column)) > 1


_PLAN = """
import json, sys
from pathlib import Path
from cleverward.engine.score_plan import folder_corpus, manifest_corpus

videos = Path(sys.argv[1]).resolve()
opened = []

def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, Path)):
        path = Path(args[0] if not isinstance(args[0], bytes) else args[0].decode()).resolve()
        if videos in path.parents:
            opened.append(str(path))

sys.addaudithook(hook)
corpus = (manifest_corpus(sys.argv[3]) if len(sys.argv) > 3
          else folder_corpus(videos, sys.argv[2]))
corpus.shard(1, 3)
print(json.dumps({"opened": opened, "plan": sorted(corpus.plan)}))
"""


@pytest.mark.parametrize("source", ["folder", "manifest"])
def test_planning_a_shard_opens_no_video(tmp_path, source):
    """A real interpreter with an audit hook on every open(): listing the folder (or reading
    the manifest) and picking shard 1 of 3 opens no file under the videos' folder, and the shard
    is the documented hash of each video's relative path (or the manifest's id)."""
    videos = tmp_path / "videos"
    (videos / "sub").mkdir(parents=True)
    names = [f"sub/c{i:02}.mp4" for i in range(30)]
    for name in names:
        (videos / name).write_bytes(os.urandom(2048))  # bytes a probe would read
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "a cat"}) + "\n")
    manifest = videos.parent / "m.jsonl"
    manifest.write_text("".join(json.dumps({"video": f"videos/{n}", "prompt": "a cat",
                                            "id": f"id-{n}"}) + "\n" for n in names))
    args = [str(videos), str(prompts)] + ([str(manifest)] if source == "manifest" else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", _PLAN, *args], env=env, capture_output=True,
                         text=True, check=True)
    got = json.loads(out.stdout)
    assert got["opened"] == []
    if source == "folder":
        want = [n for n in names if _expected_shard(n, 3) == 1]
    else:
        want = [f"videos/{n}" for n in names if _expected_shard(f"id-{n}", 3) == 1]
    assert got["plan"] == sorted(want) and 0 < len(want) < len(names)


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


def test_a_key_that_is_not_utf8_has_a_shard():
    """A file name that is not UTF-8 reaches Python as lone surrogates (os.fsdecode: byte 0xff
    -> '\\udcff'); its key is hashed through surrogatepass, which writes U+DCFF as the three
    bytes ED B3 BF (its UTF-8 form, 1101 1100 1111 1111 -> 1110_1101 10_110011 10_111111), so
    it gets the shard of that byte string instead of an encoding error."""
    key = "gen0/bad\udcff.mp4"
    raw = b"gen0/bad\xed\xb3\xbf.mp4"
    for n in (2, 7, 16):
        assert shard_of(key, n) == int.from_bytes(hashlib.sha256(raw).digest()[:8], "big") % n
