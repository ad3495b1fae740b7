"""ONNX export: every graph against eager torch (HOUSE_STYLE 11), the manifest, the TensorRT build
logic that runs without TensorRT, and TensorRT vs ONNX Runtime where TensorRT is present.

Tolerances (fp32 on ONNX Runtime's CPU provider vs eager torch):
    reward head     atol 1e-5 on cosines in [-1, 1] (observed ~2e-7)
    text encoder    atol 1e-5 per component of unit vectors and cosine > 0.9999 to
                    sentence-transformers' own output (observed ~3e-7 / 1 - 1e-7)
    frame towers    atol 1e-4 + rtol 1e-3 (unnormalised conv features)
"""

from __future__ import annotations

import json

import numpy as np
import onnxruntime  # noqa: F401  (a core dependency: a broken install fails collection, never skips)
import onnxscript  # noqa: F401  (a core dependency: a broken install fails collection, never skips)
import pytest
import torch

from cleverward.engine.export import ExportError, load_manifest
from cleverward.engine.export.manifest import sha256_file
from cleverward.engine.export.onnx_export import (
    HEAD_ATOL,
    OPSET,
    TEXT_ATOL,
    export_frame_encoder,
    export_head,
)
from cleverward.engine.reward_head import RewardHead, RewardHeadConfig

SENTENCES = [
    "a corgi surfing a huge wave at sunset",
    "Two astronauts walk through a neon-lit Tokyo street in the rain, cinematic.",
    "x",
    "",
    "Café au lait, naïve résumé: ÀÉÎÕÜ çß",
    "日本語のテキストと English mixed together",
    "a slow dolly shot of a red sports car " * 60,  # ~480 tokens: truncated at 256
    "   leading and trailing spaces   ",
]


@pytest.fixture(scope="module")
def model():
    from cleverward.engine.model import RewardModel

    return RewardModel.from_pretrained("default")


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    """The runtime's export of the default model. Rooted where conftest's _isolated_cache points
    CLEVERWARD_CACHE, so score-dir --backend onnx in tests/cli reuses it (one export a session)."""
    from cleverward.engine.runtime import ensure_exported

    return ensure_exported(model, tmp_path_factory.getbasetemp() / "user-cache" / "onnx")


@pytest.fixture(scope="module")
def onnx_model(model, exported, tmp_path_factory):
    from cleverward.engine.model import compile_model

    return compile_model(model, "onnx", tmp_path_factory.getbasetemp() / "user-cache" / "onnx")


@pytest.fixture(scope="module")
def random_head(tmp_path_factory):
    """A head with random weights and non-zero per-score offsets (the default's are zero), odd
    widths, exported once."""
    torch.manual_seed(0)
    head = RewardHead(RewardHeadConfig(video_dim=37, text_dim=19, embed_dim=24)).eval()
    with torch.no_grad():
        head.video_offsets.normal_()
        head.text_offsets.normal_()
    folder = tmp_path_factory.mktemp("head")
    return head, folder, export_head(head, folder)


