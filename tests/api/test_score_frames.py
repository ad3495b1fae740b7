"""RewardModel.score_frames / score_files agree with score-dir on a real clip, on tensors or
arrays, any layout and size; results are named tensors on the input's device."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from cleverward.engine.decode import decode_clip
from cleverward.engine.dimensions import CANONICAL_DIMENSIONS, SCORE_NAMES
from cleverward.engine.frames_api import ScoreOptions
from tests.cli.run import run_cli

PROMPTS = ["a white square moving right over a gradient", "a bowl of soup on a table"]


@pytest.fixture(scope="module")
def scored(tmp_path_factory, clips_dir):
    """score-dir's rows for one real H.264 clip (48 frames, 96 x 128) and two prompts."""
    root = tmp_path_factory.mktemp("scored")
    videos = root / "videos"
    videos.mkdir()
    shutil.copy(clips_dir / "h264_long.mp4", videos / "a.mp4")
    prompts = root / "p.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS))
    out = root / "s.jsonl"
    res = run_cli("score-dir", videos, "--prompts", prompts, "--out", out, "--no-cache", "-q")
    assert res.exit_code == 0, res.output
    rows = {r["prompt"]: r for r in map(json.loads, out.read_text().splitlines())}
    expected = np.array([[rows[p]["score"], *(rows[p]["dimensions"][d]
                                              for d in CANONICAL_DIMENSIONS)] for p in PROMPTS])
    return videos / "a.mp4", expected  # (P, K), rounded to 6 decimals by the writer


def _matrix(scores: dict) -> np.ndarray:
    """{name: (B,)} -> (B, K) in SCORE_NAMES order."""
    assert list(scores) == list(SCORE_NAMES)
    return torch.stack([scores[n] for n in SCORE_NAMES], dim=-1).numpy()


def _all_frames_at(path, model) -> np.ndarray:
    """Every frame of the clip, decoded and resized as score-dir's PyAV decoder does."""
    import av

    from cleverward.engine.decode.pyav_decoder import _to_rgb

    cfg = model.decode_config()
    with av.open(str(path)) as container:
        return np.stack([_to_rgb(f, cfg) for f in container.decode(video=0)])  # (T, H, W, 3)


@pytest.mark.slow
def test_decoded_frames_score_as_score_dir(default_model, scored):
    path, expected = scored
    frames = decode_clip(str(path), default_model.decode_config())  # (8, 224, 224, 3)
    got = default_model.score_frames(np.stack([frames, frames]), PROMPTS)
    np.testing.assert_allclose(_matrix(got), expected, atol=1e-5, rtol=0)


def test_all_frames_sampled_here_score_as_score_dir(default_model, scored):
    """T = 48 frames in: the sampling happens in score_frames, with the decoders' indices."""
    path, expected = scored
    clip = torch.from_numpy(_all_frames_at(path, default_model))
    assert clip.shape[0] == 48
    got = default_model.score_frames(clip[None].expand(2, -1, -1, -1, -1), PROMPTS)
    np.testing.assert_allclose(_matrix(got), expected, atol=1e-5, rtol=0)


def test_float_channels_first_tensors_take_the_torch_path_and_agree(default_model, scored):
    """Float frames in [0, 1], (B, T, 3, H, W): the MobileNet torch twin instead of ONNX
    Runtime, still within 1e-5 of score-dir."""
    path, expected = scored
    clip = torch.from_numpy(_all_frames_at(path, default_model)).permute(0, 3, 1, 2) / 255.0
    got = default_model.score_frames(clip[None].repeat(2, 1, 1, 1, 1), PROMPTS)
    np.testing.assert_allclose(_matrix(got), expected, atol=1e-5, rtol=0)


def test_score_files_decodes_as_score_dir_and_survives_a_bad_file(default_model, scored,
                                                                  tmp_path):
    path, expected = scored
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(b"\x00garbage" * 64)
    result = default_model.score_files([path, bad], PROMPTS, all_pairs=True)
    got = torch.stack([result.scores[n] for n in SCORE_NAMES], dim=-1)  # (2, P, K)
    np.testing.assert_allclose(got[0].numpy(), expected, atol=1e-5, rtol=0)
    assert torch.isnan(got[1]).all()
    assert list(result.errors) == [str(bad)] and "not a readable video" in result.errors[str(bad)]


