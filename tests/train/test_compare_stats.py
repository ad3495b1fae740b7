"""The comparison statistics against values derived by hand (and scipy where it has one)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cleverward.train.compare.agreement import agreement
from cleverward.train.compare.ratings import (
    bt_ratings,
    elo,
    fit_bt,
    prompt_games,
    resample_prompts,
)
from cleverward.train.compare.rows import ScoredClip
from cleverward.train.compare.winrate import tied_rate, win_rate

NAN = float("nan")


@pytest.mark.parametrize(("policy", "expected"), [("half", 0.625), ("drop", 2 / 3),
                                                  ("loss", 0.5)])
def test_win_rate_by_hand(policy, expected):
    """A = (.9, .5, .3, .7, -), B = (.1, .5, .8, .2, .4): prompt 5 is not shared, so n = 4;
    A wins prompts 1 and 4, ties 2, loses 3. half: (2 + 0.5) / 4 = 0.625; drop: 2 / 3;
    loss: 2 / 4 = 0.5."""
    a = np.array([0.9, 0.5, 0.3, 0.7, NAN])
    b = np.array([0.1, 0.5, 0.8, 0.2, 0.4])
    wins, losses, ties, rate = win_rate(a, b, policy)
    assert (wins, losses, ties) == (2, 1, 1)
    assert rate == pytest.approx(expected)


def test_win_rate_undefined_and_bad_policy():
    assert tied_rate(0, 0, 3, "drop") is None  # all ties, nothing decided
    assert tied_rate(0, 0, 0, "half") is None
    with pytest.raises(ValueError, match="ties must be one of"):
        tied_rate(1, 0, 0, "coin")


def test_prompt_games_by_hand():
    """Scores (G=3, P=2): prompt 0 = (3, 1, 1): 0 beats 1 and 2, 1 ties 2; prompt 1 = (-, 2, 5):
    generator 0 did not answer, 2 beats 1. With ties as halves: wins[0] = [[0,1,1],[0,0,.5],
    [0,.5,0]], every pair met; wins[1] only [2,1] = 1 and games only between 1 and 2."""
    values = np.array([[3.0, NAN], [1.0, 2.0], [1.0, 5.0]])
    wins, games = prompt_games(values, "half")
    np.testing.assert_array_equal(wins[0], [[0, 1, 1], [0, 0, 0.5], [0, 0.5, 0]])
    np.testing.assert_array_equal(games[0], 1 - np.eye(3))
    np.testing.assert_array_equal(wins[1], [[0, 0, 0], [0, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(games[1], [[0, 0, 0], [0, 0, 1], [0, 1, 0]])
    wins_d, games_d = prompt_games(values, "drop")  # the 1-2 tie of prompt 0 is no game
    assert games_d[0, 1, 2] == 0 and wins_d[0, 1, 2] == 0 and games_d[0, 0, 1] == 1


def _record(pairs: dict[tuple[int, int], tuple[float, int]], g: int):
    """{(i, j): (wins of i over j, games)} -> (wins, games) matrices (G, G)."""
    w, n = np.zeros((g, g)), np.zeros((g, g))
    for (i, j), (won, played) in pairs.items():
        w[i, j], w[j, i] = won, played - won
        n[i, j] = n[j, i] = played
    return w, n


def test_bt_three_players_by_hand():
    """A beats B 2 of 3, B beats C 2 of 3, A beats C 4 of 5. Strengths pi = (4, 2, 1) satisfy
    the likelihood equations wins_i = sum_j n_ij pi_i / (pi_i + pi_j) exactly: A: 2 + 4 = 3*2/3
    + 5*4/5; B: 1 + 2 = 3*1/3 + 3*2/3; C: 1 + 1 = 3*1/3 + 5*1/5. So the MLE is theta =
    log(4, 2, 1) - mean = (ln 2, 0, -ln 2)."""
    w, n = _record({(0, 1): (2, 3), (1, 2): (2, 3), (0, 2): (4, 5)}, 3)
    theta = fit_bt(w, n, prior=0.0)
    np.testing.assert_allclose(theta, [math.log(2), 0.0, -math.log(2)], atol=1e-8)


def test_bt_chain_by_hand():
    """A-B 2 of 3, B-C 3 of 4, A and C never meet: each pair's rate is matched exactly,
    theta_A - theta_B = ln 2, theta_B - theta_C = ln 3; with mean 0, theta_B = (ln 3 - ln 2)/3."""
    w, n = _record({(0, 1): (2, 3), (1, 2): (3, 4)}, 3)
    theta = fit_bt(w, n, prior=0.0)
    tb = (math.log(3) - math.log(2)) / 3
    np.testing.assert_allclose(theta, [tb + math.log(2), tb, tb - math.log(3)], atol=1e-8)


def test_bt_prior_makes_a_clean_sweep_finite():
    """A beats B 20 of 20. One virtual tie adds half a win each: 20.5 vs 0.5 of 21 games, so
    theta_A - theta_B = ln(20.5 / 0.5) = ln 41."""
    w, n = _record({(0, 1): (20, 20)}, 2)
    theta = fit_bt(w, n, prior=1.0)
    assert theta[0] - theta[1] == pytest.approx(math.log(41), abs=1e-8)
    assert theta.sum() == pytest.approx(0.0, abs=1e-12)


def test_bt_matches_scipy_mle_on_random_records():
    """The MM fit equals a direct minimisation of the BT negative log-likelihood."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(3)
    for g in (3, 5, 7):
        games, wins = np.zeros((g, g)), np.zeros((g, g))
        for i, j in zip(*np.triu_indices(g, 1), strict=True):
            games[i, j] = games[j, i] = rng.integers(2, 12)
            wins[i, j] = rng.integers(1, games[i, j])  # at least one win and one loss a pair
            wins[j, i] = games[i, j] - wins[i, j]

        def nll(t, wins=wins):
            d = t[:, None] - t[None, :]
            return float((wins * np.logaddexp(0, -d)).sum())

        ref = minimize(nll, np.zeros(g), method="BFGS", options={"gtol": 1e-10}).x
        np.testing.assert_allclose(fit_bt(wins, games, prior=0.0),
                                   ref - ref.mean(), atol=1e-5)


