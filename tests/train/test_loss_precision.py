"""Losses keep their inputs' precision: tau and the targets follow the rewards' dtype.

References are Python floats (double precision) from the closed forms in losses.py's
docstrings; a tau rounded to float32 (0.1 -> 0.10000000149) moves them by ~1e-9, far more than
the 1e-12 allowed here.
"""

import math

import pytest
import torch

from cleverward.train.losses import regression_loss, tie_aware_bt_loss, tie_probability

F64 = torch.float64


def test_tie_probability_default_tau_is_1():
    """P(tie) at d = 0 is (theta - 1) / (theta + 1) = tanh(tau / 2): tanh(0.5) = 0.4621172."""
    assert tie_probability(torch.tensor([0.0])).item() == pytest.approx(math.tanh(0.5), abs=1e-6)


def test_tie_probability_in_float64_with_a_float_tau():
    got = tie_probability(torch.tensor([0.0], dtype=F64), 0.1)
    assert got.dtype == F64
    assert got.item() == pytest.approx(math.tanh(0.05), abs=1e-12)


def test_tie_probability_of_integer_differences_is_float():
    """An int d is made float first; tau = 1.3 must stay 1.3 (not be cast to the int 1)."""
    got = tie_probability(torch.tensor([0]), 1.3)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(math.tanh(0.65), abs=1e-6)


def test_tie_aware_loss_in_float64_with_a_float_tau():
    """A decided pair at d = 0 pays -log sigmoid(-tau) = log(1 + e^tau); tau = 0.1."""
    zero = torch.zeros(1, dtype=F64)
    got = tie_aware_bt_loss(zero, zero, torch.tensor([False]), tau=0.1)
    assert got.dtype == F64
    assert got.item() == pytest.approx(math.log1p(math.exp(0.1)), abs=1e-12)


def test_regression_loss_takes_the_predictions_dtype():
    """float32 predictions against float64 targets: the loss is float32, (0.04 + 0.01) / 2."""
    got = regression_loss(torch.tensor([0.2, 0.9]), torch.tensor([0.0, 1.0], dtype=F64))
    assert got.dtype == torch.float32 and got.item() == pytest.approx(0.025)
