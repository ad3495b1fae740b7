"""Metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cleverward.train.metrics import (
    accuracy_with_ties,
    kendall,
    kendall_tau_with_ties,
    pairwise_accuracy,
    pairwise_accuracy_tie_threshold,
    pearson,
    rankdata,
    spearman,
    tie_stats,
)

# Five pairs: labels (+1 A better, -1 B better, 0 tie) and model diffs score(A) - score(B).
H = [1, 1, -1, 0, 0]
M = [0.8, -0.2, -0.5, 0.1, 0.3]


def test_accuracy_ties_excluded():
    # decided pairs: (1, 0.8) right, (1, -0.2) wrong, (-1, -0.5) right -> 2/3
    assert pairwise_accuracy(H, M) == pytest.approx(2 / 3)
    assert pairwise_accuracy([1, -1], [0.0, 0.0]) == 0.0  # a zero difference decides nothing
    assert math.isnan(pairwise_accuracy([0, 0], [1, 2]))


def test_accuracy_ties_under_threshold():
    # threshold 0.5: both ties (0.1, 0.3) right + 2 decided right -> 4/5
    assert pairwise_accuracy_tie_threshold(H, M, threshold=0.5) == pytest.approx(0.8)
    # threshold 0.2: only the 0.1 tie is right -> 3/5
    assert pairwise_accuracy_tie_threshold(H, M, threshold=0.2) == pytest.approx(0.6)


def test_tie_stats_at_an_epsilon():
    # eps 0.3: model ties at |m| <= 0.3 -> -0.2 (human decided: Tm), 0.1 and 0.3 (Thm);
    # 0.8 and -0.5 concordant
    assert tie_stats(H, M, 0.3) == tie_stats(H, M, 0.3).__class__(C=2, D=0, Th=0, Tm=1, Thm=2)
    s = tie_stats(H, M, -1)  # the model never ties
    assert (s.C, s.D, s.Th, s.Tm, s.Thm) == (2, 1, 2, 0, 0)


def test_accuracy_with_ties_calibrated():
    # eps over {0 (no tie), 0.1, 0.2, 0.3, 0.5, 0.8}: acc = 2/5, 3/5, 3/5, 4/5, 3/5, 2/5
    # -> 0.8 at eps 0.3
    acc, eps = accuracy_with_ties(H, M)
    assert (acc, eps) == (pytest.approx(0.8), pytest.approx(0.3))
    tau, _ = kendall_tau_with_ties(H, M)
    assert tau == pytest.approx(0.6)  # (C + Thm - D - Th - Tm) / N = (2 + 2 - 0 - 0 - 1) / 5
    assert accuracy_with_ties(H, M, epsilon=0.5) == (pytest.approx(0.6), 0.5)


def test_calibration_with_repeated_differences():
    # |m| = 0.5 twice: a tie (right only as a model tie) and a decided pair (right only if not)
    acc, eps = accuracy_with_ties([0, 1, 1], [0.5, -0.5, 2.0])
    # eps 0: Th 1, D 1, C 1 -> 1/3; eps 0.5: Thm 1, Tm 1, C 1 -> 2/3; eps 2.0: Thm 1, Tm 2 -> 1/3
    assert (acc, eps) == (pytest.approx(2 / 3), 0.5)


def test_calibration_never_splits_equal_differences():
    # |m| = 0.5 for a human tie and a concordant pair, then a tie at 0.9. Real thresholds:
    # eps 0: C 1, Th 2 -> 1/3; eps 0.5: Thm 1, Tm 1, Th 1 -> 1/3; eps 0.9: Thm 2, Tm 1 -> 2/3.
    # Tying only the first 0.5 pair (no epsilon does that) would give Thm 1, C 1, Th 1 = 2/3 at
    # 0.5: a splitting implementation reports eps 0.5; the correct one 0.9.
    assert accuracy_with_ties([0, 1, 0], [0.5, 0.5, 0.9]) == (pytest.approx(2 / 3), 0.9)
    # and one where the figure itself changes: h [0, 1], m [0.5, 0.5]: eps 0 -> Th 1, C 1;
    # eps 0.5 -> Thm 1, Tm 1: 1/2 either way (splitting would claim Thm 1 + C 1 = 1.0)
    assert accuracy_with_ties([0, 1], [0.5, 0.5]) == (0.5, 0.0)
    # the no-tie state wins on its own: h [1, 1, 0], m [0.1, 0.2, 0.3] -> C 2, Th 1 at eps 0
    assert accuracy_with_ties([1, 1, 0], [0.1, 0.2, 0.3]) == (pytest.approx(2 / 3), 0.0)


def test_tie_threshold_boundary_is_strict():
    # a tie exactly at the threshold is wrong (|d| < threshold), just under is right
    assert pairwise_accuracy_tie_threshold([0, 0], [0.5, -0.4999], threshold=0.5) == 0.5
    assert pairwise_accuracy_tie_threshold([0], [0.0], threshold=0.0) == 0.0
    # calibrated epsilon is inclusive: |d| <= eps ties, so eps = 0.5 ties the 0.5 pair
    assert tie_stats([0], [0.5], 0.5).Thm == 1 and tie_stats([0], [0.5], 0.4999).Th == 1


def test_rankdata_and_correlations():
    assert rankdata([10, 20, 20, 40]).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert rankdata([3, 1, 2]).tolist() == [3.0, 1.0, 2.0]
    assert spearman([1, 2, 3, 4], [10, 20, 20, 40]) == pytest.approx(3 / math.sqrt(10))
    assert pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(math.sqrt(27 / 28))
    assert spearman([1, 2, 3], [9, 5, 1]) == pytest.approx(-1.0)
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))
    # tau-b on (1,2,3,4) vs (1,3,2,4): 5 concordant, 1 discordant of 6 pairs -> 4/6
    assert kendall([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(2 / 3)
    # with a tie in y: (1,2,3) vs (1,1,2): nc 2, nd 0, ties only in y 1 ->
    # 2 / sqrt((3 - 0) * (3 - 1)) = 2 / sqrt(6)
    assert kendall([1, 2, 3], [1, 1, 2]) == pytest.approx(2 / math.sqrt(6))
    assert math.isnan(spearman([1], [2]))


def test_bad_inputs():
    with pytest.raises(ValueError, match="labels must be"):
        pairwise_accuracy([2], [1.0])
    with pytest.raises(ValueError, match="differ in length"):
        pairwise_accuracy([1, 1], [1.0])
    assert np.isnan(accuracy_with_ties([], [])[0])



def test_inputs_are_flattened_and_cast():
    """A (2, 1) column of labels given as floats and integer diffs come back as flat int64 and
    float64 vectors of 2 (the callers stack per-batch columns)."""
    from cleverward.train.metrics import _pair, as_arrays

    h, m = as_arrays([[1.0], [-1.0]], [[3], [-2]])
    assert (h.shape, h.dtype, m.shape, m.dtype) == ((2,), np.int64, (2,), np.float64)
    assert h.tolist() == [1, -1] and m.tolist() == [3.0, -2.0]
    x, y = _pair([[1], [2], [3]], [[2], [4], [7]])
    assert (x.shape, x.dtype, y.shape, y.dtype) == ((3,), np.float64, (3,), np.float64)
    # 2-D labels vs diffs: accuracy is over the 2 flattened pairs, 1 right -> 1/2
    assert pairwise_accuracy([[1], [1]], [[0.5], [-0.5]]) == 0.5
    with pytest.raises(ValueError, match="^labels must be"):
        as_arrays([2], [1.0])


def test_undefined_results_are_nan_without_a_warning():
    """Empty input, a constant side and fewer than 2 values are nan, and scipy is never asked
    (it would warn): the module promises a plain nan."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(pairwise_accuracy_tie_threshold([], []))
        for f in (pearson, spearman, kendall):
            assert math.isnan(f([1, 2, 3], [5, 5, 5]))  # y constant, x not
            assert math.isnan(f([5, 5, 5], [1, 2, 3]))  # x constant, y not
            assert math.isnan(f([1], [2]))
    with pytest.raises(ValueError, match="differ in length"):
        pearson([1, 2, 3], [1, 2])


