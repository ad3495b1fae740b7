"""score-dir outputs: written through links, refused when not a regular file, streamed to stdout,
owned by one run at a time; resume trusts only what the run record proves; no NaN ever."""

import json
import os
import shutil
import stat

import numpy as np
import pytest

from tests.cli.run import run_cli


def _pattern(level):
    def pattern(i, size):
        h, w = size
        rng = np.random.default_rng(level * 100 + i)
        img = np.full((h, w, 3), level, np.uint8)
        img[: h // 2] = rng.integers(0, 256, (h // 2, w, 3), dtype=np.uint8) if level else 0
        return img
    return pattern


@pytest.fixture(scope="module")
def two_looks(tmp_path_factory):
    """Two real clips that the default model scores differently (noise on grey vs black)."""
    from tests.clips import write_clip

    root = tmp_path_factory.mktemp("looks")
    return (write_clip(root / "p.mp4", frames=8, size=(48, 64), pattern=_pattern(200)),
            write_clip(root / "q.mp4", frames=8, size=(48, 64), pattern=_pattern(0)))


@pytest.fixture()
def folder(tmp_path, two_looks):
    p, q = two_looks
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(p, videos / "a.mp4")
    shutil.copy(q, videos / "b.mp4")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "prompt A"}) + "\n")
    return videos, prompts


def score(videos, prompts, out, *extra, summary=None):
    args = ["score-dir", videos, "--prompts", prompts, "--out", out, "-q", "--no-cache", *extra]
    res = run_cli(*args, *(["--summary-json", summary] if summary else []))
    assert res.exit_code == 0, res.output
    return res


def rows_of(out):
    return {(r["video"], r["prompt"]): r["score"] for r in map(json.loads, out.read_text()
                                                                .splitlines())}


def test_symlinked_out_is_written_through_and_stays_a_link(tmp_path, folder):
    videos, prompts = folder
    target, link = tmp_path / "real" / "s.jsonl", tmp_path / "s.jsonl"
    target.parent.mkdir()
    link.symlink_to(target)
    score(videos, prompts, link)
    assert link.is_symlink() and len(rows_of(target)) == 2
    assert (target.parent / "s.jsonl.cwrun.json").is_file()  # beside the file, not the link
    summary = tmp_path / "sum.json"
    score(videos, prompts, link, summary=summary)  # resumes through the link
    assert link.is_symlink() and json.loads(summary.read_text())["resumed"] == 2


def _char_device(path):
    """A null device node of the test's own (root only): code that wrongly replaced its --out
    would replace this node, never the machine's /dev/null."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        return None
    return path


def test_output_that_is_not_a_regular_file_is_refused_before_work(tmp_path, folder):
    videos, prompts = folder
    fifo = tmp_path / "fifo.jsonl"
    os.mkfifo(fifo)
    cases = [(fifo, "a FIFO")]
    device = _char_device(tmp_path / "null")
    if device is not None:
        link = tmp_path / "null.jsonl"
        link.symlink_to(device)
        cases += [(device, "a character device"), (link, "a character device")]
    for out, kind in cases:
        res = run_cli("score-dir", videos, "--prompts", prompts, "--out", out, "-q")
        assert res.exit_code == 2 and "Traceback" not in res.output, res.output
        assert f"is {kind}, not a regular file" in res.stderr and str(out) in res.stderr
        assert not stat.S_ISREG(os.stat(out).st_mode)  # still what it was
    assert not list(tmp_path.glob("*.cwrun.json")) and not list(tmp_path.glob("*.cwlock"))


def test_devices_and_stdout_are_recognised_without_touching_them():
    """Pure name and stat checks: the machine's /dev/null and /dev/stdout are only looked at."""
    from cleverward.engine.output import OutputError
    from cleverward.engine.output_target import resolve_output

    with pytest.raises(OutputError, match="^/dev/null: is a character device, not a regular"):
        resolve_output("/dev/null")
    assert resolve_output("/dev/stdout").is_stdout and resolve_output("-").is_stdout


def test_stdout_streams_jsonl_rows_and_writes_no_run_record(tmp_path, folder, monkeypatch):
    videos, prompts = folder
    monkeypatch.chdir(tmp_path)
    res = score(videos, prompts, "-")
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert sorted(r["video"] for r in rows) == ["a.mp4", "b.mp4"]
    assert all(r["error"] is None and r["prompt"] == "prompt A" for r in rows)
    assert not list(tmp_path.rglob("*.cwrun.json")) and not list(tmp_path.rglob("*.cwlock"))
    assert not (tmp_path / "-").exists()


