"""engine/device.py: --device parsed in one place, with errors that name the option and value;
host frames moved to the device (a view on CPU, nothing pinned there)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cleverward.engine import environment
from cleverward.engine.device import DeviceError, resolve_device, to_device


def test_cpu_and_auto_resolve_to_real_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device("auto") == environment.default_device()
    assert resolve_device(None) == environment.default_device()
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


@pytest.mark.parametrize("text", ["gpu", "cuda:x", "cuda:-1", "tpu:0", "", "cuda:0:1"])
def test_a_value_that_is_not_a_device_is_named(text):
    with pytest.raises(DeviceError, match=rf"^--device {text}: not a device; give auto, cpu"):
        resolve_device(text)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without CUDA")
@pytest.mark.parametrize("text", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_cuda_says_so(text):
    with pytest.raises(DeviceError, match=rf"^--device {text}: CUDA is not available"):
        resolve_device(text)


def test_the_option_name_is_the_callers():
    with pytest.raises(DeviceError, match=r"^device gpu: not a device"):
        resolve_device("gpu", option="device")


def test_a_gpu_index_past_the_machines_count_names_the_count(monkeypatch):
    """The count comes from torch.cuda.device_count(); set here to the one GPU of the issue's
    example, since this machine has none to count."""
    monkeypatch.setattr(environment, "cuda_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DeviceError, match=r"^--device cuda:3: this machine has 1 GPU \(cuda:0\)$"):
        resolve_device("cuda:3")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    with pytest.raises(DeviceError, match=r"this machine has 4 GPUs \(cuda:0\.\.cuda:3\)"):
        resolve_device("cuda:4")
    assert resolve_device("cuda:2") == torch.device("cuda", 2)


def test_to_device_on_cpu_is_a_view_not_a_copy():
    frames = np.arange(2 * 3 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 4, 3)
    x = to_device(frames, torch.device("cpu"))
    assert x.dtype == torch.uint8 and x.shape == frames.shape
    assert x.data_ptr() == frames.ctypes.data  # no copy, nothing pinned
    assert not x.is_pinned()
    t = torch.ones(3)
    assert to_device(t, torch.device("cpu")) is t


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_to_device_on_cuda_copies_through_pinned_memory():
    frames = np.random.default_rng(0).integers(0, 256, (2, 3, 8, 8, 3), dtype=np.uint8)
    x = to_device(frames, torch.device("cuda", 0))
    assert x.is_cuda
    torch.cuda.synchronize()
    assert np.array_equal(x.cpu().numpy(), frames)


def test_hf_clips_of_a_batch_go_through_one_forward_and_match_one_at_a_time(tmp_path):
    """A tiny random CLIP: the encoder's batched encode, clip by clip, and the device path
    (RewardModel.encode_videos: the tower's module on the run's device) agree."""
    from cleverward.engine.model import RewardModel
    from tests.api.tiny import FRAMES, make_tiny_checkpoint

    model = RewardModel.from_pretrained(make_tiny_checkpoint(tmp_path), device="cpu")
    encoder = model.video_encoder
    h, w = encoder.frame_size
    rng = np.random.default_rng(0)
    clips = [rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8) for n in (FRAMES, 2, FRAMES)]
    calls = []
    encoder.tower.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    batched = encoder.encode(clips)
    assert sorted(calls) == [1, 2]  # two shapes: two forwards, not three
    alone = np.concatenate([encoder.encode([c]) for c in clips])
    np.testing.assert_allclose(batched, alone, atol=1e-5, rtol=0)
    np.testing.assert_allclose(model.encode_videos(clips), alone, atol=1e-5, rtol=0)
