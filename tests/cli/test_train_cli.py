"""synth -> build-pairs -> train -> eval -> score-dir --model, through the CLI as a user runs it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cleverward.cli.app import app

runner = CliRunner()


def _ok(args):
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res


@pytest.mark.slow
def test_the_training_workflow_end_to_end(tmp_path):
    root, cache = tmp_path / "synth", tmp_path / "cache"
    _ok(["synth", str(root), "--count", "6", "--videos-per-prompt", "4", "--frames", "8",
         "--height", "64", "--width", "64"])
    summary = tmp_path / "pairs_summary.json"
    _ok(["build-pairs", "--dataset", f"jsonl:{root}/labels_train.jsonl", "--videos-root",
         str(root), "--out", str(tmp_path / "pairs.jsonl"), "--mine-negatives", "1",
         "--near-dup", "--cache", str(cache), "--summary-json", str(summary), "-q"])
    report = json.loads(summary.read_text())
    assert report["mining"]["embedded"] == report["mining"]["videos"] > 0
    assert report["mining"]["mined_negatives"] > 0
    run = tmp_path / "run"
    _ok(["train", "--pairs", str(tmp_path / "pairs.jsonl"), "--videos-root", str(root),
         "--out", str(run), "--epochs", "8", "--batch-size", "32", "--val-fraction", "0",
         "--cache", str(cache),
         "--summary-json", str(tmp_path / "train.json"), "-q"])
    assert json.loads((tmp_path / "train.json").read_text())["steps"] > 0
    # held-out prompts (colour x shape pairings no training clip shows): trained beats untrained
    heldout = tmp_path / "heldout.jsonl"
    _ok(["build-pairs", "--dataset", f"jsonl:{root}/labels_heldout.jsonl", "--videos-root",
         str(root), "--out", str(heldout), "-q"])
    acc = {}
    for model in ("default", str(run)):
        res = _ok(["eval", "--model", model, "--pairs", str(heldout), "--videos-root", str(root),
                   "--cache", str(cache), "--json", "--bootstrap", "0"])
        evaluated = json.loads(res.stdout)
        assert evaluated["models"][0]["evaluated"] == evaluated["pairs_read"] > 0
        (headline,) = [r for r in evaluated["records"] if r["metric"] == "acc_no_ties" and
                       (r["dataset"], r["dimension"], r["convention"]) ==
                       ("all", "all", "cleverward")]
        acc[model] = headline["value"]
    assert acc[str(run)] > acc["default"], acc
    _ok(["score-dir", str(root / "videos"), "--prompts", str(root / "prompts.jsonl"),
         "--model", str(run), "--out", str(tmp_path / "scores.jsonl"), "--cache", str(cache),
         "-q"])
    rows = [json.loads(line) for line in (tmp_path / "scores.jsonl").read_text().splitlines()]
    assert rows and all(r["error"] is None and r["model"].startswith(f"{run.resolve()}@")
                        for r in rows)  # resolved location @ head digest


def test_bad_inputs_fail_with_the_file_named(tmp_path):
    res = runner.invoke(app, ["train", "--pairs", str(tmp_path / "nope.jsonl"), "--out",
                              str(tmp_path / "o")])
    assert res.exit_code == 2 and "nope.jsonl" in res.output
    res = runner.invoke(app, ["train", "--pairs", "p", "--out", "o", "--objective", "hinge"])
    assert res.exit_code == 2 and "objective" in res.output
    bad = tmp_path / "labels.jsonl"
    bad.write_text('{"video": "a.mp4", "prompt": "x", "scores": {"overall": 1}}\n{oops\n')
    res = runner.invoke(app, ["build-pairs", "--dataset", f"jsonl:{bad}", "--out",
                              str(tmp_path / "p.jsonl")])
    assert res.exit_code == 2 and "labels.jsonl:2" in res.output
    res = runner.invoke(app, ["eval", "--pairs", str(tmp_path / "none.jsonl")])
    assert res.exit_code == 2 and "none.jsonl" in res.output
