"""Reports (`info`, `--backend auto`) are derived from where the head's tensors are, by the
dispatch's own predicate; the install profile is named from what is installed."""

from __future__ import annotations

import json

import pytest
import torch

from cleverward.engine import environment
from cleverward.engine.backends import head_weight
from cleverward.engine.reward_head import RewardHead, RewardHeadConfig
from cleverward.kernels import fused_reward
from cleverward.kernels.fused_reward import head_path


def test_the_report_follows_the_tensor_device_and_matches_what_runs(monkeypatch):
    head = RewardHead(RewardHeadConfig(video_dim=12, text_dim=10, embed_dim=16, num_scores=3))
    weight = head.video_proj.weight
    report = head_path(weight)
    assert report == f"torch reference (BLAS) on {weight.device}" and weight.device.type == "cpu"
    # ...and it is true: scoring with these tensors never reaches the Triton wrapper.
    calls = []
    monkeypatch.setattr(fused_reward, "reward_matrix_triton", lambda *a, **k: calls.append(1))
    head.score_matrix(torch.randn(5, 12), torch.randn(4, 10))
    assert calls == []


def test_the_device_is_read_from_the_tensor_not_from_the_machine():
    """A tensor on the meta device is reported on meta: nothing is assumed from CUDA's presence."""
    assert head_path(torch.empty(3, 2, device="meta")) == "torch reference (BLAS) on meta"


def test_head_weight_is_the_models_own_parameter():
    head = RewardHead(RewardHeadConfig(video_dim=4, text_dim=4, embed_dim=8, num_scores=1))
    model = type("M", (), {"head": head})()
    assert head_weight(model) is head.video_proj.weight
    assert head_weight().device == environment.default_device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU report")
def test_info_json_reports_booleans_and_the_cpu_head():
    from typer.testing import CliRunner

    from cleverward.cli.app import app

    res = CliRunner().invoke(app, ["info", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["head"] == "torch reference (BLAS) on cpu"
    assert report["devices"]["run device"] == "cpu"
    avail = report["available"]
    assert avail["cuda"] is False and avail["triton_head"] is False
    assert all(isinstance(v, bool) for k, v in avail.items() if k != "profile")
    assert avail["profile"] == environment.install_profile()[0]
    assert "Triton" not in report["backend auto"]


@pytest.mark.parametrize("installed, want", [
    ({"faiss-cpu", "onnxruntime"}, "cpu"),
    ({"faiss-gpu-cu12", "onnxruntime-gpu"}, "gpu"),
    ({"faiss-cpu", "onnxruntime-gpu"}, "mixed"),
    (set(), "incomplete"),
])
def test_install_profile_is_named_from_the_installed_builds(monkeypatch, installed, want):
    monkeypatch.setattr(environment, "version", lambda d: "1.0" if d in installed else None)
    profile, why = environment.install_profile()
    assert profile == want, why
    if want == "mixed":
        assert "faiss-cpu" in why and "onnxruntime-gpu" in why
