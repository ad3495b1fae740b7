"""score-dir end to end through the CLI: real clips, a corrupt one among them, every format."""

import json
import shutil

import pytest

from tests.cli.run import run_cli as _run


@pytest.fixture()
def corpus(tmp_path, two_clips):
    videos = two_clips
    (videos / "corrupt.mp4").write_bytes(b"\x00\x01garbage" * 50)
    (videos / "notes.txt").write_text("not a video; passed over")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "a white square moving right"}) + "\n"
                       + json.dumps({"video": "a.mp4", "prompt": "only for a"}) + "\n")
    return videos, prompts


def test_score_dir_with_a_corrupt_file(tmp_path, corpus):
    videos, prompts = corpus
    out, summary = tmp_path / "s.jsonl", tmp_path / "summary.json"
    res = _run("score-dir", videos, "--prompts", prompts, "--out", out, "--summary-json", summary)
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4  # a: 2 prompts, b: 1, corrupt: 1
    by_video = {}
    for r in rows:
        by_video.setdefault(r["video"], []).append(r)
    assert {r["prompt"] for r in by_video["a.mp4"]} == {"a white square moving right", "only for a"}
    bad = by_video["corrupt.mp4"][0]
    assert bad["score"] is None and "not a readable video" in bad["error"]
    good = by_video["b.webm"][0]
    assert -1 <= good["score"] <= 1 and set(good["dimensions"]) >= {"dynamism", "textual_alignment"}
    assert good["model"].startswith("default@") and good["error"] is None  # name@head digest
    s = json.loads(summary.read_text())
    assert (s["scored"], s["failed"], s["decoded"], s["cache_hits"]) == (3, 1, 2, 0)
    assert (s["resumed"], s["skipped_files"]) == (0, 1)  # notes.txt
    assert "a white square moving right" in res.stderr  # ranked table


def test_strict_exits_nonzero_on_failure(tmp_path, corpus):
    videos, prompts = corpus
    res = _run("score-dir", videos, "--prompts", prompts, "--out", tmp_path / "s.jsonl",
               "--strict", "-q")
    assert res.exit_code == 1


def test_resume_keeps_rows_and_scores_only_new_pairs(tmp_path, corpus):
    videos, prompts = corpus
    out, summary = tmp_path / "s.jsonl", tmp_path / "summary.json"
    from cleverward.engine.output import read_rows

    assert _run("score-dir", videos, "--prompts", prompts, "--out", out, "-q").exit_code == 0
    first, inode = out.read_bytes(), out.stat().st_ino
    record = out.with_name(out.name + ".cwrun.json")
    record_inode = record.stat().st_ino
    res = _run("score-dir", videos, "--prompts", prompts, "--out", out, "-q",
               "--summary-json", summary)
    assert record.stat().st_ino == record_inode  # it already said all this: not rewritten
    assert res.exit_code == 0
    s = json.loads(summary.read_text())
    # only the corrupt file is retried: it fails again, nothing else is decoded or scored
    assert (s["scored"], s["failed"], s["decoded"], s["resumed"]) == (0, 1, 0, 3)
    # appended, not rewritten: the earlier bytes are the file's prefix, one error row after them
    now = out.read_bytes()
    assert out.stat().st_ino == inode and now.startswith(first)
    assert [json.loads(r)["video"] for r in now[len(first):].splitlines()] == ["corrupt.mp4"]
    rows = read_rows(out, "jsonl")  # the last row per pair
    assert len(rows) == 4 and sum(r["score"] is None for r in rows) == 1


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_other_formats(tmp_path, corpus, suffix):
    from cleverward.engine.output import read_rows

    videos, prompts = corpus
    out = tmp_path / f"s.{suffix}"
    assert _run("score-dir", videos, "--prompts", prompts, "--out", out, "-q").exit_code == 0
    rows = read_rows(out, suffix)
    assert len(rows) == 4 and sum(r["score"] is None for r in rows) == 1


