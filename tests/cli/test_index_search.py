"""The cache through score-dir, `index build` and `search` end to end, on real clips.

Every command gets an explicit --cache under tmp_path: the suite-wide CLEVERWARD_CACHE is shared
by the whole session, and other tests count cache hits in it.
"""

import json
import shutil

import pytest

from tests.cli.run import run_cli as _run
from tests.clips import write_prompts

PROMPT_1 = "a white square moving right"
PROMPTS_2 = ["a green and blue gradient", "a bright square sliding across the frame"]


@pytest.fixture()
def corpus(tmp_path, two_clips, clips_dir):
    shutil.copy(clips_dir / "h264_short.mp4", two_clips / "c.mp4")
    write_prompts(tmp_path / "p1.jsonl", [PROMPT_1])
    write_prompts(tmp_path / "p2.jsonl", PROMPTS_2)
    return two_clips


def _score_dir(tmp_path, videos, prompts, name):
    out, summary = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.summary.json"
    res = _run("score-dir", videos, "--prompts", tmp_path / prompts, "--out", out, "-q",
               "--cache", tmp_path / "cache", "--summary-json", summary)
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return rows, json.loads(summary.read_text())


def test_new_prompts_decode_nothing_and_search_agrees_with_score_dir(tmp_path, corpus):
    _, first = _score_dir(tmp_path, corpus, "p1.jsonl", "first")
    assert (first["decoded"], first["cache_hits"]) == (3, 0)
    rows, second = _score_dir(tmp_path, corpus, "p2.jsonl", "second")  # new prompts
    assert (second["decoded"], second["cache_hits"], second["scored"]) == (0, 3, 6)

    res = _run("index", "build", corpus, "--cache", tmp_path / "cache", "--json", "-q")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert (report["decoded"], report["cache_hits"], report["kind"]) == (0, 3, "flat")

    for prompt in PROMPTS_2:
        res = _run("search", prompt, "--top-k", 10, "--dir", corpus, "--cache",
                   tmp_path / "cache", "--json")
        assert res.exit_code == 0, res.output
        found = json.loads(res.stdout)["results"]
        expected = sorted((r for r in rows if r["prompt"] == prompt), key=lambda r: -r["score"])
        assert [h["video"] for h in found] == [r["video"] for r in expected]
        assert [h["score"] for h in found] == pytest.approx([r["score"] for r in expected],
                                                            abs=1e-5)
        assert found[0]["path"] == str(corpus / found[0]["video"])


def test_search_uses_the_latest_index_and_prints_a_table(tmp_path, corpus):
    cache = tmp_path / "cache"
    res = _run("index", "build", corpus, "--cache", cache, "--kind", "hnsw", "-q")
    assert res.exit_code == 0, res.output
    assert "kind: hnsw (requested)" in res.stdout and "recall@10" in res.stdout
    res = _run("search", PROMPT_1, "-k", 2, "--cache", cache)
    assert res.exit_code == 0, res.output
    # a rich table now (README "CLI conventions"): a header, its rule, then one row a hit
    lines = res.stdout.strip().splitlines()
    assert lines[0].split() == ["rank", "reward", "video", "note"] and len(lines) == 4
    assert lines[2].lstrip().startswith("1.") and lines[3].lstrip().startswith("2.")
    assert "3 videos, hnsw index" in res.stderr


def test_search_without_an_index_explains(tmp_path):
    res = _run("search", "anything", "--cache", tmp_path / "empty")
    assert res.exit_code == 2 and "cleverward index build" in res.stderr
    res = _run("index", "build", tmp_path / "nowhere", "--cache", tmp_path / "empty")
    assert res.exit_code == 2 and "not a folder" in res.stderr


def test_bad_kind_is_named(tmp_path, corpus):
    res = _run("index", "build", corpus, "--cache", tmp_path / "c", "--kind", "lsh")
    assert res.exit_code == 2 and "kind" in res.stderr


def test_info_reports_faiss():
    res = _run("info", "--json")
    assert res.exit_code == 0
    assert json.loads(res.stdout)["faiss"].startswith("yes: faiss")


def test_search_flags_videos_changed_or_removed_since_the_build(tmp_path, corpus):
    import os
    import time

    cache = tmp_path / "cache"
    assert _run("index", "build", corpus, "--cache", cache, "-q").exit_code == 0
    (corpus / "b.webm").unlink()
    later = time.time() + 5
    os.utime(corpus / "a.mp4", (later, later))
    res = _run("search", PROMPT_1, "--dir", corpus, "--cache", cache, "--json", "-k", "3")
    assert res.exit_code == 0, res.output
    stale = {r["video"]: r["stale"] for r in json.loads(res.stdout)["results"]}
    assert stale == {"a.mp4": "modified after the index was built", "b.webm": "missing",
                     "c.mp4": None}
    assert "rebuild it" in res.stderr
