"""uniform_indices' contract beyond the worked index lists in test_decode.py: dtype and errors."""

import numpy as np
import pytest

from cleverward.engine.decode.sampling import uniform_indices


def test_indices_are_int64_for_array_indexing():
    """int64 (n,): a float array would fail as an index into a decoded clip."""
    idx = uniform_indices(10, 3)  # centres 5/3, 5, 25/3 -> [1, 5, 8]
    assert idx.dtype == np.int64 and idx.tolist() == [1, 5, 8]


@pytest.mark.parametrize("n", [0, -2])
def test_a_non_positive_count_is_named(n):
    with pytest.raises(ValueError, match=rf"^n must be >= 1, got {n}$"):
        uniform_indices(10, n)


def test_an_empty_clip_is_named():
    with pytest.raises(ValueError, match=r"^clip has no frames \(num_frames=0\)$"):
        uniform_indices(0, 4)