def test_bad_prompts_fail_before_decoding(tmp_path, corpus):
    videos, _ = corpus
    prompts = tmp_path / "bad.jsonl"
    # (a line naming a missing video is not one: it gets an error row, test_cli_habits.py)
    prompts.write_text('{"prompt": "ok"}\n{"prompt": "x", "vidoe": "ghost.mp4"}\n')
    out = tmp_path / "s.jsonl"
    res = _run("score-dir", videos, "--prompts", prompts, "--out", out)
    assert res.exit_code == 2
    assert f"{prompts}:2" in res.stderr and "'vidoe'" in res.stderr
    assert not out.exists()


def test_bad_option_is_named(tmp_path, corpus):
    videos, prompts = corpus
    res = _run("score-dir", videos, "--prompts", prompts, "--decoder", "vlc")
    assert res.exit_code == 2 and "decoder" in res.stderr


def test_info_runs():
    res = _run("info", "--json")
    assert res.exit_code == 0
    report = json.loads(res.stdout)
    assert report["backends"]["torch"].startswith("yes")
    assert report["backends"]["tensorrt"].startswith(("yes", "no: tensorrt"))


def test_shards_partition_the_corpus_and_concatenate_to_the_full_run(tmp_path, corpus):
    videos, prompts = corpus
    for i in range(5):  # more clips, so that both shards get some
        shutil.copy(videos / "a.mp4", videos / f"copy{i}.mp4")
        with open(videos / f"copy{i}.mp4", "ab") as f:
            f.write(bytes([i]) * (i + 1))  # distinct content, still decodable
    full = tmp_path / "full.jsonl"
    assert _run("score-dir", videos, "--prompts", prompts, "--out", full, "-q",
                "--no-cache").exit_code == 0
    parts = []
    for k in range(2):
        out = tmp_path / f"shard{k}.jsonl"
        res = _run("score-dir", videos, "--prompts", prompts, "--out", out, "-q", "--no-cache",
                   "--shard", f"{k}/2")
        assert res.exit_code == 0, res.output
        parts.append({(r["video"], r["prompt"]): r["score"]
                      for r in map(json.loads, out.read_text().splitlines())})
    assert parts[0] and parts[1] and not set(parts[0]) & set(parts[1])
    whole = {(r["video"], r["prompt"]): r["score"]
             for r in map(json.loads, full.read_text().splitlines())}
    assert {**parts[0], **parts[1]} == whole


def test_shard_is_picked_by_path_and_bad_shards_are_named(tmp_path, corpus):
    """Same bytes under two names may land in different shards: the key is the relative path
    (no file is read to plan), as engine/sharding.py documents; each shard's rows are those of
    its videos."""
    from cleverward.engine.sharding import parse_shard, shard_of

    videos, prompts = corpus
    (videos / "corrupt.mp4").unlink()
    for i in range(6):
        shutil.copy(videos / "a.mp4", videos / f"same{i}.mp4")  # identical content
    names = sorted(p.name for p in videos.iterdir() if p.suffix in (".mp4", ".webm"))
    assert len({shard_of(n, 2) for n in names if n.startswith("same")}) == 2
    out = tmp_path / "s1.jsonl"
    res = _run("score-dir", videos, "--prompts", prompts, "--out", out, "-q", "--no-cache",
               "--shard", "1/2")
    assert res.exit_code == 0, res.output
    assert {r["video"] for r in _rows(out)} == {n for n in names if shard_of(n, 2) == 1}
    assert parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "x/2", "2", "-1/3"):
        with pytest.raises(ValueError, match="shard"):
            parse_shard(bad)
    res = _run("score-dir", tmp_path, "--prompts", tmp_path / "none.jsonl", "--shard", "2/2")
    assert res.exit_code == 2 and "shard" in res.output


def _rows(out):
    return [json.loads(line) for line in out.read_text().splitlines()]