def _session(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


# --- reward head ---------------------------------------------------------------------------


@pytest.mark.parametrize("b,p", [(1, 1), (2, 7), (129, 3), (1023, 65)])
def test_head_parity_at_batch_sizes_unlike_the_export(random_head, b, p):
    head, folder, comp = random_head
    g = torch.Generator().manual_seed(b * 1000 + p)
    v, t = torch.randn(b, 37, generator=g), torch.randn(p, 19, generator=g)
    (got,) = _session(folder / comp.file).run(["rewards"], {"video": v.numpy(), "text": t.numpy()})
    with torch.no_grad():
        want = head(v, t).numpy()  # reward_matrix_ref
    assert got.shape == (b, p, 7)
    np.testing.assert_allclose(got, want, atol=HEAD_ATOL, rtol=0)


def test_default_head_on_ort_matches_torch_score(model, onnx_model):
    rng = np.random.default_rng(1)
    v = rng.standard_normal((300, 1668)).astype(np.float32)
    t = rng.standard_normal((11, 384)).astype(np.float32)
    np.testing.assert_allclose(onnx_model.score(v, t), model.score(v, t), atol=HEAD_ATOL, rtol=0)
    assert onnx_model.score(v[:0], t).shape == (0, 11, 7)


# --- text encoder --------------------------------------------------------------------------


def test_tokens_match_sentence_transformers(model, onnx_model):
    st = model.text_encoder.torch_module()
    tokenizer = onnx_model.text_encoder.tokenizer
    assert tokenizer.max_length == st.max_seq_length == 256
    for text in SENTENCES:
        want = st[0].preprocess([text])
        ids, mask = tokenizer([text])
        assert ids[0].tolist() == want["input_ids"][0].tolist(), text
        assert mask[0].tolist() == want["attention_mask"][0].tolist(), text
    assert tokenizer([SENTENCES[6]])[0].shape == (1, 256)


def test_minilm_on_ort_matches_sentence_transformers(model, onnx_model):
    # SENTENCES (one truncated at 256 tokens pads its batch to 256), then 70 short prompts: two
    # batches of 64 on both sides, so ordering and per-batch padding are exercised too.
    short = [f"{SENTENCES[i % 3]}, take {i}" for i in range(70)]
    for texts in (SENTENCES, short):
        want = model.text_encoder.encode(texts)  # sentence-transformers, torch
        got = onnx_model.encode_texts(texts)  # tokenizers + ONNX Runtime
        assert got.shape == want.shape == (len(texts), 384) and got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=TEXT_ATOL, rtol=0)
        cos = (got * want).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
        assert cos.min() > 0.9999
    assert onnx_model.encode_texts([]).shape == (0, 384)


# --- manifest ------------------------------------------------------------------------------


def test_manifest_records_what_was_exported(model, exported):
    from cleverward.engine.export import checkpoint_key

    folder, manifest = exported
    data = json.loads((folder / "manifest.json").read_text())
    assert data["format"] == "cleverward-export/1"
    assert data["exporter"]["opset"] == OPSET and data["exporter"]["torch"].startswith("2.13")
    assert data["source"]["checkpoint_key"] == checkpoint_key(model) == folder.name
    assert data["source"]["text_encoder"] == "minilm-l6"
    head, text = data["components"]["head"], data["components"]["text_encoder"]
    assert [(t["name"], t["shape"]) for t in head["inputs"]] == [
        ("video", ["batch", 1668]), ("text", ["prompts", 384])]
    assert [(t["name"], t["shape"]) for t in head["outputs"]] == [
        ("rewards", ["batch", "prompts", 7])]
    assert [t["name"] for t in text["inputs"]] == ["input_ids", "attention_mask"]
    assert text["inputs"][0]["shape"] == ["batch", "seq"] and text["inputs"][0]["dtype"] == "int64"
    assert text["outputs"][0]["name"] == "text_embedding"
    assert text["extra"]["max_length"] == 256 and text["extra"]["tokenizer"] == "tokenizer.json"
    for comp in (head, text):
        assert comp["opset"] == OPSET and comp["parity"]["max_abs_err"] < comp["parity"]["atol"]
        for name, digest in comp["files"].items():
            assert sha256_file(folder / name) == digest
        assert comp["sha256"] == comp["files"][comp["file"]]


def test_manifest_catches_an_edited_graph(random_head, tmp_path):
    from cleverward.engine.export.manifest import ExportManifest

    _, folder, comp = random_head
    manifest = ExportManifest(source={}, exporter={}, components={"head": comp})
    (tmp_path / "head.onnx").write_bytes((folder / "head.onnx").read_bytes())
    manifest.write(tmp_path)
    assert load_manifest(tmp_path).components["head"].sha256 == comp.sha256  # round trip
    data = bytearray((tmp_path / "head.onnx").read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / "head.onnx").write_bytes(bytes(data))
    with pytest.raises(ExportError, match="sha256 differs"):
        load_manifest(tmp_path)
    (tmp_path / "head.onnx").unlink()
    with pytest.raises(ExportError, match="missing"):
        load_manifest(tmp_path)
    with pytest.raises(ExportError, match="no manifest.json"):
        load_manifest(tmp_path / "empty")