def test_elo_two_games_by_hand():
    """K = 16, from 1000 each. Prompt 0: A wins, expected 0.5: A = 1008, B = 992. Prompt 1:
    B wins; A's expectation 1 / (1 + 10^((992 - 1008) / 400)) = 1 / (1 + 10^-0.04) = 0.523013,
    so A = 1008 - 16 * 0.523013 = 999.6318, B = 1000.3682."""
    values = np.array([[2.0, 0.0], [1.0, 1.0]])  # (G, P): A wins prompt 0, B prompt 1
    wins, games = prompt_games(values, "half")
    r = elo(np.array([[0, 1]]), wins, games, k=16.0)[0]
    np.testing.assert_allclose(r, [999.6318, 1000.3682], atol=1e-3)
    r_rev = elo(np.array([[1, 0]]), wins, games, k=16.0)[0]  # order matters in Elo
    np.testing.assert_allclose(r_rev, [1000.3682, 999.6318], atol=1e-3)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 40)) + np.array([[0.5], [0.0], [-0.5]])  # (G, P)
    gens = ["a", "b", "c"]
    first = bt_ratings(gens, values, "half", 1.0, resample_prompts(40, 300, seed=1))
    again = bt_ratings(gens, values, "half", 1.0, resample_prompts(40, 300, seed=1))
    other = bt_ratings(gens, values, "half", 1.0, resample_prompts(40, 300, seed=2))
    assert first == again and first != other
    assert [r.generator for r in first] == ["a", "b", "c"]
    assert all(r.ci_low <= r.value <= r.ci_high for r in first)


def _clip(model, video, prompt, score):
    return ScoredClip("g", prompt, video, model, {"overall": score})


def test_agreement_by_hand():
    """Model a scores (1, 2, 3) on prompt p and (10, 11) on q; model b (1, 3, 2) and (0, 5).
    Over all 5 clips a is increasing and b's pairs go + + - + - - + - + +: 6 concordant, 4
    discordant, no ties -> tau-b = (6 - 4) / 10 = 0.2. Same-prompt pairs: p gives 2 alike of 3
    (its second and third clips swap), q 1 of 1 -> 3 / 4."""
    a = [1, 2, 3, 10, 11]
    b = [1, 3, 2, 0, 5]
    names = [("v1", "p"), ("v2", "p"), ("v3", "p"), ("v4", "q"), ("v5", "q")]
    clips = [_clip("a", v, p, s) for (v, p), s in zip(names, a, strict=True)]
    clips += [_clip("b", v, p, s) for (v, p), s in zip(names, b, strict=True)]
    clips.append(_clip("b", "v9", "p", 0.0))  # scored by b only: not shared
    found = agreement(clips, "a", "b", "overall")
    assert found.clips == 5
    assert found.kendall_tau == pytest.approx(0.2)
    assert (found.pairs, found.agree, found.tied_pairs) == (4, 3, 0)
    assert found.pairwise_agreement == pytest.approx(0.75)


def test_equal_ratings_share_a_rank():
    """Every prompt tied between all three: theta = 0 for each, so each is ranked 1."""
    values = np.ones((3, 5))  # (G, P)
    rows = bt_ratings(["a", "b", "c"], values, "half", 1.0, resample_prompts(5, 20, seed=0))
    assert [r.rank for r in rows] == [1, 1, 1]
    assert all(abs(r.value) < 1e-9 for r in rows)


def test_elo_one_rating_period_per_prompt():
    """Three players, one prompt: A > B > C. All three games use the starting ratings (1000,
    expected 0.5 each): A wins twice, +8 +8 = 1016; B wins one, loses one: 1000; C 984."""
    values = np.array([[3.0], [2.0], [1.0]])  # (G, P)
    wins, games = prompt_games(values, "half")
    np.testing.assert_allclose(elo(np.array([[0]]), wins, games, k=16.0)[0], [1016, 1000, 984])


def test_bt_generator_without_games_is_nan_and_harmless():
    """C played nobody (as in a bootstrap replicate that drew none of its prompts): its theta is
    NaN and A, B get what they get alone: A beats B 3 of 4 -> theta = (+ln 3 / 2, -ln 3 / 2)."""
    w, n = _record({(0, 1): (3, 4)}, 3)
    theta = fit_bt(w, n, prior=0.0)
    assert np.isnan(theta[2])
    np.testing.assert_allclose(theta[:2], [math.log(3) / 2, -math.log(3) / 2], atol=1e-8)


def test_win_rate_matches_a_loop_on_random_discrete_scores():
    """Scores drawn from 4 levels (many ties) with gaps, against a plain per-prompt count."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        a, b = (rng.integers(0, 4, 30).astype(float) for _ in range(2))
        a[rng.random(30) < 0.2] = NAN
        b[rng.random(30) < 0.2] = NAN
        shared = [(x, y) for x, y in zip(a, b, strict=True) if not (np.isnan(x) or np.isnan(y))]
        w = sum(x > y for x, y in shared)
        t = sum(x == y for x, y in shared)
        assert win_rate(a, b, "half") == (w, len(shared) - w - t, t,
                                          (w + t / 2) / len(shared))
