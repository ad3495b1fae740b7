"""`cleverward compact`: a real score-dir output with a rescore, a withdrawal and a garbage line
is rewritten as exactly the rows its readers return, smaller, atomically, and a later score-dir
run still resumes every pair."""

import json
import os

import pytest

from cleverward.engine.output import WITHDRAWN, RowWriter, make_row, read_output, read_rows
from tests.cli.run import run_cli
from tests.clips import write_prompts

PROMPTS = ["a white square moving right", "a green gradient"]


@pytest.fixture()
def folder(tmp_path, two_clips):
    return two_clips, write_prompts(tmp_path / "p.jsonl", PROMPTS)


def score(videos, prompts, out, summary):
    res = run_cli("score-dir", videos, "--prompts", prompts, "--out", out, "-q", "--no-cache",
                  "--summary-json", summary)
    assert res.exit_code == 0, res.output
    return json.loads(summary.read_text())


def grow(out, fmt, videos, prompts, summary):
    """Two runs and a rescore of a.mp4 (its file touched: a withdrawal row per pair, then the
    new scores), a withdrawn pair of another model, and a garbage line (JSONL, CSV)."""
    assert score(videos, prompts, out, summary)["scored"] == 4
    st = (videos / "a.mp4").stat()
    os.utime(videos / "a.mp4", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert score(videos, prompts, out, summary)["scored"] == 2  # a.mp4's two pairs again
    about = None
    if fmt == "parquet":  # score-dir's provenance, kept by this append
        import pyarrow.parquet as pq

        about = json.loads(pq.read_schema(out).metadata[b"cleverward"])
    with RowWriter(out, fmt, append=True, provenance=about) as w:
        # a row of a checkpoint location's older weights, then its withdrawal
        w.write(make_row("b.webm", PROMPTS[0], [0.5] * 7, "runs/r1@0ld"))
        w.write(make_row("b.webm", PROMPTS[0], None, "runs/r1@0ld", WITHDRAWN))
    if fmt != "parquet":
        with open(out, "ab") as f:
            f.write(b"{not json, a garbage line\n" if fmt == "jsonl" else b"x,y,high,,\n")


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_compact_keeps_what_readers_return_and_resume_still_resumes(tmp_path, folder, fmt):
    videos, prompts = folder
    out, summary = tmp_path / f"s.{fmt}", tmp_path / "summary.json"
    grow(out, fmt, videos, prompts, summary)
    before = read_output(out, fmt)
    assert len(before.rows) == 4 and before.dropped == (0 if fmt == "parquet" else 1)
    size, record = out.stat().st_size, out.with_name(out.name + ".cwrun.json").read_bytes()
    lines = set(out.read_bytes().splitlines())

    dry = run_cli("compact", out, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert out.stat().st_size == size and "would keep 4" in dry.stdout

    res = run_cli("compact", out, "--json")
    assert res.exit_code == 0, res.output
    # 4 + 2 withdrawals and 2 rescores of a.mp4 + a scored and a withdrawn row of another model
    done = json.loads(res.stdout)
    assert (done["rows_before"], done["rows_after"], done["superseded"], done["tombstones"],
            done["dropped"]) == (10, 4, 5, 1, 0 if fmt == "parquet" else 1), done
    assert done["bytes_before"] == size and done["bytes_after"] == out.stat().st_size
    after = read_output(out, fmt)
    assert after.rows == before.rows and after.dropped == 0
    assert out.stat().st_size < size
    if fmt == "jsonl":  # the rows score-dir wrote, byte for byte
        assert set(out.read_bytes().splitlines()) <= lines
    assert not list(tmp_path.glob(".s.*")) and not list(tmp_path.glob("*.tmp"))  # no leftovers
    assert out.with_name(out.name + ".cwrun.json").read_bytes() == record  # still valid as is
    if fmt == "parquet":  # the provenance in the schema metadata is carried over
        import pyarrow.parquet as pq

        assert json.loads(pq.read_schema(out).metadata[b"cleverward"])["model"] == "default"

    s = score(videos, prompts, out, summary)
    assert (s["scored"], s["decoded"], s["resumed"], s["rescored"]) == (0, 0, 4, 0)
    assert read_rows(out, fmt) == before.rows


def test_compact_is_refused_while_a_run_holds_the_output(tmp_path):
    from cleverward.engine.output_target import owning, resolve_output

    out = tmp_path / "s.jsonl"
    with RowWriter(out, "jsonl") as w:
        w.write(make_row("a.mp4", "p", [0.1] * 7, "m"))
        w.write(make_row("a.mp4", "p", [0.2] * 7, "m"))
    data = out.read_bytes()
    with owning(resolve_output(out)):
        res = run_cli("compact", out)
    assert res.exit_code == 2
    assert f"(pid {os.getpid()}); compact it once that run has finished" in res.stderr
    assert out.read_bytes() == data
    res = run_cli("compact", out)  # released: it runs
    assert res.exit_code == 0 and "2 valid rows, kept 1 (1 superseded, 0 withdrawn" in res.stdout
    assert [r["score"] for r in read_rows(out, "jsonl")] == [0.2] and out.read_bytes() != data


def test_compact_names_a_missing_file_and_a_file_that_is_not_scores(tmp_path):
    res = run_cli("compact", tmp_path / "none.jsonl")
    assert res.exit_code == 2 and "none.jsonl: no such file" in res.stderr
    notes = tmp_path / "notes.jsonl"
    notes.write_text("hello\nworld\n")
    res = run_cli("compact", notes)
    assert res.exit_code == 2 and "notes.jsonl: not a JSONL score file" in res.stderr
    assert "--overwrite" not in res.stderr and "check the file and --format" in res.stderr
    res = run_cli("compact", notes, "--format", "csv")  # a JSONL output read as CSV
    assert res.exit_code == 2 and "not a CSV score file (no 'video' column)" in res.stderr
    assert notes.read_text() == "hello\nworld\n"
