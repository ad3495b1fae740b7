"""benchmarks/bench_memory.py's plumbing on a small --out (the 5M-row figure is in
benchmarks/RESULTS_memory.md): the synthetic rows are valid score rows of other videos, the
three runs happen in child processes, the big --out's earlier bytes are checked unchanged, and
its run record (written in the streamed layout) keeps the earlier entries."""

import json

import pytest

from cleverward.benchmarks import bench_memory
from cleverward.engine.output import read_output


def test_synthetic_rows_are_valid_rows_of_other_videos(tmp_path):
    path = tmp_path / "big.jsonl"
    bench_memory.write_other_rows(path, 2500)
    read = read_output(path, "jsonl")
    assert len(read.rows) == 2500 and read.dropped == 0
    assert all(r["video"].startswith("other/") and r["model"] == "default" for r in read.rows)
    assert len({r["prompt"] for r in read.rows}) == 1000


@pytest.mark.slow
def test_bench_memory_runs_and_checks_the_prefix(tmp_path):
    out = tmp_path / "r.json"
    code = bench_memory.main(["--rows", "3000", "--videos", "2", "--work", str(tmp_path / "w"),
                              "--with-record", "--json", str(out)])
    result = json.loads(out.read_text())
    assert result["run_record"]["earlier_entries_kept"] is True  # same identity: carried over
    assert result["big"]["earlier_bytes_unchanged"] is True
    assert result["big"]["untouched"] == 3000 and result["big"]["scored"] == 4
    assert result["rerun"] == {**result["rerun"], "scored": 0, "resumed": 4}
    assert 0 < result["big"]["bytes_appended"] < 10_000
    assert result["empty"]["peak_rss_mib"] > 50  # a real process with torch loaded
    assert code == (0 if result["rss_ratio_big_over_empty"] <= 1.5 else 1)


def test_resume_only_times_both_paths_over_every_row(tmp_path):
    out = tmp_path / "r.json"
    code = bench_memory.main(["--resume-only", "--rows", "2000", "--videos", "2", "--work",
                              str(tmp_path / "w"), "--json", str(out)])
    result = json.loads(out.read_text())
    assert code == 0 and result["rows"] == 2000
    assert result["prefiltered"]["seconds"] > 0 and result["every_row_parsed"]["seconds"] > 0


def test_compact_only_compacts_the_superseded_fifth(tmp_path):
    out = tmp_path / "r.json"
    assert bench_memory.main(["--compact-only", "--rows", "500", "--work", str(tmp_path / "w"),
                              "--json", str(out)]) == 0
    big = json.loads(out.read_text())["big"]
    assert (big["rows"], big["kept"]) == (600, 500) and big["bytes_after"] < big["bytes_before"]
    assert len(read_output(tmp_path / "w" / "big.jsonl", "jsonl").rows) == 500
