"""The pairs file: JSONL and Parquet round trips, atomic writes, extra columns."""

from __future__ import annotations

import json

import pytest

from cleverward.train.pairs_io import COLUMNS, make_row, read_pairs, write_pairs


def _rows() -> list[dict]:
    return [
        make_row("t2vqa", "overall", "a cat", "a.mp4", "b.mp4", kind="score", margin=0.25,
                 score_chosen=0.75, score_rejected=0.5, source="info.txt:3"),
        make_row("genai-bench", "overall", "a dog", "c.mp4", "d.mp4", kind="vote", tie=True,
                 vote="tievote"),
        make_row("d", "textual_alignment", "a cat", "a.mp4", "c.mp4", kind="negative",
                 rejected_prompt="a dog"),
    ]


@pytest.mark.parametrize("name", ["pairs.jsonl", "pairs.parquet"])
def test_round_trip(tmp_path, name):
    path = write_pairs(_rows(), tmp_path / "out" / name)
    assert read_pairs(path) == _rows()
    assert [p.name for p in path.parent.iterdir()] == [name]  # no temp file left behind


def test_jsonl_column_order_and_extras(tmp_path):
    rows = _rows()
    rows[0]["similarity"] = 0.91  # e.g. added by mining
    path = write_pairs(rows, tmp_path / "p.jsonl")
    first = json.loads(path.read_text().splitlines()[0])
    assert list(first)[: len(COLUMNS)] == list(COLUMNS) and first["similarity"] == 0.91
    assert read_pairs(path)[0]["similarity"] == 0.91
    pq_path = write_pairs(rows, tmp_path / "p.parquet")
    back = read_pairs(pq_path)
    assert back[0]["similarity"] == 0.91 and back[1]["similarity"] is None


def test_failed_write_leaves_the_old_file(tmp_path):
    path = write_pairs(_rows(), tmp_path / "p.jsonl")
    before = path.read_bytes()
    bad = [{**_rows()[0], "margin": object()}]
    with pytest.raises(TypeError):
        write_pairs(bad, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.jsonl"]


def test_reader_errors(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(_rows()[0]) + "\n" + '{"dataset": "x"}\n')
    with pytest.raises(ValueError, match=f"{path}:2: pair row lacks dimension"):
        read_pairs(path)
    path.write_text("not json\n")
    with pytest.raises(ValueError, match=f"{path}:1: invalid JSON"):
        read_pairs(path)
    with pytest.raises(ValueError, match="kind 'x'"):
        make_row("d", "overall", "p", "a", "b", kind="x")
    with pytest.raises(ValueError, match="format 'csv'"):
        write_pairs([], tmp_path / "p.csv", fmt="csv")
