"""Score scales: one bound given and the other observed; the errors' exact wording."""

import numpy as np
import pytest

from cleverward.train.scales import normalise_scores, score_span


def test_only_lo_given_observes_hi():
    """[2, 4, 6] with lo = 0: hi is the observed 6, so (v - 0) / 6 = [1/3, 2/3, 1]."""
    got = normalise_scores(np.array([2.0, 4.0, 6.0]), lo=0.0)
    np.testing.assert_allclose(got, [1 / 3, 2 / 3, 1.0])


def test_only_hi_given_observes_lo():
    """[2, 4, 6] with hi = 10: lo is the observed 2, so (v - 2) / 8 = [0, 0.25, 0.5]."""
    got = normalise_scores(np.array([2.0, 4.0, 6.0]), hi=10.0)
    np.testing.assert_allclose(got, [0.0, 0.25, 0.5])


def test_a_single_value_without_bounds_is_an_error():
    with pytest.raises(ValueError, match=r"^normalise_scores: a single value needs lo and hi$"):
        normalise_scores(3.0, lo=1.0)


def test_score_span_declared_observed_and_empty():
    assert score_span([5, 7], declared=(1, 4)) == (1.0, 4.0)
    span = score_span(iter([3, -1, 2]))
    assert span == (-1.0, 3.0) and all(isinstance(x, float) for x in span)
    with pytest.raises(ValueError, match=r"^score_span: no values and no declared range$"):
        score_span([])