# --- frame encoders ------------------------------------------------------------------------


def test_shipped_frame_encoder_exports_at_opset_13(model, tmp_path):
    from cleverward.engine.encoders.mobilenet import (
        INPUT_NAME,
        POOL_OUTPUT,
        preprocess,
        run_mobilenet,
    )

    comp = export_frame_encoder(model.video_encoder, tmp_path)
    assert comp.opset == 13 and [t.name for t in comp.inputs] == [INPUT_NAME]
    frames = np.random.default_rng(0).integers(0, 256, (3, 224, 224, 3), dtype=np.uint8)
    logits, pooled = _session(tmp_path / comp.file).run(None, {INPUT_NAME: preprocess(frames)})
    want_logits, want_pooled = run_mobilenet(frames)
    np.testing.assert_allclose(logits, want_logits, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(pooled.reshape(3, -1), want_pooled, atol=1e-4, rtol=1e-4)
    assert comp.extra["pooled_output"] == POOL_OUTPUT


class _TinyImageTower:
    """An HF-style image tower as hf_video exposes it: torch_module() + frame_size."""

    name, frame_size = "tiny-image", (20, 28)

    def torch_module(self):
        torch.manual_seed(0)
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.GELU(), torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(), torch.nn.Linear(8, 6))


def test_generic_image_tower_export(tmp_path):
    comp = export_frame_encoder(_TinyImageTower(), tmp_path)
    assert comp.opset == OPSET and comp.inputs[0].shape == ("frames", 3, 20, 28)
    assert comp.parity["max_abs_err"] < 1e-4


class _TinyTextTower:
    """An HF-style text tower as hf_text exposes it: torch_module(input_ids, attention_mask) ->
    pooled unit vectors, plus tokenizer_file and max_length. A 2-layer, width-16 random BERT."""

    name, dim, max_length = "tiny-bert", 16, 40

    def __init__(self, tokenizer_file) -> None:
        self.tokenizer_file = tokenizer_file

    def torch_module(self):
        from transformers import BertConfig, BertModel

        from cleverward.engine.export.onnx_export import MeanPoolTextEncoder

        torch.manual_seed(0)
        cfg = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
        return MeanPoolTextEncoder(BertModel(cfg).eval())