def _retrained_copy(folder, seed):
    import torch

    from cleverward.engine.checkpoint import load_checkpoint, save_checkpoint

    cfg, state = load_checkpoint("default")
    gen = torch.Generator().manual_seed(seed)
    state = {k: v + 0.05 * torch.randn(v.shape, generator=gen) for k, v in state.items()}
    save_checkpoint(folder, cfg, state)
    return folder


def test_rerun_with_other_prompts_or_model_keeps_the_earlier_rows(tmp_path, corpus):
    videos, _ = corpus
    (videos / "corrupt.mp4").unlink()
    pa, pb = tmp_path / "pA.jsonl", tmp_path / "pB.jsonl"
    pa.write_text(json.dumps({"prompt": "prompt A"}) + "\n")
    pb.write_text(json.dumps({"prompt": "prompt B"}) + "\n")
    out, summary = tmp_path / "s.jsonl", tmp_path / "summary.json"
    assert _run("score-dir", videos, "--prompts", pa, "--out", out, "-q").exit_code == 0
    first = _rows(out)
    assert _run("score-dir", videos, "--prompts", pb, "--out", out, "-q").exit_code == 0
    rows = _rows(out)
    assert rows[:len(first)] == first  # prompt A's rows untouched
    assert sorted((r["video"], r["prompt"]) for r in rows) == [
        ("a.mp4", "prompt A"), ("a.mp4", "prompt B"),
        ("b.webm", "prompt A"), ("b.webm", "prompt B")]
    ckpt = _retrained_copy(tmp_path / "ckpt", 0)
    res = _run("score-dir", videos, "--prompts", pa, "--out", out, "-q", "--model", ckpt,
               "--summary-json", summary)
    assert res.exit_code == 0, res.output
    assert json.loads(summary.read_text())["scored"] == 2
    assert json.loads(summary.read_text())["untouched"] == 4
    assert _rows(out)[:len(rows)] == rows and len(_rows(out)) == 6  # default's rows still there
    # the same command again: nothing is lost or redone
    res = _run("score-dir", videos, "--prompts", pa, "--out", out, "-q", "--summary-json", summary)
    assert json.loads(summary.read_text())["resumed"] == 2 and len(_rows(out)) == 6
    assert _run("score-dir", videos, "--prompts", pa, "--out", out, "-q",
                "--overwrite").exit_code == 0
    assert len(_rows(out)) == 2


def test_resume_rescores_when_the_video_or_the_weights_or_the_frames_change(tmp_path, corpus):
    videos, prompts = corpus
    (videos / "corrupt.mp4").unlink()
    ckpt = _retrained_copy(tmp_path / "ckpt", 1)
    out, summary = tmp_path / "s.jsonl", tmp_path / "summary.json"

    def run(*extra):
        res = _run("score-dir", videos, "--prompts", prompts, "--out", out, "-q", "--no-cache",
                   "--model", ckpt, "--summary-json", summary, *extra)
        assert res.exit_code == 0, res.output
        s = json.loads(summary.read_text())
        from cleverward.engine.output import read_rows

        rows = read_rows(out, "jsonl")  # the last row per pair: a rescore supersedes
        assert len(rows) == 3 and all(r["score"] is not None for r in rows)
        return s["scored"], s["resumed"], {(r["video"], r["prompt"]): r["score"] for r in rows}

    assert run()[:2] == (3, 0)
    assert run()[:2] == (0, 3)
    shutil.copy(videos / "b.webm", videos / "a.mp4")  # a.mp4 is now another clip
    scored, resumed, scores = run()
    assert (scored, resumed) == (2, 1)
    assert scores[("a.mp4", "a white square moving right")] == scores[
        ("b.webm", "a white square moving right")]
    _retrained_copy(ckpt, 2)  # retrained in place: same path, other weights
    scored, resumed, rescored = run()
    assert (scored, resumed) == (3, 0) and rescored != scores
    assert run("--frames", "4")[:2] == (3, 0)
    assert run("--frames", "4")[:2] == (0, 3)
    # the decoders return the same frames (as for the embedding cache): nothing to redo
    assert run("--frames", "4", "--decoder", "pyav")[:2] == (0, 3)


