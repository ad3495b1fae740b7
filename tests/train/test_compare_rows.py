"""Reading score rows for comparison: which generator made each clip, errors with file:line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cleverward.engine.output import RowWriter, make_row
from cleverward.train.compare.rows import CompareInputError, load_scores, score_table


def _write(path, rows, blank_after: int | None = None):
    lines = [json.dumps(r) for r in rows]
    if blank_after is not None:
        lines.insert(blank_after, "")
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _row(video, prompt="p", score=0.5, **extra):
    return {"video": video, "prompt": prompt, "score": score,
            "dimensions": {"visual_aesthetics": score} if isinstance(score, float) else None,
            "model": "m", "error": None, **extra}


def test_generator_from_field_then_folder(tmp_path):
    f = _write(tmp_path / "s.jsonl", [_row("alpha/a.mp4"), _row("x/b.mp4", generator="beta"),
                                      _row("./gamma/c.mp4")])
    assert [c.generator for c in load_scores([f]).clips] == ["alpha", "beta", "gamma"]
    # Forced: the folder wins over the field, and a field-less row is an error under "field".
    assert [c.generator for c in load_scores([f], "folder").clips] == ["alpha", "x", "gamma"]
    with pytest.raises(CompareInputError, match=r"s\.jsonl:1: no \"generator\" field"):
        load_scores([f], "field")


def test_row_without_generator_names_file_and_line(tmp_path):
    """Line numbers count the blank line read_rows skips: the bad row is on line 3."""
    f = _write(tmp_path / "s.jsonl", [_row("alpha/a.mp4"), _row("flat.mp4")], blank_after=1)
    with pytest.raises(CompareInputError, match=r"s\.jsonl:3: cannot tell which generator made "
                                                 r"'flat\.mp4'"):
        load_scores([f])


def test_bad_score_and_failed_rows(tmp_path):
    f = _write(tmp_path / "s.jsonl", [_row("a/x.mp4"), _row("a/y.mp4", score=None,
                                                            error="corrupt")])
    loaded = load_scores([f])
    assert len(loaded.clips) == 1 and loaded.failed == 1
    bad = _write(tmp_path / "bad.jsonl", [_row("a/x.mp4", score="high")])
    with pytest.raises(CompareInputError,
                       match=r"bad\.jsonl:1: 'score' is 'high', not a finite number"):
        load_scores([bad])
    with pytest.raises(CompareInputError, match="no such score file"):
        load_scores([tmp_path / "missing.jsonl"])


def test_csv_rows_through_the_engine_reader(tmp_path):
    """CSV written by the engine's own RowWriter: generators from the folders."""
    w = RowWriter(tmp_path / "s.csv", "csv")
    w.write(make_row("alpha/a.mp4", "p", [0.3] * 7, "m"))
    w.write(make_row("beta/b.mp4", "p", [0.1] * 7, "m"))
    w.close()
    clips = load_scores([tmp_path / "s.csv"]).clips
    assert [(c.generator, c.scores["overall"]) for c in clips] == [("alpha", 0.3), ("beta", 0.1)]


def test_score_table_averages_duplicate_clips(tmp_path):
    """alpha has two clips for p (0.2, 0.6): its cell is their mean 0.4; beta has no clip for q."""
    f = _write(tmp_path / "s.jsonl", [_row("alpha/1.mp4", "p", 0.2), _row("alpha/2.mp4", "p", 0.6),
                                      _row("alpha/3.mp4", "q", 0.9), _row("beta/1.mp4", "p", 0.1)])
    table = score_table(load_scores([f]).clips, "m")
    assert table.generators == ["alpha", "beta"] and table.prompts == ["p", "q"]
    assert table.metrics == ["overall", "visual_aesthetics"]
    np.testing.assert_allclose(table.metric("overall"), [[0.4, 0.9], [0.1, np.nan]])