def test_generic_text_tower_export_and_tokenizer(model, tmp_path):
    from cleverward.engine.export.onnx_export import export_text_encoder
    from cleverward.engine.runtime import TextTokenizer

    tower = _TinyTextTower(model.text_encoder.path / "tokenizer.json")
    comp = export_text_encoder(tower, tmp_path)
    assert comp.extra["max_length"] == 40 and comp.parity["max_abs_err"] < TEXT_ATOL
    ids, mask = TextTokenizer(tmp_path / "tokenizer.json", 40)(SENTENCES)
    assert ids.shape == (len(SENTENCES), 40)  # the long sentence truncated at max_length
    (got,) = _session(tmp_path / comp.file).run(None, {"input_ids": ids, "attention_mask": mask})
    with torch.no_grad():
        want = tower.torch_module()(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
    np.testing.assert_allclose(got, want, atol=TEXT_ATOL, rtol=0)


def test_text_encoder_without_a_graph_is_refused(tmp_path):
    from cleverward.engine.export.onnx_export import export_text_encoder

    class NoGraph:
        name = "opaque"

    with pytest.raises(ExportError, match="no torch_module"):
        export_text_encoder(NoGraph(), tmp_path)


# --- TensorRT: the logic that runs without it, and the real thing where it is present -------


def test_tensorrt_profiles_and_engine_keys(exported):
    from cleverward.engine.export.tensorrt_build import (
        TensorRTConfig,
        engine_key,
        profile_shapes,
    )

    _, manifest = exported
    cfg = TensorRTConfig()
    text = profile_shapes(manifest.components["text_encoder"], cfg)
    assert text["input_ids"] == [(1, 1), (32, 32), (64, 256)]  # 64 texts a call; max_length
    head = profile_shapes(manifest.components["head"], cfg)
    assert head["video"] == [(1, 1668), (64, 1668), (4096, 1668)]
    assert head["text"] == [(1, 384), (64, 384), (1024, 384)]
    comp = manifest.components["head"]
    gpu = {"gpu": "NVIDIA L4", "compute_capability": "8.9"}
    key = engine_key(comp, "10.13.0", gpu, "fp16", head, cfg)
    assert key == engine_key(comp, "10.13.0", dict(gpu), "fp16", head, cfg)
    assert key != engine_key(comp, "10.14.0", gpu, "fp16", head, cfg)
    assert key != engine_key(comp, "10.13.0", {**gpu, "gpu": "NVIDIA A100"}, "fp16", head, cfg)
    assert key != engine_key(manifest.components["text_encoder"], "10.13.0", gpu, "fp16", head, cfg)
    with pytest.raises(ValueError, match="ranges"):
        TensorRTConfig(ranges={"batch": (4, 2, 8)})


@pytest.mark.skipif(__import__("importlib").util.find_spec("tensorrt") is not None,
                    reason="tensorrt is installed: the unavailable path is not reachable")
def test_tensorrt_unavailable_says_what_to_use_instead():
    from cleverward.engine.export.tensorrt_build import (
        TensorRTUnavailable,
        TrtRunner,
        require_tensorrt,
        tensorrt_status,
    )
    from cleverward.engine.model import compile_model

    ok, why = tensorrt_status()
    assert not ok and "tensorrt" in why and "--backend onnx" in why
    with pytest.raises(TensorRTUnavailable, match="tensorrt"):
        require_tensorrt()
    with pytest.raises(TensorRTUnavailable):
        TrtRunner("nowhere.engine")
    with pytest.raises(TensorRTUnavailable):
        compile_model(object(), "tensorrt")  # refuses before touching the model


def _require_tensorrt():
    pytest.importorskip("tensorrt", reason="TensorRT is not installable here (FACTS.md): the "
                                           "TensorRT vs ONNX Runtime comparison runs on GPU CI")
    if not torch.cuda.is_available():
        pytest.skip("tensorrt imports but there is no CUDA device")


@pytest.mark.gpu
def test_tensorrt_head_matches_onnx_runtime(random_head, tmp_path):
    _require_tensorrt()
    from cleverward.engine.export.tensorrt_build import TensorRTConfig, TrtRunner, build_engine

    head, folder, comp = random_head
    cfg = TensorRTConfig(fp16=False, workspace_gib=1.0)
    engine = build_engine(folder / comp.file, comp, tmp_path, cfg)
    assert build_engine(folder / comp.file, comp, tmp_path, cfg) == engine  # cache hit
    runner = TrtRunner(engine)
    g = torch.Generator().manual_seed(3)
    for b, p in ((1, 1), (300, 17)):
        v, t = torch.randn(b, 37, generator=g), torch.randn(p, 19, generator=g)
        got = runner({"video": v, "text": t})["rewards"].cpu().numpy()
        (want,) = _session(folder / comp.file).run(None, {"video": v.numpy(), "text": t.numpy()})
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)  # TF32 GEMMs allowed


@pytest.mark.gpu
def test_tensorrt_text_encoder_matches_onnx_runtime(model, onnx_model, tmp_path):
    _require_tensorrt()
    from cleverward.engine.model import compile_model

    trt_model = compile_model(model, "tensorrt", onnx_model.export_dir.parent)
    got = trt_model.encode_texts(SENTENCES)
    want = onnx_model.encode_texts(SENTENCES)
    assert ((got * want).sum(axis=1)).min() > 0.999  # fp16 engines: cosine, not atol
