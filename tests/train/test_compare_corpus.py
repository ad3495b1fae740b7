"""The done-when corpus: 3 generators x 20 prompts of real encoded synthetic clips, one (gamma)
with planted heavy flicker + noise. Its rows here are the synthetic task's known scores
(train/synth.py label_scores), not a reward model's: they say what a correct model would."""

from __future__ import annotations

import json

import pytest

from cleverward.train.compare.analysis import CompareConfig, compare
from cleverward.train.compare.corpus import LABEL_MODEL, build_corpus, defective


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen-corpus")
    assert build_corpus(root, n_prompts=20, frames=8, size=(48, 64)) == 60
    return root


def test_corpus_layout(corpus):
    clips = sorted(p.relative_to(corpus / "videos").as_posix()
                   for p in (corpus / "videos").rglob("*.mp4"))
    assert len(clips) == 60 and clips[0] == "alpha/p000.mp4" and clips[-1] == "gamma/p019.mp4"
    rows = [json.loads(line) for line in (corpus / "labels_scores.jsonl").open()]
    assert {r["model"] for r in rows} == {LABEL_MODEL} and len(rows) == 60


@pytest.mark.parametrize("metric", ["overall", "visual_aesthetics", "motion_continuity"])
def test_defective_generator_ranked_last_with_separated_interval(corpus, metric):
    """Flicker and noise lower visual_aesthetics (and flicker motion_continuity) by formula, so
    gamma must rank last with a 95% interval entirely below both others' intervals."""
    result = compare(CompareConfig(scores=(str(corpus / "labels_scores.jsonl"),),
                                   bootstrap=300, seed=0))
    ratings = result["bradley_terry"][metric]
    last = ratings[-1]
    assert last["generator"] == defective() == "gamma" and last["rank"] == 3
    assert all(last["ci_high"] < r["ci_low"] for r in ratings[:-1])


def test_win_rate_recomputed_from_the_rows(corpus):
    """alpha vs gamma on visual_aesthetics, counted straight from the JSONL: for each prompt,
    alpha wins when its clip's value is higher; ties count half."""
    rows = [json.loads(line) for line in (corpus / "labels_scores.jsonl").open()]
    by = {(r["video"].split("/")[0], r["prompt"]): r["dimensions"]["visual_aesthetics"]
          for r in rows}
    prompts = {p for _, p in by}
    wins = sum(by["alpha", p] > by["gamma", p] for p in prompts)
    ties = sum(by["alpha", p] == by["gamma", p] for p in prompts)
    expected = (wins + ties / 2) / len(prompts)
    result = compare(CompareConfig(scores=(str(corpus / "labels_scores.jsonl"),), bootstrap=10))
    [found] = [r for r in result["win_rates"] if (r["a"], r["b"], r["metric"])
               == ("alpha", "gamma", "visual_aesthetics")]
    assert found["n"] == len(prompts) == 20
    assert found["rate"] == pytest.approx(expected)
    # and beta vs alpha on overall, the closer pair (alpha's mild noise vs beta's blur+jitter)
    ov = {(r["video"].split("/")[0], r["prompt"]): r["score"] for r in rows}
    beta_wins = sum(ov["beta", p] > ov["alpha", p] for p in prompts)
    [ba] = [r for r in result["win_rates"] if (r["a"], r["b"], r["metric"])
            == ("beta", "alpha", "overall")]
    assert (ba["wins"], ba["rate"]) == (beta_wins, pytest.approx(beta_wins / 20))