def test_a_second_run_on_a_held_output_refuses_naming_the_holder(tmp_path, folder):
    from cleverward.engine.output_target import owning, resolve_output

    videos, prompts = folder
    out = tmp_path / "s.jsonl"
    out.write_text("")
    with owning(resolve_output(out)):
        res = run_cli("score-dir", videos, "--prompts", prompts, "--out", out, "-q")
    assert res.exit_code == 2, res.output
    assert f"in use by another score-dir or compact run (pid {os.getpid()})" in res.stderr
    assert out.read_text() == ""  # untouched
    score(videos, prompts, out)  # released: the next run owns it
    assert len(rows_of(out)) == 2


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["missing", "truncated", "garbled", "not_a_record"])
def test_unreadable_run_record_means_rescoring(tmp_path, folder, damage):
    """a.mp4 is given b.mp4's content after the first run; with the record gone or damaged
    nothing proves a's old row fresh, so it is rescored: its score becomes b's (same bytes)."""
    videos, prompts = folder
    out, summary = tmp_path / "s.jsonl", tmp_path / "sum.json"
    score(videos, prompts, out)
    first = rows_of(out)
    assert first[("a.mp4", "prompt A")] != first[("b.mp4", "prompt A")]  # the clips differ
    shutil.copy(videos / "b.mp4", videos / "a.mp4")
    record = out.with_name(out.name + ".cwrun.json")  # the README's name for it
    text = record.read_text()
    {"missing": record.unlink, "truncated": lambda: record.write_text(text[: len(text) // 2]),
     "garbled": lambda: record.write_bytes(os.urandom(64)),
     "not_a_record": lambda: record.write_text('{"models": [1, 2]}')}[damage]()
    score(videos, prompts, out, summary=summary)
    again = rows_of(out)
    assert again[("a.mp4", "prompt A")] == first[("b.mp4", "prompt A")]
    s = json.loads(summary.read_text())
    assert (s["scored"], s["resumed"], s["rescored"]) == (2, 0, 2)
    assert any("run record" in w and "scored again" in w for w in s["warnings"]), s["warnings"]


@pytest.mark.slow
def test_changed_video_then_another_prompts_file_leaves_no_stale_score(tmp_path, folder):
    """Issue 15's gap: prompt A scores a.mp4; a.mp4 changes; a run with prompt B alone must not
    leave A's old score for a.mp4 in the output: that row is rescored too."""
    videos, prompts_a = folder
    prompts_b = prompts_a.with_name("b.jsonl")
    prompts_b.write_text(json.dumps({"prompt": "prompt B"}) + "\n")
    out, summary = tmp_path / "s.jsonl", tmp_path / "sum.json"
    score(videos, prompts_a, out)
    old = rows_of(out)
    shutil.copy(videos / "b.mp4", videos / "a.mp4")
    score(videos, prompts_b, out, summary=summary)
    now = rows_of(out)
    assert len(now) == 4
    assert now[("a.mp4", "prompt A")] == old[("b.mp4", "prompt A")] != old[("a.mp4", "prompt A")]
    assert now[("b.mp4", "prompt A")] == old[("b.mp4", "prompt A")]  # b did not change: kept
    s = json.loads(summary.read_text())
    assert (s["scored"], s["rescored"], s["untouched"]) == (3, 1, 1)


def test_a_nan_weight_gives_error_rows_not_nan_scores(tmp_path, folder):
    """The head is poisoned after loading (so checkpoint validation cannot refuse it first): the
    torch backend then computes NaN, and every row must be an error row, valid JSON."""
    import torch

    from cleverward.engine.config import ScoreConfig
    from cleverward.engine.model import RewardModel
    from cleverward.engine.output import NON_FINITE
    from cleverward.engine.scoring import score_directory

    videos, prompts = folder
    model = RewardModel.from_pretrained("default").with_backend("torch")
    with torch.no_grad():
        next(model.head.parameters()).view(-1)[0] = float("nan")
    out = tmp_path / "s.jsonl"
    cfg = ScoreConfig(videos_dir=str(videos), prompts_file=str(prompts), out=str(out),
                      use_cache=False, backend="torch")
    summary = score_directory(cfg, model=model)
    rows = [json.loads(line, parse_constant=pytest.fail) for line in out.read_text().splitlines()]
    assert len(rows) == 2 and all(r["score"] is None and r["error"] == NON_FINITE for r in rows)
    assert (summary.scored, summary.failed) == (0, 2)


@pytest.mark.parametrize("plant", ["fifo", "dev_zero_link", "folder"])
@pytest.mark.parametrize("suffix", [".cwrun.json", ".cwlock"])
def test_a_run_record_or_lock_that_is_not_a_regular_file_is_refused_before_work(
        tmp_path, folder, plant, suffix):
    """Before: a FIFO named <out>.cwrun.json blocked the resume read forever, a link to
    /dev/zero there was read as one endless line (the run grew until it was killed), a folder
    there was a traceback after every row was scored. Now each is refused at once, by name,
    before any work, and nothing is written."""
    videos, prompts = folder
    out = tmp_path / "s.jsonl"
    side = tmp_path / f"s.jsonl{suffix}"
    {"fifo": os.mkfifo, "dev_zero_link": lambda p: p.symlink_to("/dev/zero"),
     "folder": os.mkdir}[plant](side)
    res = run_cli("score-dir", videos, "--prompts", prompts, "--out", out, "-q", "--no-cache")
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    kind = {"fifo": "a FIFO", "dev_zero_link": "a character device", "folder": "a folder"}[plant]
    assert f"{side}: is {kind}, not a regular file" in res.stderr, res.stderr
    assert not out.exists()


def test_the_run_record_readers_never_open_a_fifo_or_a_device(tmp_path):
    """The readers refuse a record that is not a regular file on their own too (the record of
    an output read by another command): unreadable, so its rows are rescored."""
    from cleverward.engine.run_record import read_run_record, read_run_record_for

    os.mkfifo(tmp_path / "a.jsonl.cwrun.json")
    (tmp_path / "b.jsonl.cwrun.json").symlink_to("/dev/zero")
    for name in ("a", "b"):
        for got in (read_run_record(tmp_path / f"{name}.jsonl"),
                    read_run_record_for(tmp_path / f"{name}.jsonl", "default", {"x.mp4"})):
            assert got == (None, f"run record {name}.jsonl.cwrun.json is unreadable "
                                 "(NotRegularFile)")
