"""Each loss against the value worked out by hand in its docstring."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cleverward.train.losses import (
    bradley_terry_loss,
    normalise_scores,
    regression_loss,
    tie_aware_bt_loss,
    tie_probability,
)

T = torch.tensor


def test_bradley_terry_worked_values():
    assert bradley_terry_loss(T([0.5]), T([0.0])).item() == pytest.approx(0.4740770, abs=1e-6)
    assert bradley_terry_loss(T([0.5]), T([0.0]), scale=10.0, margin=2.0).item() == \
        pytest.approx(0.0485874, abs=1e-6)
    assert bradley_terry_loss(T([0.3, -0.2]), T([0.3, -0.2]), scale=7.0).item() == \
        pytest.approx(math.log(2), abs=1e-6)


def test_bradley_terry_mean_per_pair_margin_and_stability():
    # mean of log(1 + e^-0.5) and log(1 + e^0.5) (= 0.4740770 and 0.9740770)
    loss = bradley_terry_loss(T([0.5, 0.0]), T([0.0, 0.5]))
    assert loss.item() == pytest.approx((0.4740770 + 0.9740770) / 2, abs=1e-6)
    per_pair = bradley_terry_loss(T([0.5, 0.5]), T([0.0, 0.0]), margin=T([0.0, 0.5]))
    assert per_pair.item() == pytest.approx((0.4740770 + math.log(2)) / 2, abs=1e-6)
    far = bradley_terry_loss(T([-1.0]), T([1.0]), scale=100.0)
    assert far.item() == pytest.approx(200.0, rel=1e-6)  # finite, not inf


def test_rao_kupper_worked_values():
    tau = math.log(2)  # theta = 2
    zero = tie_aware_bt_loss(T([0.0, 0.0]), T([0.0, 0.0]), T([True, False]), tau=tau)
    assert zero.item() == pytest.approx(math.log(3), abs=1e-6)
    lead = tie_aware_bt_loss(T([math.log(2)]), T([0.0]), T([True]), tau=tau)
    assert lead.item() == pytest.approx(-math.log(0.3), abs=1e-6)
    decided = tie_aware_bt_loss(T([math.log(2)]), T([0.0]), T([False]), tau=tau)
    assert decided.item() == pytest.approx(math.log(2), abs=1e-6)  # -log sigmoid(0)


def test_rao_kupper_probabilities_sum_to_one_and_are_stable():
    d = torch.linspace(-30, 30, 61, dtype=torch.float64)
    tau = 1.3
    total = torch.sigmoid(d - tau) + torch.sigmoid(-d - tau) + tie_probability(d, tau).double()
    assert torch.allclose(total, torch.ones_like(total), atol=1e-6)
    # a tie at d = 10 * 200 = 2000, tau = 1: P(tie) -> (theta^2 - 1) / (theta x) for large
    # x = e^d, so the loss is tau + d - log(e^2 - 1) = 2001 - 1.8545865 = 1999.1454135, finite
    big = tie_aware_bt_loss(T([100.0]), T([-100.0]), T([True]), scale=10.0)
    assert big.item() == pytest.approx(1999.1454135, abs=1e-3)


def test_ties_pull_rewards_together():
    r_a = T([0.4], requires_grad=True)
    r_b = T([0.1], requires_grad=True)
    tie_aware_bt_loss(r_a, r_b, T([True]), scale=5.0, tau=1.0).backward()
    assert r_a.grad.item() > 0 > r_b.grad.item()  # descent lowers r_a, raises r_b
    with pytest.raises(ValueError, match="tau must be > 0"):
        tie_aware_bt_loss(r_a, r_b, T([True]), tau=0.0)


def test_learnable_tau_gets_its_analytic_gradient():
    """A tie at d = 0 pays log((e^tau + 1) / (e^tau - 1)), whose derivative is -1 / sinh(tau)
    = -0.8509181 at tau = 1; a decided pair at d = 0.2 pays softplus(tau - 0.2), derivative
    sigmoid(0.8) = 0.6899745. The mean's gradient: (-0.8509181 + 0.6899745) / 2 = -0.0804718."""
    tau = T(1.0, requires_grad=True)
    tie_aware_bt_loss(T([0.0, 0.2]), T([0.0, 0.0]), T([True, False]), tau=tau).backward()
    assert tau.grad.item() == pytest.approx(-0.0804718, abs=1e-6)


def test_regression_worked_value():
    assert regression_loss(T([0.2, 0.9]), T([0.0, 1.0])).item() == pytest.approx(0.025)


def test_normalise_scores():
    assert normalise_scores(np.array([1.0, 2.5, 4.0]), 1.0, 4.0).tolist() == [0.0, 0.5, 1.0]
    assert normalise_scores(T([10.0, 20.0, 30.0])).tolist() == [0.0, 0.5, 1.0]  # observed
    assert normalise_scores(np.array([3.0, 3.0])).tolist() == [0.5, 0.5]
    assert normalise_scores(2.0, 1.0, 5.0) == 0.25
    with pytest.raises(ValueError, match="needs lo and hi"):
        normalise_scores(2.0)
