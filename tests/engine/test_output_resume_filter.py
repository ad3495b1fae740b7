"""Resume's pre-filter (stream_output with `videos`): rows of other videos are counted without
being parsed; every row of this run's videos is still parsed and checked in full, and a file
with no valid row is still refused."""

import json
import random

import pytest

from cleverward.engine import output
from cleverward.engine.output import OutputError, RowWriter, make_row, stream_output

PLAN = {"v1.mp4", "dir/v2.mp4", "é \"odd\" name.mp4"}


def rows_of(rng: random.Random, n: int) -> list[dict]:
    names = [*PLAN, "other.mp4", "v1.mp4.bak", "dir/v2", "x\\y.mp4", "é.mp4"]
    return [make_row(rng.choice(names), f"p{rng.randrange(3)}", [rng.uniform(-1, 1)] * 7,
                     rng.choice(["m", "n"])) for _ in range(n)]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_the_plan_videos_rows_are_the_same_with_and_without_the_filter(tmp_path, fmt,
                                                                       monkeypatch):
    monkeypatch.setattr(output, "PARQUET_BATCH", 16)  # many batches, some with no plan row
    rng = random.Random(3)
    rows = rows_of(rng, 400)
    path = tmp_path / f"s.{fmt}"
    with RowWriter(path, fmt) as w:
        for r in rows:
            w.write(r)
    full = list(stream_output(path, fmt).rows)
    read = stream_output(path, fmt, PLAN)
    seen = list(read.rows)
    assert [r for r in seen if r["video"] in PLAN] == [r for r in full if r["video"] in PLAN]
    assert len(seen) + read.passed == len(full) == 400 and read.dropped == 0
    # passed: other videos' rows past the first batch, but for names a JSON line escapes
    assert read.passed >= sum(r["video"] not in PLAN and "\\" not in r["video"]
                              for r in rows[16:]) > 150


def line(video: str, score="0.5", extra: str = "") -> bytes:
    dims = ", ".join(f'"{d}": 0.1' for d in output.CANONICAL_DIMENSIONS)
    return (f'{{"video": "{video}", "prompt": "p", "score": {score}, "dimensions": {{{dims}}}, '
            f'"model": "m", "error": null{extra}}}\n').encode()


def test_only_rows_of_other_videos_go_unchecked(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_bytes(
        line("v1.mp4")  # valid: from here on other videos' rows may be passed
        + line("other.mp4", '"high"')  # invalid, another video: passed, not dropped
        + line("v1.mp4", '"high"')  # invalid, a plan video: dropped and reported
        + line("dir\\/v2.mp4")  # a plan video written with an escape: parsed, found
        + line("other.mp4", extra=', "video": "v1.mp4"')  # a second "video" key: parsed
        + line(r'\u00e9 \"odd\" name.mp4')  # escapes: parsed
    )
    read = stream_output(path, "jsonl", PLAN)
    rows = list(read.rows)
    assert [r["video"] for r in rows] == ["v1.mp4", "dir/v2.mp4", "v1.mp4", "é \"odd\" name.mp4"]
    assert read.passed == 1 and read.dropped == 1 and ":3: 'score' is 'high'" in read.problems[0]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_file_with_no_valid_row_is_still_refused(tmp_path, fmt):
    """Lines that look like other videos' rows are parsed until one valid row is read, so a file
    in which none is valid is not taken for a score file."""
    path = tmp_path / f"s.{fmt}"
    if fmt == "jsonl":
        path.write_bytes(line("other.mp4", '"high"') * 3)
    else:
        path.write_text("video,prompt,score\nother.mp4,p,high\nother.mp4,p,high\n")
    with pytest.raises(OutputError, match="no valid row"):
        list(stream_output(path, fmt, PLAN).rows)


def test_resume_counts_the_passed_rows_as_untouched(tmp_path):
    from cleverward.engine.run_record import resume

    path = tmp_path / "s.jsonl"
    with RowWriter(path, "jsonl") as w:
        for i in range(5):
            w.write(make_row(f"o{i}.mp4", "p", [0.1] * 7, "m"))
        w.write(make_row("v1.mp4", "p", [0.2] * 7, "m"))
    plan = {"v1.mp4": ["p"]}
    r = resume("m", plan, tmp_path, {"x": 1}, stream_output(path, "jsonl", plan), None, None)
    assert r.untouched == 5 and plan == {"v1.mp4": ["p"]}  # no record: v1 is scored again
    assert json.loads(path.read_bytes().splitlines()[-1])["video"] == "v1.mp4"