def test_two_points_and_a_unit_spread_correlate():
    """Two points always lie on a line: x (1, 2) vs y (2, 4) rises, so PLCC = SRCC = KRCC = 1;
    reversed y (4, 2) gives -1. (x spans exactly 1: that is not a constant.)"""
    for f in (pearson, spearman, kendall):
        assert f([1, 2], [2, 4]) == pytest.approx(1.0)
        assert f([1, 2], [4, 2]) == pytest.approx(-1.0)


def test_tie_threshold_default_and_tau_with_a_given_epsilon():
    """Default threshold 0.5: ties at 0.1 and 0.3 right, decided 0.8 and -0.5 right, -0.2 wrong
    -> 4/5; ties at 0.4 (right) and -0.7 (wrong) -> 1/2. tau_eq at epsilon 0.5 on H, M: model
    ties 0.1, 0.3 (Thm 2), -0.2, -0.5 (Tm 2), 0.8 concordant -> acc 3/5, tau 2 * 3/5 - 1 = 1/5
    (calibrated would be 0.6 at 0.3)."""
    assert pairwise_accuracy_tie_threshold(H, M) == pytest.approx(0.8)
    assert pairwise_accuracy_tie_threshold([0, 0], [0.4, -0.7]) == 0.5  # 0.4 < 0.5 <= 0.7
    tau, eps = kendall_tau_with_ties(H, M, epsilon=0.5)
    assert (tau, eps) == (pytest.approx(0.2), 0.5)


def test_calibration_of_a_single_pair():
    """One decided pair, diff 0.5: candidates eps 0 (C 1 -> 1.0) and 0.5 (Tm 1 -> 0.0): 1.0 at 0;
    one human tie at diff 0.5: eps 0 (Th 1 -> 0) and 0.5 (Thm 1 -> 1.0): 1.0 at 0.5."""
    assert accuracy_with_ties([1], [0.5]) == (1.0, 0.0)
    assert accuracy_with_ties([0], [0.5]) == (1.0, 0.5)
