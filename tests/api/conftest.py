"""Models shared by the API tests: the shipped default and a tiny random CLIP checkpoint."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def default_model():
    from cleverward import RewardModel

    return RewardModel.from_pretrained("default")


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory):
    from tests.api.tiny import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def tiny_model(tiny_ckpt):
    from cleverward import RewardModel

    return RewardModel.from_pretrained(tiny_ckpt)