def test_any_size_and_all_pairs(default_model):
    """256 x 256 frames (a raw ONNX Runtime INVALID_ARGUMENT before): scaled and cropped first;
    all_pairs gives (B, P) whose diagonal is the row-aligned result."""
    rng = np.random.default_rng(0)
    frames = torch.from_numpy(rng.integers(0, 256, (2, 5, 256, 256, 3), dtype=np.uint8))
    rows = default_model.score_frames(frames, PROMPTS)
    grid = default_model.score_frames(frames, PROMPTS, all_pairs=True)
    assert rows["overall"].shape == (2,) and grid["overall"].shape == (2, 2)
    assert isinstance(rows["overall"], torch.Tensor) and rows["overall"].device.type == "cpu"
    for name in SCORE_NAMES:
        torch.testing.assert_close(torch.diagonal(grid[name]), rows[name], atol=1e-6, rtol=0)
    assert not torch.equal(grid["overall"][:, 0], grid["overall"][:, 1])  # prompts matter


def test_repeatable_bit_for_bit_and_independent_of_the_memory_budget(tiny_model):
    """Same input twice: identical scores; chunking by a tiny budget (one clip a chunk)
    changes nothing but the batching."""
    rng = np.random.default_rng(3)
    frames = torch.from_numpy(rng.random((5, 6, 40, 48, 3), np.float32))
    prompts = ["a red cat", "car", "a dog running on the beach", "car", "a red cat"]
    a = tiny_model.score_frames(frames, prompts)
    b = tiny_model.score_frames(frames, prompts)
    assert all(torch.equal(a[n], b[n]) for n in SCORE_NAMES)
    assert tiny_model.frames_scorer.chunk_size(ScoreOptions(memory_budget_mb=1e-3)) == 1
    c = tiny_model.score_frames(frames, prompts, memory_budget_mb=1e-3)
    for n in SCORE_NAMES:
        torch.testing.assert_close(c[n], a[n], atol=1e-6, rtol=0)


@pytest.mark.parametrize(("call", "words"), [
    (lambda m: m.score_frames(torch.zeros(2, 8, 32, 32, 3), ["one"]),
     ["prompts", "1 strings for 2 clips", "all_pairs=True"]),
    (lambda m: m.score_frames(torch.zeros(2, 8, 32, 32, 3), "a cat"), ["prompts", "list"]),
    (lambda m: m.score_frames(torch.zeros(8, 32, 32, 3), ["a cat"]), ["frames", "rank 4"]),
    (lambda m: m.score_frames(torch.zeros(1, 2, 32, 32, 3, dtype=torch.int16), ["a"]),
     ["frames", "int16"]),
    (lambda m: m.score_frames(torch.zeros(1, 2, 8, 8, 3), ["a"], temperature=0),
     ["temperature"]),
    (lambda m: m.score_frames(torch.zeros(1, 2, 8, 8, 3), ["ok \ud800"]),
     ["prompts", "item 0", "surrogate"]),
])
def test_errors_name_the_argument_and_what_is_expected(tiny_model, call, words):
    with pytest.raises((TypeError, ValueError)) as info:
        call(tiny_model)
    for word in words:
        assert word in str(info.value)
    assert "ambiguous" not in str(info.value) and "INVALID_ARGUMENT" not in str(info.value)


@pytest.mark.gpu
def test_cuda_tensors_are_scored_on_the_gpu(tiny_model):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    rng = np.random.default_rng(4)
    frames = torch.from_numpy(rng.random((3, 4, 40, 40, 3), np.float32))
    prompts = ["a red cat", "car", "a dog running on the beach"]
    cpu = tiny_model.score_frames(frames, prompts)
    gpu = tiny_model.score_frames(frames.cuda(), prompts)
    assert gpu["overall"].device.type == "cuda"
    for n in SCORE_NAMES:
        torch.testing.assert_close(gpu[n].cpu(), cpu[n], atol=1e-4, rtol=0)
