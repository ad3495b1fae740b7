"""`eval` on precomputed scores (hand-computed cases) and on a model."""

from __future__ import annotations

import json
import math

import pytest

from cleverward.train.evaluate import EvalConfig, ScoreTable, evaluate, figure, json_ready
from cleverward.train.pairs_io import make_row, write_pairs


def _score_row(video, prompt, score, ta=None, model="m"):
    dims = None if score is None else {"textual_alignment": ta if ta is not None else score}
    return {"video": video, "prompt": prompt, "score": score, "dimensions": dims,
            "model": model, "error": None if score is not None else "broken"}


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _eval(tmp_path, pairs, scores, **kw):
    write_pairs(pairs, tmp_path / "pairs.jsonl")
    scores = _write_jsonl(tmp_path / "scores.jsonl", scores)
    return evaluate(EvalConfig(pairs=str(tmp_path / "pairs.jsonl"), scores=str(scores),
                               bootstrap=kw.pop("bootstrap", 0), **kw))


def test_scores_file_pairwise_accuracy_by_hand(tmp_path):
    scores = [
        _score_row("a.mp4", "p", 0.30, ta=0.1), _score_row("b.mp4", "p", 0.20, ta=0.5),
        _score_row("c.mp4", "p", 0.25), _score_row("sub/d.mp4", "q", 0.9),
        _score_row("e.mp4", "q", None),
    ]
    rows = [
        make_row("ds", "overall", "p", "a.mp4", "b.mp4", kind="score"),  # +0.10: right
        make_row("ds", "overall", "p", "b.mp4", "c.mp4", kind="score"),  # -0.05: wrong
        make_row("ds", "overall", "p", "a.mp4", "c.mp4", kind="score", tie=True),  # |0.05|
        make_row("ds", "textual_alignment", "p", "a.mp4", "b.mp4", kind="vote"),  # -0.4: wrong
        make_row("ds", "overall", "q", "data/sub/d.mp4", "e.mp4", kind="score"),  # e failed
    ]
    report = _eval(tmp_path, rows, scores, tie_threshold=0.06)
    (m,) = report["models"]
    assert (m["model"], m["evaluated"], sum(m["dropped"].values())) == ("m", 4, 1)
    no_ties = figure(report, "acc_no_ties", "ds", "overall")
    assert (no_ties["value"], no_ties["n"]) == (0.5, 2)  # n: decided pairs
    thr = figure(report, "acc_tie_threshold", "ds", "overall")
    assert (thr["value"], thr["n"]) == (pytest.approx(2 / 3), 3)  # the tie is within 0.06
    assert figure(report, "acc_no_ties", "ds", "textual_alignment")["value"] == 0.0
    assert figure(report, "acc_no_ties")["value"] == pytest.approx(1 / 3)  # headline


def test_each_dimension_uses_its_own_column(tmp_path):
    """Dimension scores offset from overall so that reading the overall column flips them.

    Videos x, y, z for prompt p. overall: x 0.9, y 0.5, z 0.1 (x > y > z).
    textual_alignment (ta): x 0.2, y 0.6, z 0.4; each is overall + a non-zero offset.
    Pairs (chosen first): overall x>y (+0.4 right), overall y>z (+0.4 right);
    ta x>y (-0.4 wrong), ta z>x (+0.2 right), ta y>z (+0.2 right), ta x>z (-0.2 wrong).
    -> overall 2/2; ta 2/4. With the overall column, ta would be x>y, z>x (-0.8), y>z, x>z: 3/4.
    """
    scores = [_score_row("x.mp4", "p", 0.9, ta=0.2), _score_row("y.mp4", "p", 0.5, ta=0.6),
              _score_row("z.mp4", "p", 0.1, ta=0.4)]
    rows = [make_row("ds", "overall", "p", "x.mp4", "y.mp4", kind="vote"),
            make_row("ds", "overall", "p", "y.mp4", "z.mp4", kind="vote")]
    rows += [make_row("ds", "textual_alignment", "p", c, r, kind="vote")
             for c, r in (("x.mp4", "y.mp4"), ("z.mp4", "x.mp4"), ("y.mp4", "z.mp4"),
                          ("x.mp4", "z.mp4"))]
    report = _eval(tmp_path, rows, scores)
    assert figure(report, "acc_no_ties", "ds", "overall")["value"] == 1.0
    assert figure(report, "acc_no_ties", "ds", "textual_alignment")["value"] == 0.5
    assert figure(report, "acc_no_ties")["value"] == pytest.approx(4 / 6)


