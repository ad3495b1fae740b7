"""The bounded ranking prints what a full sort would, holding only 2 x top rows per prompt."""

import random

import pytest

from cleverward.engine.ranking import Ranking


def _full(items, top):
    """What the ranking must show: a stable sort by descending score, whole when at most
    2 x top items, else the first and last `top` around a gap."""
    ordered = sorted(items, key=lambda sv: -sv[0])
    ranked = [(i + 1, s, v) for i, (s, v) in enumerate(ordered)]
    return ranked if len(ranked) <= 2 * top else ranked[:top] + [None] + ranked[-top:]


@pytest.mark.parametrize("n, top", [(0, 3), (1, 3), (4, 3), (6, 3), (7, 3), (50, 3), (50, 1),
                                    (30, 10)])
def test_matches_a_full_sort_with_ties(n, top):
    rng = random.Random(n * 31 + top)
    items = [(round(rng.uniform(-1, 1), 1), f"v{i}.mp4") for i in range(n)]  # many ties
    ranking = Ranking(top)
    for score, video in items:
        ranking.add("p", score, video)
    if n == 0:
        assert ranking.prompts() == [] and ranking.count("p") == 0
        return
    assert ranking.count("p") == n and ranking.shown("p") == _full(items, top)
    entry = ranking._prompts["p"]
    assert len(entry.best) <= top and len(entry.worst) <= top  # bounded


def test_prompts_in_arrival_order_and_top_zero_counts_only():
    ranking = Ranking(0)
    for prompt in ("b", "a", "b"):
        ranking.add(prompt, 0.5, "v.mp4")
    assert ranking.prompts() == ["b", "a"] and ranking.count("b") == 2
    assert ranking.shown("b") == [] and ranking._prompts["b"].best == []
    with pytest.raises(ValueError, match="--top"):
        Ranking(-1)
