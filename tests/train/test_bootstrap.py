"""Prompt (cluster) bootstrap: whole prompts drawn, seeded, percentile intervals by hand."""

from __future__ import annotations

import numpy as np
import pytest

from cleverward.train.bootstrap import BootstrapConfig, PromptClusters, group_rng, intervals


def test_draws_whole_prompts():
    prompts = ["a", "b", "a", "c", "a", "b"]  # a: pairs 0 2 4, b: 1 5, c: 3
    clusters = PromptClusters(prompts)
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = clusters.draw(rng)
        counts = np.bincount(idx, minlength=6)
        # every pair of a prompt comes as often as the prompt was drawn; 3 prompts drawn
        assert counts[0] == counts[2] == counts[4]
        assert counts[1] == counts[5]
        assert counts[0] + counts[1] + counts[3] == 3


def test_resampled_values_are_those_of_whole_prompts():
    # prompt A: 3 pairs, all right; prompt B: 1 pair, wrong. Drawing 2 prompts: AA -> 1,
    # AB -> 3/4, BB -> 0. A pair-level bootstrap would also produce 1/4, 1/2, 2/3 ...
    right = np.array([1.0, 1.0, 1.0, 0.0])
    seen = set()

    def figures(ix):
        seen.add(float(right[ix].mean()))
        return {"acc": float(right[ix].mean())}

    intervals(figures, ["A", "A", "A", "B"], BootstrapConfig(200, 0.95, 0), "g")
    assert seen == {1.0, 0.75, 0.0}


def test_percentile_interval_by_hand():
    # two prompts, one right pair and one wrong: resampled accuracy 0 (p 1/4), 1/2 (1/2),
    # 1 (1/4). The 2.5% / 97.5% quantiles are 0 and 1; the 30% / 70% ones (ci 0.4) are 1/2.
    right = np.array([1.0, 0.0])

    def acc(ix):
        return {"acc": float(right[ix].mean())}

    assert intervals(acc, ["p", "q"], BootstrapConfig(2000, 0.95, 0), "g") == {"acc": (0.0, 1.0)}
    assert intervals(acc, ["p", "q"], BootstrapConfig(2000, 0.4, 0), "g") == {"acc": (0.5, 0.5)}
    # one prompt: every resample is the data itself
    assert intervals(acc, ["p", "p"], BootstrapConfig(20, 0.95, 0), "g") == {"acc": (0.5, 0.5)}


def test_seeded_and_undefined():
    data = np.random.default_rng(3).random(40)
    prompts = [f"p{i % 13}" for i in range(40)]

    def mean(ix):
        return {"m": float(data[ix].mean()), "never": float("nan")}

    one = intervals(mean, prompts, BootstrapConfig(300, 0.9, 7), "x")
    assert one == intervals(mean, prompts, BootstrapConfig(300, 0.9, 7), "x")
    assert one != intervals(mean, prompts, BootstrapConfig(300, 0.9, 8), "x")
    assert one["never"] is None  # undefined in every resample
    lo, hi = one["m"]
    assert lo < data.mean() < hi
    assert intervals(mean, prompts, BootstrapConfig(0), "x") == {}
    assert group_rng(0, "a").random() != group_rng(0, "b").random()


def test_bad_config():
    with pytest.raises(ValueError, match="--bootstrap: must be >= 0"):
        BootstrapConfig(-1)
    with pytest.raises(ValueError, match="--ci: must be between 0 and 1"):
        BootstrapConfig(10, 95)
