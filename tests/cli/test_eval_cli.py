"""`cleverward eval` through the CLI on a saved scores file (no decoding): JSON records with
intervals and conventions, one table per model, conventions labelled, messages that name the
option and the file."""

from __future__ import annotations

import json

from cleverward.train.pairs_io import make_row, write_pairs
from tests.cli.run import run_cli


def _files(tmp_path):
    """Prompt p: a > b (vote), a = b tie; prompt q: c > d. Scores of two models:
    m1: a 0.8, b 0.3, c 0.6, d 0.1 -> diffs +0.5 right, tie a-b |0.5|, +0.5 right
    m2: a 0.3, b 0.3, c 0.1, d 0.6 -> diffs 0 (wrong on a decided pair), tie 0, -0.5 wrong."""
    rows = [make_row("gb", "overall", "p", "a.mp4", "b.mp4", kind="vote", vote="leftvote"),
            make_row("gb", "overall", "p", "a.mp4", "b.mp4", kind="vote", tie=True,
                     vote="bothbad_vote"),
            make_row("gb", "overall", "q", "c.mp4", "d.mp4", kind="vote", vote="leftvote")]
    write_pairs(rows, tmp_path / "pairs.jsonl")
    scores = []
    for model, values in (("m1", (0.8, 0.3, 0.6, 0.1)), ("m2", (0.3, 0.3, 0.1, 0.6))):
        for (video, prompt), s in zip((("a.mp4", "p"), ("b.mp4", "p"), ("c.mp4", "q"),
                                       ("d.mp4", "q")), values, strict=True):
            scores.append({"video": video, "prompt": prompt, "score": s, "dimensions": None,
                           "model": model, "error": None})
    (tmp_path / "scores.jsonl").write_text("".join(json.dumps(r) + "\n" for r in scores))
    return tmp_path / "pairs.jsonl", tmp_path / "scores.jsonl"


def _value(records, model, metric, convention="cleverward"):
    (r,) = [r for r in records if (r["model"], r["metric"], r["convention"], r["dataset"],
                                   r["dimension"]) == (model, metric, convention, "all", "all")]
    return r


def test_json_records_per_model_with_intervals(tmp_path):
    pairs, scores = _files(tmp_path)
    res = run_cli("eval", "--pairs", pairs, "--scores", scores, "--json", "--bootstrap", "200",
                  "--convention", "genai-bench", "--convention", "videoscore")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    records = report["records"]
    # m1: acc_no_ties 2/2; m2: 0/2. genai-bench (A=B only at d = 0): m1 right, wrong (tie at
    # 0.5 answered A>B), right -> 2/3; m2 wrong (A=B on a decided pair), right (A=B on the
    # bothbad tie), wrong -> 1/3. videoscore: m1 right, tie |0.5| not < 0.5 wrong, right -> 2/3.
    assert _value(records, "m1", "acc_no_ties")["value"] == 1.0
    assert _value(records, "m2", "acc_no_ties")["value"] == 0.0
    assert _value(records, "m1", "acc_with_ties", "genai-bench")["value"] == 2 / 3
    assert _value(records, "m2", "acc_with_ties", "genai-bench")["value"] == 1 / 3
    assert _value(records, "m1", "acc_tie_threshold", "videoscore")["value"] == 2 / 3
    r = _value(records, "m1", "acc_no_ties")
    # prompts p (1 decided pair, right) and q (right): every resample is 1.0
    assert (r["ci_low"], r["ci_high"], r["n"]) == (1.0, 1.0, 2)
    r = _value(records, "m2", "acc_tie_threshold")  # p: wrong + tie at 0 right, q: wrong
    assert r["ci_low"] < r["value"] < r["ci_high"]
    assert set(report["conventions"]) == {"cleverward", "genai-bench", "videoscore"}


def test_text_has_one_table_per_model_and_labels_each_convention(tmp_path):
    pairs, scores = _files(tmp_path)
    res = run_cli("eval", "--pairs", pairs, "--scores", scores, "--convention", "all",
                  "--bootstrap", "20")
    assert res.exit_code == 0, res.output
    assert "model: m1" in res.stdout and "model: m2" in res.stdout
    for name in ("videoalign", "videoscore", "unifiedreward", "genai-bench"):
        assert f"convention {name} (" in res.stdout
    assert "no 'never tie' state" in res.stdout and "acc_with_ties correct" in res.stdout
    picked = run_cli("eval", "--pairs", pairs, "--scores", scores, "--model", "m2",
                     "--bootstrap", "0")
    assert picked.exit_code == 0, picked.output
    assert "model: m2" in picked.stdout and "model: m1" not in picked.stdout


def test_messages_name_the_option_and_the_file(tmp_path):
    pairs, scores = _files(tmp_path)
    res = run_cli("eval", "--pairs", tmp_path / "none.jsonl", "--scores", scores)
    assert res.exit_code == 2 and f"--pairs {tmp_path / 'none.jsonl'}: no such file" in res.output
    res = run_cli("eval", "--pairs", tmp_path, "--scores", scores)
    assert res.exit_code == 2 and "is a folder" in res.output
    res = run_cli("eval", "--pairs", pairs, "--scores", tmp_path / "s.jsonl")
    assert res.exit_code == 2 and "--scores" in res.output and "s.jsonl: no such file" in res.output
    res = run_cli("eval", "--pairs", pairs, "--scores", scores, "--model", "m9")
    assert res.exit_code == 2 and "--model 'm9': no rows for it" in res.output
    res = run_cli("eval", "--pairs", pairs, "--scores", scores, "--ci", "95")
    assert res.exit_code == 2 and "--ci: must be between 0 and 1" in res.output
    res = run_cli("eval", "--pairs", pairs, "--scores", scores, "--convention", "vbench")
    assert res.exit_code == 2 and "vbench" in res.output
    assert "Config" not in res.output
