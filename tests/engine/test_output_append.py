"""Rows are appended, never rewritten: the bytes already in an output stay as they are (same
file, same prefix); a torn last line is cut first; a later row of a pair supersedes an earlier
one for every reader; resume streams the output (one row at a time)."""

import json

import pytest

from cleverward.engine.output import (
    CSV_COLUMNS,
    RowWriter,
    make_row,
    read_output,
    read_rows,
    stream_output,
)


def row(video, score, prompt="p", model="m"):
    return make_row(video, prompt, None if score is None else [score] * 7, model,
                    None if score is not None else "failed")


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_append_keeps_the_earlier_bytes_and_the_file(tmp_path, fmt):
    path = tmp_path / f"s.{fmt}"
    with RowWriter(path, fmt) as w:
        w.write(row("a.mp4", 0.1))
        w.write(row("b.mp4", 0.2))
    before, inode = path.read_bytes(), path.stat().st_ino
    with RowWriter(path, fmt, append=True) as w:
        w.write(row("c.mp4", 0.3))
    after = path.read_bytes()
    assert path.stat().st_ino == inode and after.startswith(before) and len(after) > len(before)
    assert [r["video"] for r in read_rows(path, fmt)] == ["a.mp4", "b.mp4", "c.mp4"]
    if fmt == "csv":
        assert after.decode().splitlines()[0] == ",".join(CSV_COLUMNS)
        assert after.decode().count("video,prompt") == 1  # one header


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_torn_last_line_is_cut_before_appending(tmp_path, fmt):
    """A kill mid-write leaves half a line: the reader drops it, the writer cuts exactly that
    fragment (the complete lines before it are byte-identical) and appends on a fresh line."""
    path = tmp_path / f"s.{fmt}"
    with RowWriter(path, fmt) as w:
        w.write(row("a.mp4", 0.1))
    whole = path.read_bytes()
    with open(path, "ab") as f:
        f.write(b'{"video": "b.mp4", "pro' if fmt == "jsonl" else b"b.mp4,p,0.2,0.2")
    read = read_output(path, fmt)
    assert len(read.rows) == 1 and read.dropped == 1 and "torn last line" in read.problems[0]
    with RowWriter(path, fmt, append=True) as w:
        assert w.cut == len(path.read_bytes()) - len(whole) or w.cut > 0
        w.write(row("c.mp4", 0.3))
    assert path.read_bytes().startswith(whole)
    read = read_output(path, fmt)
    assert [r["video"] for r in read.rows] == ["a.mp4", "c.mp4"] and read.dropped == 0


def test_without_append_the_file_starts_over(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(row("old.mp4", 0.5)) + "\n")
    with RowWriter(path, "jsonl") as w:
        w.write(row("a.mp4", 0.1))
    assert [r["video"] for r in read_rows(path, "jsonl")] == ["a.mp4"]


def test_parquet_append_streams_the_earlier_rows_into_the_new_file(tmp_path, monkeypatch):
    """Parquet has no in-place append: the earlier file's batches are copied into the new one
    (small batches here, so the copy really goes batch by batch) and the new rows follow in
    row groups; the earlier file stays whole until close replaces it."""
    import pyarrow.parquet as pq

    from cleverward.engine import output

    monkeypatch.setattr(output, "PARQUET_GROUP", 3)
    monkeypatch.setattr(output, "PARQUET_BATCH", 2)
    path = tmp_path / "s.parquet"
    with RowWriter(path, "parquet") as w:
        for i in range(5):
            w.write(row(f"a{i}.mp4", i / 10))
    first = read_rows(path, "parquet")
    assert pq.ParquetFile(path).metadata.num_row_groups == 2  # 3 + 2 rows
    w = RowWriter(path, "parquet", append=True)
    for i in range(4):
        w.write(row(f"b{i}.mp4", i / 10))
    assert read_rows(path, "parquet") == first  # not replaced before close
    w.close()
    rows = read_rows(path, "parquet")
    assert rows[:5] == first and [r["video"] for r in rows[5:]] == [f"b{i}.mp4" for i in range(4)]
    assert not (tmp_path / "s.parquet.tmp").exists()


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_the_last_row_of_a_pair_is_its_score(tmp_path, fmt):
    """a.mp4 scored 0.1, withdrawn by an error row, then scored 0.7: readers give 0.7 once;
    b.mp4's only row stays; the same pair under another model is another row."""
    path = tmp_path / f"s.{fmt}"
    with RowWriter(path, fmt) as w:
        for r in (row("a.mp4", 0.1), row("b.mp4", 0.2), row("a.mp4", None), row("a.mp4", 0.7),
                  row("a.mp4", 0.9, model="n")):
            w.write(r)
    read = read_output(path, fmt)
    got = {(r["video"], r["model"]): r["score"] for r in read.rows}
    assert got == {("a.mp4", "m"): 0.7, ("b.mp4", "m"): 0.2, ("a.mp4", "n"): 0.9}
    assert len(read.rows) == 3
    where = dict(zip([(r["video"], r["model"]) for r in read.rows], read.places, strict=True))
    assert where[("a.mp4", "m")] == {"jsonl": f"{path}:4", "csv": f"{path}:5",
                                     "parquet": f"{path}: row 4"}[fmt]


def test_stream_output_is_one_pass_and_counts_when_exhausted(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(row("a.mp4", 0.1)) + "\n{bad\n" + json.dumps(row("a.mp4", 0.2))
                    + "\n")
    read = stream_output(path, "jsonl")
    assert read.dropped == 0  # nothing read yet
    assert [r["score"] for r in read.rows] == [0.1, 0.2]  # every row, superseded ones too
    assert read.dropped == 1 and list(read.rows) == []
