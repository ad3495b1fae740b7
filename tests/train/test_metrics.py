"""Metrics against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cleverward.train.metrics import (
    accuracy_with_ties,
    evaluate_pairs,
    evaluate_scores,
    format_report,
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
    # eps over {0.1, 0.2, 0.3, 0.5, 0.8}: acc = 3/5, 3/5, 4/5, 3/5, 2/5 -> 0.8 at eps 0.3
    acc, eps = accuracy_with_ties(H, M)
    assert (acc, eps) == (pytest.approx(0.8), pytest.approx(0.3))
    tau, _ = kendall_tau_with_ties(H, M)
    assert tau == pytest.approx(0.6)  # (C + Thm - D - Th - Tm) / N = (2 + 2 - 0 - 0 - 1) / 5
    assert accuracy_with_ties(H, M, epsilon=0.5) == (pytest.approx(0.6), 0.5)


def test_calibration_with_repeated_differences():
    # |m| = 0.5 twice: a tie (right only as a model tie) and a decided pair (right only if not)
    acc, eps = accuracy_with_ties([0, 1, 1], [0.5, -0.5, 2.0])
    # eps 0.5: Thm 1, Tm 1, C 1 -> 2/3; eps 2.0: Thm 1, Tm 2 -> 1/3
    assert (acc, eps) == (pytest.approx(2 / 3), 0.5)


def test_rankdata_and_correlations():
    assert rankdata([10, 20, 20, 40]).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert rankdata([3, 1, 2]).tolist() == [3.0, 1.0, 2.0]
    assert spearman([1, 2, 3, 4], [10, 20, 20, 40]) == pytest.approx(3 / math.sqrt(10))
    assert pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(math.sqrt(27 / 28))
    assert spearman([1, 2, 3], [9, 5, 1]) == pytest.approx(-1.0)
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))


def _rows():
    def row(dataset, dimension, tie=False, kind="vote"):
        return {"dataset": dataset, "dimension": dimension, "tie": tie, "kind": kind}
    return [row("gb", "overall"), row("gb", "overall"), row("gb", "overall", tie=True),
            row("vf", "dynamism", kind="score"), row("vf", "textual_alignment", kind="negative")]


def test_evaluate_pairs_groups_by_dataset_and_dimension():
    report = evaluate_pairs(_rows(), [0.4, -0.1, 0.05, 1.0, 0.2], tie_threshold=0.1)
    gb = report["gb"]["overall"]
    assert (gb["n"], gb["ties"]) == (3, 1)
    assert gb["acc_no_ties"] == pytest.approx(0.5)
    assert gb["acc_tie_threshold"] == pytest.approx(2 / 3)  # 0.4 right, -0.1 wrong, 0.05 tie
    assert set(report) == {"all", "gb", "vf"}
    assert set(report["vf"]) == {"dynamism", "textual_alignment[negative]"}
    assert report["all"]["overall"]["n"] == 3
    text = format_report(report)
    assert text.splitlines()[0].split()[:4] == ["dataset", "dimension", "n", "ties"]
    assert "textual_alignment[negative]" in text
    with pytest.raises(ValueError, match="5 rows but 2 diffs"):
        evaluate_pairs(_rows(), [1, 2])


def test_evaluate_scores_groups():
    report = evaluate_scores(["t", "t", "t", "u", "u"], ["overall"] * 5,
                             human=[1, 2, 3, 5, 4], predicted=[0.1, 0.2, 0.4, 0.3, 0.9])
    assert report["t"]["overall"]["srcc"] == pytest.approx(1.0)
    assert report["u"]["overall"]["srcc"] == pytest.approx(-1.0)
    assert report["t"]["overall"]["n"] == 3
    assert "srcc" in format_report(report)


def test_bad_inputs():
    with pytest.raises(ValueError, match="labels must be"):
        pairwise_accuracy([2], [1.0])
    with pytest.raises(ValueError, match="differ in length"):
        pairwise_accuracy([1, 1], [1.0])
    assert np.isnan(accuracy_with_ties([], [])[0])
