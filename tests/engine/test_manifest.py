"""Manifests: the three formats read alike, every problem named with file and line, keys and
partitions computed without touching a video, and the same in every process."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cleverward.engine.manifest import ManifestError, is_url, partition_of, read_manifest

ROWS = [{"video": "a.mp4", "prompt": "a cat", "generator": "g1"},
        {"video": "sub/b.mp4", "prompt": "a dog", "id": "clip-b"},
        {"video": "s3://bucket/c.mp4", "prompt": "a bird"}]


def _write(path, rows, fmt):
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "csv":
        cols = ["video", "prompt", "id", "generator"]
        lines = [",".join(cols)] + [",".join(str(r.get(c, "")) for c in cols) for r in rows]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        schema = pa.schema([(c, pa.string()) for c in ("video", "prompt", "id", "generator")])
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_the_three_formats_give_the_same_rows(tmp_path, fmt):
    rows = list(read_manifest(_write(tmp_path / f"m.{fmt}", ROWS, fmt)))
    assert [r.source for r in rows] == ["a.mp4", "sub/b.mp4", "s3://bucket/c.mp4"]
    assert rows[0].video == str(tmp_path / "a.mp4")  # relative to the manifest's folder
    assert rows[0].key == (tmp_path / "a.mp4").as_posix() and rows[0].generator == "g1"
    assert rows[1].key == "clip-b"  # an id is the key
    assert rows[2].video == rows[2].key == "s3://bucket/c.mp4"  # URLs are kept as written
    assert [r.prompt for r in rows] == ["a cat", "a dog", "a bird"]


def test_root_overrides_the_manifest_folder(tmp_path):
    m = _write(tmp_path / "m.jsonl", ROWS[:1], "jsonl")
    (row,) = read_manifest(m, root=tmp_path / "data")
    assert row.video == str(tmp_path / "data" / "a.mp4")


@pytest.mark.parametrize("line, problem", [
    ('{"Video": "a.mp4", "prompt": "x"}', "did you mean 'video'"),
    ('{"video": "a.mp4"}', "missing 'prompt'"),
    ('{"video": 42, "prompt": "x"}', "'video' must be a string, got int"),
    ('{"video": "a.mp4", "prompt": "  "}', "'prompt' is empty"),
    ('["a.mp4", "x"]', "expected an object"),
    ('{"video": "a.mp4", "prompt": "\\ud800"}', "lone surrogate"),
    ('{"video": "a.mp4", "prompt": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ('{"video": "a.mp4", "prompt": "x"', "not valid JSON"),
])
def test_jsonl_problems_name_file_and_line(tmp_path, line, problem):
    m = tmp_path / "m.jsonl"
    m.write_text('{"video": "ok.mp4", "prompt": "fine"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        list(read_manifest(m))
    assert f"{m}:2:" in str(info.value) and problem in str(info.value)


def test_csv_problems_name_file_and_line(tmp_path):
    m = tmp_path / "m.csv"
    m.write_text('video,prompt\na.mp4,fine\nb.mp4,"unterminated\n', encoding="utf-8")
    with pytest.raises(ManifestError, match=r"m\.csv:\d+: not valid CSV"):
        list(read_manifest(m))
    m.write_text("video,prompt\na.mp4,x,extra\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"m\.csv:2: more cells"):
        list(read_manifest(m))
    m.write_text("clip,prompt\na.mp4,x\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="no 'video' column"):
        list(read_manifest(m))
    m.write_bytes(b"video,prompt\na.mp4,caf\xe9\n")
    with pytest.raises(ManifestError, match="not UTF-8"):
        list(read_manifest(m))


def test_extra_columns_are_ignored_and_reported(tmp_path):
    m = _write(tmp_path / "m.jsonl", [{**ROWS[0], "fps": 24}], "jsonl")
    ignored: set[str] = set()
    assert len(list(read_manifest(m, ignored=ignored))) == 1 and ignored == {"fps"}


def test_a_bad_parquet_file_is_named(tmp_path):
    m = tmp_path / "m.parquet"
    m.write_bytes(b"PAR1 not really")
    with pytest.raises(ManifestError, match="not a Parquet file"):
        list(read_manifest(m))
    with pytest.raises(ManifestError, match=r"\.parquet, \.csv or \.jsonl"):
        list(read_manifest(tmp_path / "m.txt"))


def test_is_url():
    assert is_url("s3://b/k.mp4") and is_url("file:///x.mp4") and is_url("gcs://b/x")
    assert not is_url("C://x.mp4".replace("C", "")) and not is_url("a.mp4")


def test_partitions_agree_across_processes_and_spread():
    """The partition must not depend on the process (a salted hash() would pass in one process
    and split a corpus differently on every machine)."""
    keys = [f"/data/clip-{i}.mp4" for i in range(200)]
    here = [partition_of(k, 7) for k in keys]
    code = ("import json,sys; from cleverward.engine.manifest import partition_of; "
            "print(json.dumps([partition_of(k, 7) for k in json.loads(sys.argv[1])]))")
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code, json.dumps(keys)], check=True,
                             capture_output=True, text=True, env={"PYTHONHASHSEED": seed,
                                                                  "PATH": "/usr/bin"})
        assert json.loads(out.stdout) == here
    counts = [here.count(k) for k in range(7)]
    assert min(counts) >= 15  # 200 keys over 7 partitions: ~28.6 each


def test_a_header_that_is_not_csv_is_an_error_of_line_1(tmp_path):
    """A lone '"' opens a quoted field that never ends: the csv module cannot read a header
    (found by tests/engine/test_manifest_fuzz.py; was a raw _csv.Error)."""
    path = tmp_path / "m.csv"
    path.write_text('"')
    with pytest.raises(ManifestError, match=r"m\.csv:1: not valid CSV"):
        list(read_manifest(path))
