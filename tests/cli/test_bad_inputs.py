"""score-dir over a corpus of bad inputs (benchmarks/bad_inputs.py builds it): every bad video is
an error row or a warning, the good clips beside it are scored, and nothing hangs; every bad
prompts file is one message naming the file and line."""

import json
import os
import subprocess
import sys

import pytest

from cleverward.benchmarks.bad_inputs import GOOD, PROMPT, build_videos, prompts_cases
from tests.cli.run import run_cli

HANG_LIMIT_S = 240  # the whole run; before the fix a FIFO or /dev/zero blocked it forever
CLI = "from cleverward.cli.app import main; main()"


def _score_dir(*args, timeout=HANG_LIMIT_S):
    """The real CLI in a child process, so that a hang fails the test instead of the suite."""
    cmd = [sys.executable, "-c", CLI, "score-dir", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


@pytest.fixture(scope="module")
def bad_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    cases = build_videos(root / "videos")
    prompts = root / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": PROMPT}) + "\n")
    return root, cases, prompts


@pytest.mark.slow
def test_every_bad_video_is_an_error_row_or_a_warning(bad_corpus):
    """With the cache on (the default, and the case that hung: the content hash read first)."""
    root, cases, prompts = bad_corpus
    out, summary = root / "out" / "s.jsonl", root / "summary.json"
    res = _score_dir(root / "videos", "--prompts", prompts, "--out", out, "--summary-json",
                     summary, "-q", "--cache", root / "cache")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    rows = {r["video"]: r for r in map(json.loads, out.read_text().splitlines())}
    s = json.loads(summary.read_text())
    warnings = "\n".join(s["warnings"])
    for name in GOOD + ("good_link.mp4", "vp9_named.mp4"):
        assert rows[name]["error"] is None and -1 <= rows[name]["score"] <= 1, name
    for case in cases:
        if case.outcome == "error":
            assert rows[case.name]["score"] is None, case
            assert case.expect in rows[case.name]["error"], (case, rows[case.name]["error"])
        elif case.outcome == "warning":
            assert case.expect in warnings, (case, warnings)
            assert (case.name in rows) == case.scored, case
            if case.scored:
                assert rows[case.name]["error"] is None and rows[case.name]["score"] is not None
        else:
            assert rows[case.name]["error"] is None, case
    errors = sum(c.outcome == "error" for c in cases)
    assert (s["failed"], s["scored"]) == (errors, len(rows) - errors)
    assert ".git/obj.mp4" not in rows and s["skipped_dirs"] == 1
    # no 0-byte output, no stray temporary file, every line strict JSON (no NaN)
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "s.jsonl", "s.jsonl.cwlock", "s.jsonl.cwrun.json"]
    constants = []
    for line in out.read_text().splitlines():
        json.loads(line, parse_constant=constants.append)
    assert constants == []


@pytest.mark.slow
def test_fifo_and_device_links_are_error_rows_without_the_cache(tmp_path):
    from cleverward.benchmarks.bad_inputs import write_h264

    videos = tmp_path / "videos"
    videos.mkdir()
    write_h264(videos / "good.mp4")
    os.mkfifo(videos / "fifo.mp4")
    os.symlink("/dev/zero", videos / "zero.mp4")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": PROMPT}) + "\n")
    out = tmp_path / "s.jsonl"
    res = _score_dir(videos, "--prompts", prompts, "--out", out, "-q", "--no-cache")
    assert res.returncode == 0, res.stderr
    rows = {r["video"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert "a FIFO, not a regular file" in rows["fifo.mp4"]["error"]
    assert "a character device, not a regular file" in rows["zero.mp4"]["error"]
    assert rows["good.mp4"]["error"] is None and rows["good.mp4"]["score"] is not None


@pytest.mark.parametrize("case", prompts_cases(), ids=lambda c: c.name)
def test_bad_prompts_file_is_one_message_naming_the_line(tmp_path, case):
    """Parsed directly (the CLI prints the same message: the next test checks one through it)."""
    from cleverward.engine.prompts import PromptsError, parse_prompts

    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "good_a.mp4").write_bytes(b"only its name matters to the parser")
    path = tmp_path / "p.jsonl"
    path.write_bytes(case.text)
    with pytest.raises(PromptsError) as info:
        parse_prompts(path, videos)
    assert case.matches(path, info.value.problems), info.value.problems


def test_prompts_errors_fail_before_work_through_the_cli(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "ok"}\n{"Video": "a.mp4", "prompt": "x"}\n'
                    + "[" * 100_000 + "]" * 100_000 + "\n" + '{"prompt": "\\ud800"}\n')
    res = run_cli("score-dir", videos, "--prompts", path, "--out", tmp_path / "s.jsonl")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert f"{path}:2: unknown key 'Video'; did you mean 'video'?" in res.stderr
    assert f"{path}:3: nested too deeply" in res.stderr
    assert f"{path}:4: 'prompt' holds a lone surrogate" in res.stderr
    assert not (tmp_path / "s.jsonl").exists()


def test_a_prompts_file_or_manifest_that_is_a_fifo_or_device_says_what_it_is(tmp_path):
    """Before: 'no such file' for a FIFO that is there (and for a link to /dev/zero); never
    opened either way (a FIFO would block the read)."""
    videos = tmp_path / "videos"
    videos.mkdir()
    os.mkfifo(tmp_path / "fifo.jsonl")
    os.symlink("/dev/zero", tmp_path / "zero.jsonl")
    for name, kind in (("fifo.jsonl", "a FIFO"), ("zero.jsonl", "a character device")):
        path = tmp_path / name
        res = run_cli("score-dir", videos, "--prompts", path, "--out", tmp_path / "s.jsonl")
        assert res.exit_code == 2 and f"{path}: {kind}, not a regular file" in res.stderr
        res = run_cli("score-dir", "--manifest", path, "--out", tmp_path / "s.jsonl")
        assert res.exit_code == 2, res.output
        assert f"--manifest {path}: {kind}, not a regular file" in res.stderr
    assert not (tmp_path / "s.jsonl").exists()