def test_a_file_of_several_models_is_split_by_model(tmp_path):
    """Two models' rows concatenated: m1 ranks a > b (right), m2 b > a (wrong). The last rows
    (m2) must not win silently: each model gets its own figures; --model picks one."""
    scores = [_score_row("a.mp4", "p", 0.9, model="m1"), _score_row("b.mp4", "p", 0.1, model="m1"),
              _score_row("a.mp4", "p", 0.2, model="m2"), _score_row("b.mp4", "p", 0.7, model="m2")]
    rows = [make_row("ds", "overall", "p", "a.mp4", "b.mp4", kind="vote")]
    report = _eval(tmp_path, rows, scores)
    assert [m["model"] for m in report["models"]] == ["m1", "m2"]
    assert figure(report, "acc_no_ties", model="m1")["value"] == 1.0
    assert figure(report, "acc_no_ties", model="m2")["value"] == 0.0
    picked = _eval(tmp_path, rows, scores, pick="m2")
    assert [m["model"] for m in picked["models"]] == ["m2"]
    with pytest.raises(ValueError, match=r"--model 'm3': no rows for it in .*scores.jsonl "
                                         r"\(models there: 'm1', 'm2'\)"):
        _eval(tmp_path, rows, scores, pick="m3")
    # score-dir appends: a later row of a pair supersedes the earlier one (a rescore), so m1's
    # a.mp4 is now 0.05 < b.mp4's 0.1 and m1 ranks the pair wrong
    later = scores + [_score_row("a.mp4", "p", 0.05, model="m1")]
    assert figure(_eval(tmp_path, rows, later), "acc_no_ties", model="m1")["value"] == 0.0


def test_records_are_flat_and_json_has_no_nan(tmp_path):
    # only ties: acc_no_ties is undefined -> None in --json, never NaN
    scores = [_score_row("a.mp4", "p", 0.5), _score_row("b.mp4", "p", 0.5)]
    rows = [make_row("ds", "overall", "p", "a.mp4", "b.mp4", kind="vote", tie=True)]
    report = _eval(tmp_path, rows, scores, bootstrap=50, conventions=("videoalign",))
    text = json.dumps(json_ready(report), allow_nan=False)
    records = json.loads(text)["records"]
    keys = {"model", "dataset", "dimension", "metric", "convention", "value", "ci_low",
            "ci_high", "n"}
    assert all(set(r) == keys for r in records)
    assert all(not isinstance(v, dict | list) for r in records for v in r.values())
    no_ties = figure(report, "acc_no_ties")
    assert no_ties["value"] is None and no_ties["ci_low"] is None and no_ties["n"] == 0
    # the tie at d = 0 is right at eps 0 (Thm): 1.0, and VideoAlign's k = 1 state is the same
    assert figure(report, "acc_with_ties", convention="videoalign")["value"] == 1.0
    assert {r["convention"] for r in records} == {"cleverward", "videoalign"}
    assert not any(isinstance(v, float) and math.isnan(v) for r in records for v in r.values())


def test_score_table_matches_trailing_path_components_only_when_unique():
    table = ScoreTable([_score_row("x/a.mp4", "p", 0.1), _score_row("y/a.mp4", "p", 0.2),
                        _score_row("b.mp4", "p", 0.3)], "s.jsonl")
    assert table.lookup("p", "root/x/a.mp4")["score"] == 0.1
    assert table.lookup("p", "a.mp4") is None  # ambiguous: x/a.mp4 or y/a.mp4
    assert table.lookup("p", "/abs/b.mp4")["score"] == 0.3
    assert table.lookup("other prompt", "b.mp4") is None
    bad = ScoreTable([{**_score_row("n.mp4", "p", 0.1), "score": float("nan")}], "s.jsonl")
    assert bad.reward("p", "n.mp4", "overall") == \
        (None, "s.jsonl: 'overall' score nan is not a finite number")


def test_messages_name_options(tmp_path):
    with pytest.raises(ValueError, match="give exactly one of --model and --scores"):
        EvalConfig(pairs="p.jsonl")
    with pytest.raises(ValueError, match="give exactly one of --model and --scores"):
        EvalConfig(pairs="p.jsonl", model="default", scores="s.jsonl")
    with pytest.raises(ValueError, match="--bootstrap: must be >= 0"):
        EvalConfig(pairs="p.jsonl", scores="s.jsonl", bootstrap=-5)
    with pytest.raises(ValueError, match="--convention: 'x' is not one of"):
        EvalConfig(pairs="p.jsonl", scores="s.jsonl", conventions=("x",))
    write_pairs([make_row("ds", "overall", "p", "a.mp4", "b.mp4", kind="vote")],
                tmp_path / "pairs.jsonl")
    with pytest.raises(ValueError, match="--scores .*: is a folder"):
        evaluate(EvalConfig(pairs=str(tmp_path / "pairs.jsonl"), scores=str(tmp_path)))


@pytest.mark.slow  # loads the default model
def test_missing_videos_name_the_path_tried_and_the_option(tmp_path):
    rows = [make_row("ds", "overall", "p", "clips/a.mp4", "clips/b.mp4", kind="vote")]
    write_pairs(rows, tmp_path / "pairs.jsonl")
    with pytest.raises(ValueError) as exc:
        evaluate(EvalConfig(pairs=str(tmp_path / "pairs.jsonl"), model="default",
                            use_cache=False, bootstrap=0))
    message = str(exc.value)
    assert str(tmp_path / "clips" / "a.mp4") in message
    assert "set --videos-root" in message and "1 x video not found" in message


@pytest.mark.slow  # loads the default model and decodes three clips
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
                                   videos_root=str(demo_clips), use_cache=False, bootstrap=0))
    by_file = evaluate(EvalConfig(pairs=str(tmp_path / "pairs.jsonl"), scores=str(out),
                                  bootstrap=0))
    a = figure(by_model, "acc_no_ties", "demo", "overall")
    b = figure(by_file, "acc_no_ties", "demo", "overall")
    assert a["n"] == b["n"] == 2
    assert a["value"] == b["value"] == 1.0
