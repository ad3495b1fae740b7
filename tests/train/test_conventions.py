"""Tie-calibrated accuracy against a brute force, and each public convention against a
transcription of its script's algorithm, on 300 random sets of each kind of score; plus cases
worked out by hand.

The references below are written from reading each script (VideoAlign calc_accuracy.py,
VideoScore get_genaibench_pairwise_acc.py, UnifiedReward's GenAI-Bench video test, GenAI-Bench
inference.py parse_response): pair-by-pair Python loops over the two videos' scores, sharing no
code with the vectorised implementations they check.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cleverward.cli.eval_cmd import ConventionChoice
from cleverward.train.conventions import (
    CONVENTIONS,
    CORRECT,
    FigureParams,
    convention,
    videoalign_accuracy_with_ties,
)
from cleverward.train.metrics import accuracy_with_ties, tie_stats

KINDS = ("continuous", "grid", "levels")
SETS = 300


def random_sets(kind: str, seed: int = 0):
    """(labels, score_a, score_b) x SETS. Labels follow a latent quality with noise; about 30%
    are human ties. Scores: continuous, rounded to a 0.1 grid, or whole levels 1-4."""
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    for _ in range(SETS):
        n = int(rng.integers(2, 41))
        q = rng.normal(size=(n, 2))  # (n, 2) latent quality of A and B
        h = np.sign(q[:, 0] - q[:, 1] + rng.normal(0, 0.7, n)).astype(np.int64)
        h[rng.random(n) < 0.3] = 0
        s = q + rng.normal(0, 0.7, (n, 2))
        if kind == "grid":
            s = np.round(s, 1)
        elif kind == "levels":
            s = np.clip(np.round(s + 2.5), 1, 4)
        yield h, s[:, 0], s[:, 1]


def brute_force_calibrated(h, d) -> float:
    """max of acc_eq over every threshold: each |d|, each midpoint, below and above all."""
    a = np.unique(np.abs(d))
    eps = np.r_[-1.0, a, (a[1:] + a[:-1]) / 2, a[-1] + 1]
    return max(tie_stats(h, d, e).accuracy for e in eps)


def ref_videoalign(h, d) -> float:
    """calc_accuracy_with_ties: counts at epsilon -1, then for each pair in stable |d| order
    move it from its epsilon -1 class to its tie class at epsilon = its |d|; keep the best."""
    counts = {"C": 0, "D": 0, "Th": 0, "Tm": 0, "Thm": 0}
    for hi, mi in zip(h, d, strict=True):
        counts["Th" if hi == 0 else "C" if hi * mi > 0 else "D"] += 1
    best = -math.inf
    for hi, mi in sorted(zip(h.tolist(), d.tolist(), strict=True), key=lambda x: abs(x[1])):
        counts["Th" if hi == 0 else "C" if hi * mi > 0 else "D"] -= 1
        counts["Thm" if hi == 0 else "Tm"] += 1
        best = max(best, (counts["C"] + counts["Thm"]) / sum(counts.values()))
    return best


def ref_videoscore(h, a, b) -> float:
    """get_pairwise_acc with preferences (1, 0), (0, 1) or equal for a tie."""
    right = 0
    for hi, ls, rs in zip(h.tolist(), a.tolist(), b.tolist(), strict=True):
        lp, rp = (1, 0) if hi == 1 else (0, 1) if hi == -1 else (1, 1)
        right += (ls > rs) if lp > rp else (ls < rs) if lp < rp else abs(ls - rs) < 0.5
    return right / len(h)


def ref_unifiedreward(h, a, b) -> float:
    """pred 'A' / 'B' / 'same' from the scores; (correct - correct_tie) / (all - ties)."""
    correct = correct_tie = num_tie = 0
    for hi, x, y in zip(h.tolist(), a.tolist(), b.tolist(), strict=True):
        answer = "same" if hi == 0 else "A" if hi == 1 else "B"
        num_tie += answer == "same"
        pred = "A" if x > y else "B" if x < y else "same"
        if pred == answer:
            correct += 1
            correct_tie += answer == "same"
    return (correct - correct_tie) / (len(h) - num_tie) if len(h) > num_tie else math.nan


def ref_genai_bench(h, a, b, rng, eps: float = 0.0) -> float:
    """parse_response on a scalar's vote: [[A>B]], [[B>A]] or [[A=B]]; ties drawn as tievote
    or bothbad_vote (both right on [[A=B]])."""
    right = []
    for hi, x, y in zip(h.tolist(), a.tolist(), b.tolist(), strict=True):
        human = {1: "leftvote", -1: "rightvote"}.get(hi) or rng.choice(["tievote", "bothbad_vote"])
        vote = "[[A=B]]" if abs(x - y) <= eps else "[[A>B]]" if x > y else "[[B>A]]"
        right.append({"leftvote": vote == "[[A>B]]", "rightvote": vote == "[[B>A]]"}.get(
            human, vote in ("[[A=B]]", "[[A=B=Good]]" if human == "tievote" else "[[A=B=Bad]]")))
    return float(np.mean(right))


def _same(x: float, y: float) -> bool:
    return (math.isnan(x) and math.isnan(y)) or x == y


@pytest.mark.parametrize("kind", KINDS)
def test_calibrated_accuracy_equals_the_brute_force_exactly(kind):
    for h, a, b in random_sets(kind):
        d = a - b
        acc, eps = accuracy_with_ties(h, d)
        # on the grid the brute force takes the exact differences, in whole tenths
        exact = np.round(a * 10) - np.round(b * 10) if kind == "grid" else d
        assert acc == brute_force_calibrated(h, exact)
        assert tie_stats(h, d, eps).accuracy == acc  # the epsilon reported gives the figure


def test_grid_scores_as_decimals_equal_the_brute_force_on_exact_tenths():
    """Grid scores arrive as decimals (JSON 0.7, 0.4); their float differences are not exact
    (0.7 - 0.4 = 0.29999999999999993, 0.5 - 0.2 = 0.3). The brute force runs on the exact
    differences in whole tenths, where equal differences are equal; a threshold between the
    two floats would split a group no real threshold splits."""
    rng = np.random.default_rng(16)
    for _ in range(SETS):
        n = int(rng.integers(2, 41))
        tenths = rng.integers(0, 11, (n, 2))  # (n, 2) scores 0.0 .. 1.0 in tenths
        h = rng.choice([-1, 0, 1], n)
        a, b = tenths[:, 0] / 10, tenths[:, 1] / 10
        assert accuracy_with_ties(h, a - b)[0] == \
            brute_force_calibrated(h, (tenths[:, 0] - tenths[:, 1]).astype(np.float64))
    # by hand: h [0, 1], A [0.7, 0.5], B [0.4, 0.2]: both |diff| 0.3. eps 0: Th 1, C 1 = 1/2;
    # eps 0.3: Thm 1, Tm 1 = 1/2. Tying the first float only would claim Thm 1 + C 1 = 1.
    assert accuracy_with_ties([0, 1], [0.7 - 0.4, 0.5 - 0.2])[0] == 0.5


def test_grid_scores_on_a_large_scale_group_like_the_unit_scale():
    """The same grid sets with every score x 1e6 (a reward on a 0..1e6 scale): the calibrated
    accuracy depends only on the order of the |diff| values and which are equal, so it must
    not change. Rounding errors grow with the scale (0.7e6 - 0.4e6 style differences are off by
    ~1e-10 here), so a tolerance that does not grow with the differences would split groups."""
    rng = np.random.default_rng(16)
    for _ in range(SETS):
        n = int(rng.integers(2, 41))
        tenths = rng.integers(0, 11, (n, 2))
        h = rng.choice([-1, 0, 1], n)
        a, b = tenths[:, 0] / 10 * 1e6 + 0.1, tenths[:, 1] / 10 * 1e6 + 0.1
        assert accuracy_with_ties(h, a - b)[0] == \
            brute_force_calibrated(h, (tenths[:, 0] - tenths[:, 1]).astype(np.float64))


def test_scores_equal_as_decimals_are_a_tie_at_every_threshold():
    """A = 0.1 + 0.2 and B = 0.3 are equal scores, but their float difference is 5.6e-17 > 0.
    With a human preference for A and a second pair (A - B = 0.5, human A) the model can never
    be right on the first pair: a tie at every threshold, and no threshold lets a tie count
    for a preference. Best: 1/2 (eps below 0.5: the second right). Treating the 5.6e-17 as a
    real difference would add a 'no tie' state scoring both right (1.0)."""
    assert accuracy_with_ties([1, 1], [(0.1 + 0.2) - 0.3, 0.5])[0] == 0.5


@pytest.mark.parametrize("kind", KINDS)
def test_each_convention_equals_its_scripts_algorithm(kind):
    p, rng, differs = FigureParams(), np.random.default_rng(1), {"low": 0, "high": 0}
    for h, a, b in random_sets(kind):
        d = a - b
        va = CONVENTIONS["videoalign"].figures(h, d, p)["acc_with_ties"]
        assert va == ref_videoalign(h, d)
        assert CONVENTIONS["videoscore"].figures(h, d, p)["acc_tie_threshold"] == \
            ref_videoscore(h, a, b)
        assert _same(CONVENTIONS["unifiedreward"].figures(h, d, p)["acc_no_ties"],
                     ref_unifiedreward(h, a, b))
        assert CONVENTIONS["genai-bench"].figures(h, d, p)["acc_with_ties"] == \
            ref_genai_bench(h, a, b, rng)
        correct = accuracy_with_ties(h, d)[0]
        differs["low"] += va < correct
        differs["high"] += va > correct
    # the two VideoAlign quirks both show: low without the no-tie state (continuous scores),
    # high from splitting equal |d| (grids, levels)
    assert differs["low"] > 0
    assert (differs["high"] > 0) == (kind != "continuous")


def test_videoalign_quirks_by_hand():
    # 1. no-tie state: h [1, 1, 0], d [0.1, 0.2, 0.3]. Correct: eps 0 -> C 2, Th 1 = 2/3
    # (eps 0.1: 1/3, 0.2: 0, 0.3: 1/3). VideoAlign scores only k = 1..3: 1/3, 0, 1/3.
    assert accuracy_with_ties([1, 1, 0], [0.1, 0.2, 0.3]) == (pytest.approx(2 / 3), 0.0)
    assert videoalign_accuracy_with_ties([1, 1, 0], [0.1, 0.2, 0.3])[0] == pytest.approx(1 / 3)
    # 2. a split group: h [0, 1], d [0.5, 0.5]. Correct: eps 0 -> Th 1, C 1 = 1/2; eps 0.5 ->
    # Thm 1, Tm 1 = 1/2. VideoAlign's k = 1 ties only the first (the human tie): Thm 1, C 1 = 1.
    assert accuracy_with_ties([0, 1], [0.5, 0.5]) == (0.5, 0.0)
    assert videoalign_accuracy_with_ties([0, 1], [0.5, 0.5]) == (1.0, 0.5)
    # the order of the group decides it: decided pair first -> k = 1: Tm 1, Th 1 = 0; k = 2: 1/2
    assert videoalign_accuracy_with_ties([1, 0], [0.5, 0.5]) == (0.5, 0.5)


def test_other_conventions_by_hand():
    p = FigureParams(tie_threshold=0.02)
    # videoscore: h [1, -1, 0, 0], d [0.3, 0.2, 0.5, 0.49]: right, wrong (d > 0 for B),
    # tie at exactly 0.5 wrong (strict <), tie at 0.49 right -> 2/4
    h, d = np.array([1, -1, 0, 0]), np.array([0.3, 0.2, 0.5, 0.49])
    assert CONVENTIONS["videoscore"].figures(h, d, p) == {"acc_tie_threshold": 0.5}
    assert CONVENTIONS[CORRECT].figures(h, d, p)["acc_tie_threshold"] == 0.25  # both ties > 0.02
    # unifiedreward: h [1, 1, 1, 0], d [0.2, 0.0, -0.1, 0.0]: right, wrong (0 = "same"), wrong;
    # the tie dropped -> 1/3
    h, d = np.array([1, 1, 1, 0]), np.array([0.2, 0.0, -0.1, 0.0])
    assert CONVENTIONS["unifiedreward"].figures(h, d, p)["acc_no_ties"] == pytest.approx(1 / 3)
    # genai-bench: h [1, 0, 0, 1], d [0.2, 0.0, 0.1, 0.0], A=B only at d = 0: right, right
    # (A=B on a tie / bothbad), wrong (A>B on a tie), wrong (A=B on a decided pair) -> 2/4.
    # Calibrated on the same: eps 0.1 -> C 1, Thm 2, Tm 1 = 3/4.
    h, d = np.array([1, 0, 0, 1]), np.array([0.2, 0.0, 0.1, 0.0])
    assert CONVENTIONS["genai-bench"].figures(h, d, p) == {"acc_with_ties": 0.5, "epsilon": 0.0}
    assert accuracy_with_ties(h, d) == (0.75, 0.1)
    assert CONVENTIONS["genai-bench"].figures(h, d, FigureParams(epsilon=0.1))[
        "acc_with_ties"] == 0.75


def test_names_and_errors():
    assert {c.value for c in ConventionChoice} - {"all"} == set(CONVENTIONS)
    with pytest.raises(ValueError, match="--convention: 'vbench' is not one of"):
        convention("vbench")
    with pytest.raises(ValueError, match="--tie-threshold: must be >= 0"):
        FigureParams(tie_threshold=-1)
    with pytest.raises(ValueError, match="--epsilon"):
        FigureParams(epsilon=float("nan"))


# Five pairs worked by hand (as in test_metrics.py): labels and diffs score(A) - score(B)
H5 = np.array([1, 1, -1, 0, 0])
M5 = np.array([0.8, -0.2, -0.5, 0.1, 0.3])


def test_each_convention_names_its_figures():
    """The whole figure dicts on H5, M5. Correct: decided pairs 0.8, -0.5 right, -0.2 wrong ->
    acc_no_ties 2/3; |diff| < 0.2 right for ties -> 0.1 only: 3/5; calibrated eps 0.3 ties
    -0.2 (Tm), 0.1, 0.3 (Thm) -> (2 + 2) / 5 = 0.8, tau 2 * 0.8 - 1 = 0.6. VideoAlign, |diff|
    order 0.1 (tie), 0.2 (wrong), 0.3 (tie), 0.5, 0.8 (right): first k ties, k = 1..5 ->
    3, 3, 4, 3, 2 right -> 0.8 at k = 3, epsilon 0.3. A given epsilon 0.5 ties all but 0.8:
    Thm 2 + C 1 -> 3/5, tau 1/5."""
    p = FigureParams(tie_threshold=0.2)
    approx = pytest.approx
    assert CONVENTIONS[CORRECT].figures(H5, M5, p) == {
        "acc_no_ties": approx(2 / 3), "acc_tie_threshold": approx(0.6),
        "acc_with_ties": approx(0.8), "tau_with_ties": approx(0.6), "epsilon": approx(0.3)}
    assert CONVENTIONS[CORRECT].figures(H5, M5, FigureParams(0.2, epsilon=0.5)) == {
        "acc_no_ties": approx(2 / 3), "acc_tie_threshold": approx(0.6),
        "acc_with_ties": approx(0.6), "tau_with_ties": approx(0.2), "epsilon": 0.5}
    assert CONVENTIONS["videoalign"].figures(H5, M5, p) == {
        "acc_with_ties": approx(0.8), "tau_with_ties": approx(0.6), "epsilon": approx(0.3)}


def test_videoalign_edge_cases_and_zero_knobs():
    """Empty: nan, nan. One decided pair: the only state it scores (k = 1) makes it a model
    tie, so Tm 1 -> 0.0 at its |diff| 0.5. Zero knobs are valid; the error lists every name."""
    acc, eps = videoalign_accuracy_with_ties([], [])
    assert math.isnan(acc) and math.isnan(eps)
    assert videoalign_accuracy_with_ties([1], [0.5]) == (0.0, 0.5)
    assert FigureParams(tie_threshold=0.0, epsilon=0.0) == FigureParams(0.0, 0.0)
    with pytest.raises(ValueError) as err:
        convention("nope")
    assert str(err.value) == ("--convention: 'nope' is not one of cleverward, videoalign, "
                              "videoscore, unifiedreward, genai-bench")
