"""`--device`: the CPU run (`--device cpu` and `auto`) gives the rows of the unchanged per-stage
code to 1e-5, through the CLI and the Python API; a device the machine lacks is refused before
any work, by option and value."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from tests.cli.run import run_cli

TOL = 1e-5
PROMPTS = ["a white square moving right", "a red ball bouncing", "only for a"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, clips_dir):
    root = tmp_path_factory.mktemp("device")
    videos = root / "videos"
    videos.mkdir()
    for name in ("h264_long.mp4", "h264_short.mp4", "vp9.webm"):
        shutil.copy(clips_dir / name, videos / name)
    prompts = root / "p.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS))
    return videos, prompts


@pytest.fixture(scope="module")
def reference(corpus):
    """(video, prompt) -> score by the stages' own code, untouched by the device path: the
    encoder's numpy encode (ONNX Runtime MobileNetV2 + numpy ConSE), MiniLM on the host, the
    head's fp32 torch definition."""
    from cleverward.engine.decode import decode_clip
    from cleverward.engine.model import RewardModel
    from cleverward.kernels.fused_reward import reward_matrix_ref

    videos, _ = corpus
    model = RewardModel.from_pretrained("default")
    cfg = model.decode_config()
    names = sorted(p.name for p in videos.iterdir())
    vec = model.video_encoder.encode([decode_clip(str(videos / n), cfg) for n in names])
    text = model.text_encoder.encode(PROMPTS)
    scores = reward_matrix_ref(torch.from_numpy(vec), torch.from_numpy(text),
                               *model.head._params()).detach().numpy()  # (V, P, K)
    return {(n, p): scores[i, j, 0] for i, n in enumerate(names) for j, p in enumerate(PROMPTS)}


def _rows(path) -> dict:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows and all(r["error"] is None for r in rows), rows
    return {(r["video"], r["prompt"]): r["score"] for r in rows}


def _close(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    worst = max(abs(got[k] - want[k]) for k in want)
    assert worst <= TOL, f"max |delta| {worst:.2e} > {TOL}"


@pytest.mark.parametrize("args", [["--device", "cpu", "--backend", "torch"],
                                  ["--device", "cpu"], ["--device", "auto"], []])
def test_cpu_and_auto_rows_equal_the_unchanged_stages(tmp_path, corpus, reference, args):
    if torch.cuda.is_available() and "cpu" not in args:
        pytest.skip("auto is a GPU here; the GPU run is tests/engine/test_device_probe.py's")
    videos, prompts = corpus
    out = tmp_path / "scores.jsonl"
    res = run_cli("score-dir", videos, "--prompts", prompts, "--out", out, "--no-cache", "-q",
                  *args)
    assert res.exit_code == 0, res.output
    _close(_rows(out), reference)


def test_the_python_api_on_cpu_equals_the_unchanged_stages(corpus, reference):
    from cleverward.engine.model import RewardModel

    videos, _ = corpus
    model = RewardModel.from_pretrained("default", device="cpu")
    names = sorted(p.name for p in videos.iterdir())
    got = model.score_files([str(videos / n) for n in names], PROMPTS, all_pairs=True)
    assert got.errors == {}
    overall = got.scores["overall"].numpy()  # (V, P)
    _close({(n, p): float(overall[i, j]) for i, n in enumerate(names)
            for j, p in enumerate(PROMPTS)}, reference)
    # encode_videos (index build, training, bulk) is the same device path, on the host
    from cleverward.engine.decode import decode_clip

    clips = [decode_clip(str(videos / n), model.decode_config()) for n in names]
    np.testing.assert_allclose(model.encode_videos(clips), model.video_encoder.encode(clips),
                               atol=TOL, rtol=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without CUDA")
@pytest.mark.parametrize("command", [["score-dir", "{videos}", "--prompts", "{prompts}"],
                                     ["index", "build", "{videos}"],
                                     ["bench", "--quick"],
                                     ["eval", "--pairs", "{pairs}", "--model", "default"],
                                     ["train", "--pairs", "{pairs}", "--out", "{ckpt}"],
                                     ["serve", "--port", "0"]])
def test_a_cuda_device_without_cuda_fails_before_work(tmp_path, corpus, command):
    videos, prompts = corpus
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps({"prompt": "p", "chosen": "a.mp4", "rejected": "b.mp4"}) + "\n")
    args = [a.format(videos=videos, prompts=prompts, pairs=pairs, ckpt=tmp_path / "ckpt")
            for a in command]
    out = tmp_path / "never.jsonl"
    extra = ["--out", out] if command[0] == "score-dir" else []
    res = run_cli(*args, *extra, "--device", "cuda:1")
    assert res.exit_code == 2, res.output
    assert "--device cuda:1: CUDA is not available" in res.output
    assert "Traceback" not in res.output and not out.exists()
    assert not (tmp_path / "ckpt").exists()


def test_a_value_that_is_no_device_is_named(tmp_path, corpus):
    videos, prompts = corpus
    res = run_cli("score-dir", videos, "--prompts", prompts, "--out", tmp_path / "o.jsonl",
                  "--device", "gpu0")
    assert res.exit_code == 2
    assert "--device gpu0: not a device; give auto, cpu, cuda or cuda:N" in res.output
