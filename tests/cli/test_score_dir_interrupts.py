"""kill -9 at some row, then resume: every pair exactly once, no torn line, the scores of a clean
run. Two real processes on one output: the second refuses naming the first's pid, no row lost.
(benchmarks/reliability.py runs more trials of the same functions.)"""

import json

import pytest

from cleverward.benchmarks.bad_inputs import write_h264
from cleverward.benchmarks.interrupts import kill_trial, score_dir, table, two_writers


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("interrupts")
    videos = root / "videos"
    videos.mkdir()
    for i in range(6):
        write_h264(videos / f"v{i}.mp4", frames=8 + i)
    prompts = root / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "first"}) + "\n" + json.dumps({"prompt": "second"})
                       + "\n")
    clean_out = root / "clean.jsonl"
    res = score_dir(videos, prompts, clean_out, "--no-cache")
    assert res.returncode == 0, res.stderr
    clean, problem = table(clean_out)
    assert problem is None and len(clean) == 12
    return root, videos, prompts, clean


@pytest.mark.slow
@pytest.mark.parametrize("after_rows", [1, 5])
def test_kill_9_then_resume_is_clean(corpus, after_rows):
    root, videos, prompts, clean = corpus
    out = root / f"killed-{after_rows}.jsonl"
    assert kill_trial(videos, prompts, out, clean, after_rows=after_rows,
                      extra=("--no-cache",)) is None


@pytest.mark.slow
def test_two_runs_on_one_output_lose_no_row(corpus):
    root, videos, prompts, _ = corpus
    other = root / "other.jsonl"
    other.write_text(json.dumps({"prompt": "third"}) + "\n")
    out = root / "shared.jsonl"
    assert two_writers(videos, prompts, other, out) is None
    rows, problem = table(out)
    assert problem is None
    assert sorted(rows) == sorted((f"v{i}.mp4", p) for i in range(6)
                                  for p in ("first", "second", "third"))
