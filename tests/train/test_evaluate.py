"""`eval` protocols on precomputed scores (hand-computed cases) and on a model."""

from __future__ import annotations

import json

import pytest

from cleverward.train.evaluate import EvalConfig, ScoreTable, evaluate
from cleverward.train.pairs_io import make_row, write_pairs


def _score_row(video, prompt, score, ta=None):
    dims = None if score is None else {"textual_alignment": ta if ta is not None else score}
    return {"video": video, "prompt": prompt, "score": score, "dimensions": dims,
            "model": "m", "error": None if score is not None else "broken"}


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_scores_file_pairwise_accuracy_by_hand(tmp_path):
    scores = _write_jsonl(tmp_path / "scores.jsonl", [
        _score_row("a.mp4", "p", 0.30, ta=0.1), _score_row("b.mp4", "p", 0.20, ta=0.5),
        _score_row("c.mp4", "p", 0.25), _score_row("sub/d.mp4", "q", 0.9),
        _score_row("e.mp4", "q", None),
    ])
    rows = [
        make_row("ds", "overall", "p", "a.mp4", "b.mp4", kind="score"),  # +0.10: right
        make_row("ds", "overall", "p", "b.mp4", "c.mp4", kind="score"),  # -0.05: wrong
        make_row("ds", "overall", "p", "a.mp4", "c.mp4", kind="score", tie=True),  # |0.05|
        make_row("ds", "textual_alignment", "p", "a.mp4", "b.mp4", kind="vote"),  # -0.4: wrong
        make_row("ds", "overall", "q", "data/sub/d.mp4", "e.mp4", kind="score"),  # e failed
    ]
    write_pairs(rows, tmp_path / "pairs.jsonl")
    report = evaluate(EvalConfig(pairs=str(tmp_path / "pairs.jsonl"), scores=str(scores),
                                 tie_threshold=0.06))
    assert report["pairs"]["evaluated"] == 4
    assert sum(report["pairs"]["dropped"].values()) == 1
    overall = report["pairwise"]["ds"]["overall"]
    assert overall["n"] == 3 and overall["ties"] == 1
    assert overall["acc_no_ties"] == pytest.approx(0.5)
    assert overall["acc_tie_threshold"] == pytest.approx(2 / 3)  # the tie is within 0.06
    assert report["pairwise"]["ds"]["textual_alignment"]["acc_no_ties"] == 0.0
    assert report["headline"]["acc_no_ties"] == pytest.approx(1 / 3)


def test_score_table_matches_trailing_path_components_only_when_unique():
    table = ScoreTable([_score_row("x/a.mp4", "p", 0.1), _score_row("y/a.mp4", "p", 0.2),
                        _score_row("b.mp4", "p", 0.3)], "s.jsonl")
    assert table.lookup("p", "root/x/a.mp4")["score"] == 0.1
    assert table.lookup("p", "a.mp4") is None  # ambiguous: x/a.mp4 or y/a.mp4
    assert table.lookup("p", "/abs/b.mp4")["score"] == 0.3
    assert table.lookup("other prompt", "b.mp4") is None


def test_exactly_one_source(tmp_path):
    with pytest.raises(ValueError, match="exactly one"):
        EvalConfig(pairs="p.jsonl")
    with pytest.raises(ValueError, match="exactly one"):
        EvalConfig(pairs="p.jsonl", model="default", scores="s.jsonl")


def test_model_eval_matches_score_dir_rewards(demo_clips, tmp_path):
    """The model path and score-dir's output give the same diffs for the same pairs."""
    from typer.testing import CliRunner

    from cleverward.cli.app import app

    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "cyclists riding bicycles on a street"}) + "\n")
    out = tmp_path / "scores.jsonl"
    res = CliRunner().invoke(app, ["score-dir", str(demo_clips), "--prompts", str(prompts),
                                   "--out", str(out), "-q", "--no-cache"])
    assert res.exit_code == 0, res.output
    rows = [make_row("demo", "overall", "cyclists riding bicycles on a street", "bikes.mp4",
                     other, kind="vote") for other in ("carphone.mp4", "bigbuckbunny.mp4")]
    write_pairs(rows, tmp_path / "pairs.jsonl")
    by_model = evaluate(EvalConfig(pairs=str(tmp_path / "pairs.jsonl"), model="default",
                                   videos_root=str(demo_clips), use_cache=False))
    by_file = evaluate(EvalConfig(pairs=str(tmp_path / "pairs.jsonl"), scores=str(out)))
    a, b = by_model["pairwise"]["demo"]["overall"], by_file["pairwise"]["demo"]["overall"]
    assert a["n"] == b["n"] == 2
    assert a["acc_no_ties"] == b["acc_no_ties"] == 1.0
