"""Backends through the CLI: onnx and torch agree on real clips, TensorRT fails clearly here,
`export` writes verified graphs, and `auto` explains itself."""

from __future__ import annotations

import importlib.util
import json
import shutil
import time

import pytest

from tests.cli.run import run_cli as _run

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
no_tensorrt = pytest.mark.skipif(HAS_TENSORRT, reason="tensorrt is installed here: the "
                                                      "'fails clearly' path is not reachable")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, clips_dir):
    root = tmp_path_factory.mktemp("backends")
    videos = root / "videos"
    videos.mkdir()
    for name in ("h264_long.mp4", "vp9.webm", "h264_short.mp4"):
        shutil.copy(clips_dir / name, videos / name)
    prompts = root / "p.jsonl"
    prompts.write_text("\n".join(json.dumps({"prompt": p}) for p in (
        "a white square moving right", "a dog running on a beach at sunset",
        "an abstract gradient")) + "\n")
    return videos, prompts


def _rows(path) -> dict:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {(r["video"], r["prompt"]): r for r in rows}


@pytest.mark.slow  # ~16 s: exports and scores through both backends
def test_onnx_and_torch_backends_agree(tmp_path, corpus):
    videos, prompts = corpus
    out = {}
    for backend in ("onnx", "torch"):
        out[backend] = tmp_path / f"{backend}.jsonl"
        res = _run("score-dir", videos, "--prompts", prompts, "--out", out[backend],
                   "--backend", backend, "--no-cache", "-q")
        assert res.exit_code == 0, res.output
    onnx, torch_ = _rows(out["onnx"]), _rows(out["torch"])
    assert set(onnx) == set(torch_) and len(onnx) == 9
    for key, row in onnx.items():
        ref = torch_[key]
        assert row["error"] is None and ref["error"] is None
        assert abs(row["score"] - ref["score"]) <= 1e-4, key
        for dim, value in row["dimensions"].items():
            assert abs(value - ref["dimensions"][dim]) <= 1e-4, (key, dim)


def test_compiled_model_keeps_the_model_api():
    from cleverward.engine.model import RewardModel

    model = RewardModel.from_pretrained("default")
    assert model.with_backend("torch") is model
    fast = model.with_backend("onnx")  # the export is cached by the test above (same session)
    assert fast.backend == "onnx" and fast.with_backend("torch") is model
    assert fast.fingerprint() == model.fingerprint()
    assert fast.text_encoder.fingerprint() == model.text_encoder.fingerprint()
    assert fast.decode_config().key() == model.decode_config().key()


@no_tensorrt
def test_backend_tensorrt_fails_at_once(tmp_path, corpus):
    videos, prompts = corpus
    start = time.perf_counter()
    res = _run("score-dir", videos, "--prompts", prompts, "--out", tmp_path / "s.jsonl",
               "--backend", "tensorrt")
    assert res.exit_code == 2
    assert "tensorrt" in res.stderr and "--backend onnx" in res.stderr
    assert not (tmp_path / "s.jsonl").exists()  # nothing was scored
    assert time.perf_counter() - start < 5


@no_tensorrt
def test_export_tensorrt_fails_at_once(tmp_path):
    res = _run("export", "--format", "tensorrt", "--out", tmp_path / "trt")
    assert res.exit_code == 2
    assert "tensorrt" in res.stderr and "--format onnx" in res.stderr
    assert not (tmp_path / "trt").exists()  # failed before loading or exporting anything


def test_export_onnx_writes_graphs_and_manifest(tmp_path):
    from cleverward.engine.export import load_manifest

    out = tmp_path / "onnx"
    # the text encoder's export is covered in tests/engine (and is the slow one): head + frames
    res = _run("export", "--format", "onnx", "--out", out, "--components", "head,frame_encoder")
    assert res.exit_code == 0, res.output
    manifest = load_manifest(out)  # re-hashes every file
    assert set(manifest.components) == {"head", "frame_encoder"}
    assert (out / "head.onnx").is_file() and (out / "frame_encoder.onnx").is_file()
    assert manifest.source["model"] == "default" and manifest.exporter["opset"] == 20
    assert "manifest.json" in res.stdout and "head.onnx" in res.stdout


def test_export_rejects_unknown_format_and_component(tmp_path):
    assert _run("export", "--format", "tflite", "--out", tmp_path).exit_code == 2
    res = _run("export", "--out", tmp_path, "--components", "head,bogus")
    assert res.exit_code == 2 and "bogus" in res.stderr


def test_auto_explains_its_choice_and_follows_a_local_measurement(tmp_path, monkeypatch):
    from cleverward.engine.backends import choose_backend, record_timings
    from cleverward.engine.environment import cuda_available

    if cuda_available():
        pytest.skip("on CUDA auto picks TensorRT or torch without timing the CPU backends")
    monkeypatch.setenv("CLEVERWARD_CACHE", str(tmp_path))
    backend, why = choose_backend("auto")  # no local record: the reference measurement
    assert backend == "onnx" and "reference measurement" in why and "ms" in why
    record_timings({"text64_s": 0.1, "head_s": 0.01}, {"text64_s": 0.3, "head_s": 0.01})
    backend, why = choose_backend("auto")
    assert backend == "torch" and "measured on this machine" in why
    res = _run("info", "--json")
    assert res.exit_code == 0 and "auto: torch" in json.loads(res.stdout)["backend auto"]


def test_a_text_encoder_with_no_graph_keeps_auto_on_torch():
    from types import SimpleNamespace

    from cleverward.engine.backends import BackendUnavailable, choose_backend
    from cleverward.engine.environment import cuda_available

    if cuda_available():
        pytest.skip("on CUDA auto does not consider ONNX Runtime")

    class Opaque:
        name = "opaque"

    model = SimpleNamespace(text_encoder=Opaque())
    backend, why = choose_backend("auto", model)
    assert backend == "torch" and "opaque" in why
    with pytest.raises(BackendUnavailable, match="--backend torch"):
        choose_backend("onnx", model)