def test_existing_output_of_another_format_is_a_clear_error(tmp_path, corpus):
    videos, prompts = corpus
    out = tmp_path / "s.jsonl"
    assert _run("score-dir", videos, "--prompts", prompts, "--out", out, "-q").exit_code == 0
    before = out.read_text()
    for fmt, says in (("csv", "not a CSV score file (no 'video' column)"),
                      ("parquet", "not a Parquet score file")):
        res = _run("score-dir", videos, "--prompts", prompts, "--out", out, "-q", "--format", fmt)
        assert res.exit_code == 2 and f"{out}: {says}" in res.stderr, res.output
        assert "Traceback" not in res.output and out.read_text() == before
    lines = before.splitlines()
    out.write_text("\n".join(lines[:1] + ["{oops"] + lines[1:]) + "\n")
    summary = tmp_path / "summary.json"
    res = _run("score-dir", videos, "--prompts", prompts, "--out", out, "-q",
               "--summary-json", summary)
    # the bad line is skipped and counted (a warning names it); the good rows are kept and the
    # file is appended to, never rewritten: only the corrupt clip's retry is added
    assert res.exit_code == 0 and f"{out}:2: not valid JSON" in res.stderr, res.output
    assert json.loads(summary.read_text())["dropped_rows"] == 1
    now = out.read_text().splitlines()
    assert now[:-1] == lines[:1] + ["{oops"] + lines[1:]
    assert json.loads(now[-1])["video"] == "corrupt.mp4"


def test_bad_output_paths_fail_before_work_and_summary_folder_is_made(tmp_path, corpus):
    videos, prompts = corpus
    res = _run("score-dir", videos, "--prompts", prompts, "--out", tmp_path, "-q")
    assert res.exit_code == 2 and "is a folder" in res.stderr and "Traceback" not in res.output
    (tmp_path / "afile").write_text("")
    bad = tmp_path / "afile" / "s.jsonl"
    res = _run("score-dir", videos, "--prompts", prompts, "--out", bad, "-q")
    assert res.exit_code == 2 and str(bad) in res.stderr and ".tmp" not in res.stderr
    summary = tmp_path / "new" / "deeper" / "summary.json"
    res = _run("score-dir", videos, "--prompts", prompts, "--out", tmp_path / "s.jsonl", "-q",
               "--summary-json", summary)
    assert res.exit_code == 0, res.output
    assert json.loads(summary.read_text())["scored"] == 3


_TERM_SCRIPT = """
import sys
from cleverward.engine import output

write = output.RowWriter.write

def announce(self, row):
    write(self, row)
    print("row", flush=True)

output.RowWriter.write = announce
sys.argv = ["cleverward", *sys.argv[1:]]
from cleverward.cli.app import main
main()
"""


@pytest.mark.slow
def test_sigterm_keeps_the_parquet_rows_done(tmp_path, corpus):
    import os
    import signal
    import subprocess
    import sys

    from cleverward.engine.output import read_rows

    videos, prompts = corpus
    (videos / "corrupt.mp4").unlink()
    for i in range(16):
        shutil.copy(videos / "a.mp4", videos / f"copy{i:02}.mp4")
    prompts.write_text(json.dumps({"prompt": "a white square moving right"}) + "\n")
    out = tmp_path / "s.parquet"
    proc = subprocess.Popen(
        [sys.executable, "-c", _TERM_SCRIPT, "score-dir", str(videos), "--prompts", str(prompts),
         "--out", str(out), "--format", "parquet", "--batch-size", "1", "--workers", "1",
         "--no-cache", "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        assert proc.stdout.readline() == "row\n"  # blocks until the first row is written
        proc.send_signal(signal.SIGTERM)
        rest, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    written = 1 + rest.count("row\n")
    assert proc.returncode != 0 and written < 18, stderr  # stopped early, not finished
    assert "Traceback" not in stderr
    assert len(read_rows(out, "parquet")) == written
