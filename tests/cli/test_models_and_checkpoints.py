"""What --model accepts and what a checkpoint folder holds (README "Models and checkpoints").

Zero-shot encoder specs (clip:/siglip:/xclip:DIR) on tiny random towers saved here, checked
against the towers' cosine computed directly with transformers; checkpoints in a local Hugging
Face cache laid out as huggingface_hub writes it; a checkpoint moved and loaded from another
working directory; one model typed three ways; export folders loaded as models.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.cli.run import run_cli
from tests.clips import write_prompts
from tests.engine.test_hf_encoders import SIZE, save_clip, save_siglip, save_xclip

PROMPTS = ["a red cat", "a dog running on the beach"]
FRAMES = 4  # the tiny X-CLIP's num_frames
CLASSES = {"clip": "CLIPModel", "siglip": "SiglipModel", "xclip": "XCLIPModel"}
MEANS = {"clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),
         "siglip": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))}
MEANS["xclip"] = MEANS["clip"]


@pytest.fixture(scope="module")
def towers(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("towers")
    made = {}
    for kind, save in (("clip", save_clip), ("siglip", save_siglip), ("xclip", save_xclip)):
        (root / kind).mkdir()
        made[kind] = save(root / kind)
    return made


@pytest.fixture()
def corpus(tmp_path, two_clips):
    return two_clips, write_prompts(tmp_path / "p.jsonl", PROMPTS)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _score(videos, prompts, out, model, *extra):
    res = run_cli("score-dir", videos, "--prompts", prompts, "--out", out, "--model", model,
                  "--frames", FRAMES, "--no-cache", "-q", *extra)
    assert res.exit_code == 0, res.output
    return _rows(out)


def _direct_cosines(kind: str, folder: Path, videos: Path) -> dict[tuple[str, str], float]:
    """cosine(video tower, text tower) with transformers itself: per-frame image features,
    each unit-normalised, averaged, normalised (X-CLIP: its video features); text features."""
    import transformers
    from transformers import AutoTokenizer

    from cleverward.engine.config import DecodeConfig
    from cleverward.engine.decode import decode_clip

    model = getattr(transformers, CLASSES[kind]).from_pretrained(str(folder)).eval()
    pre = folder / "preprocessor_config.json"
    mean, std = MEANS[kind]
    if pre.is_file():
        data = json.loads(pre.read_text())
        mean, std = data["image_mean"], data["image_std"]
    mean, std = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    tok = AutoTokenizer.from_pretrained(str(folder))
    padding = {"padding": "max_length", "max_length": 16} if kind == "siglip" else \
        {"padding": "longest"}
    enc = tok(PROMPTS, truncation=True, return_tensors="pt", **padding)
    unit = torch.nn.functional.normalize
    with torch.no_grad():
        text = unit(model.get_text_features(**enc).pooler_output, dim=-1)  # (P, D)
        out = {}
        for video in sorted(p.name for p in videos.iterdir()):
            frames = decode_clip(str(videos / video), DecodeConfig(frames=FRAMES, height=SIZE,
                                                                  width=SIZE))
            x = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0  # (T, 3, H, W)
            x = (x - mean) / std
            if kind == "xclip":
                v = unit(model.get_video_features(pixel_values=x[None]).pooler_output, dim=-1)[0]
            else:
                per_frame = unit(model.get_image_features(pixel_values=x).pooler_output, dim=-1)
                v = unit(per_frame.mean(0), dim=0)  # (D,)
            for p, t in zip(PROMPTS, text, strict=True):
                out[(video, p)] = float(v @ t)
    return out


@pytest.mark.parametrize("kind", ["clip", "siglip", "xclip"])
def test_zero_shot_score_dir_is_the_towers_own_cosine(towers, corpus, tmp_path, kind):
    videos, prompts = corpus
    rows = _score(videos, prompts, tmp_path / "s.jsonl", f"{kind}:{towers[kind]}")
    assert len(rows) == 4 and all(r["error"] is None for r in rows)
    want = _direct_cosines(kind, towers[kind], videos)
    for r in rows:
        assert r["score"] == pytest.approx(want[(r["video"], r["prompt"])], abs=1e-5)
        # an untrained head has zero offsets: every dimension is the overall alignment
        assert all(v == pytest.approx(r["score"], abs=1e-6) for v in r["dimensions"].values())
    assert r["model"].startswith(f"{kind}:{towers[kind].resolve()}@")


def test_zero_shot_spec_loads_in_the_python_api_with_a_relative_folder(towers, tmp_path,
                                                                       monkeypatch):
    from cleverward.engine.model import RewardModel

    shutil.copytree(towers["clip"], tmp_path / "tinyclip")
    monkeypatch.chdir(tmp_path)
    model = RewardModel.from_pretrained("clip:tinyclip")
    assert model.cfg.video_encoder == model.cfg.text_encoder == f"clip:{tmp_path / 'tinyclip'}"
    assert model.head.cfg.embed_dim == 8  # identity map: exact cosines
    with pytest.raises(FileNotFoundError, match="no such folder"):
        RewardModel.from_pretrained("clip:./missing")


def _fake_hub_cache(root: Path, repo: str, folder: Path) -> Path:
    """A snapshot as huggingface_hub lays it out: models--org--name/{refs/main, snapshots/X}."""
    org, name = repo.split("/")
    entry = root / f"models--{org}--{name}"
    shutil.copytree(folder, entry / "snapshots" / "0123abcd")
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text("0123abcd")
    return entry / "snapshots" / "0123abcd"


def test_org_name_loads_a_checkpoint_and_an_encoder_from_the_local_hub_cache(
        towers, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub

    from cleverward.engine.model import RewardModel
    from cleverward.train.init_model import init_checkpoint

    init_checkpoint(f"clip:{towers['clip']}", f"clip:{towers['clip']}", str(tmp_path / "ck"),
                    embed_dim=16)
    cache = tmp_path / "hub"
    snap = _fake_hub_cache(cache, "someone/tiny-reward", tmp_path / "ck")
    _fake_hub_cache(cache, "someone/tiny-clip", towers["clip"])
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(cache))
    got = RewardModel.from_pretrained("someone/tiny-reward")
    want = RewardModel.from_pretrained(tmp_path / "ck")
    assert got.name == str(snap.resolve())
    for k, v in want.head.state_dict().items():
        torch.testing.assert_close(got.head.state_dict()[k], v)
    zs = RewardModel.from_pretrained("clip:someone/tiny-clip")  # a hub id after the colon
    assert zs.cfg.video_encoder.startswith(f"clip:{cache.resolve()}")
    for missing in ("someone/absent", "clip:someone/absent"):
        with pytest.raises(FileNotFoundError) as err:
            RewardModel.from_pretrained(missing)
        msg = str(err.value)
        assert "someone/absent" in msg and str(cache) in msg and "HF_HOME" in msg
        assert "Nothing is downloaded" in msg
    (tmp_path / "p.jsonl").write_text(json.dumps({"prompt": "a red cat"}) + "\n")
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "a.mp4").write_bytes(b"not decoded: the model fails first")
    res = run_cli("score-dir", tmp_path / "v", "--prompts", tmp_path / "p.jsonl", "--model",
                  "someone/absent", "--out", tmp_path / "s.jsonl")
    assert res.exit_code == 2 and str(cache) in res.output and "HF_HOME" in res.output


def test_a_checkpoint_made_from_a_relative_encoder_folder_loads_after_a_move(
        towers, corpus, tmp_path, monkeypatch):
    """`train --video-encoder clip:tinyclip` writes its start through init_checkpoint and its
    result through save_checkpoint: both record the folder absolute."""
    from cleverward.engine.checkpoint import load_checkpoint, save_checkpoint
    from cleverward.engine.model import RewardModel
    from cleverward.train.init_model import init_checkpoint

    videos, prompts = corpus
    work = tmp_path / "work"
    shutil.copytree(towers["clip"], work / "tinyclip")
    monkeypatch.chdir(work)
    init_checkpoint("clip:./tinyclip", "clip:tinyclip", "runs/init", embed_dim=16)
    cfg, state = load_checkpoint("runs/init")
    assert cfg.video_encoder == cfg.text_encoder == f"clip:{work / 'tinyclip'}"
    cfg = cfg.__class__(**{**cfg.to_dict(), "video_encoder": "clip:tinyclip"})
    save_checkpoint("runs/r1", cfg, {k: v + 0.01 for k, v in state.items()})  # "trained"
    assert json.loads(Path("runs/r1/config.json").read_text())["video_encoder"] == \
        f"clip:{work / 'tinyclip'}"
    before = _score(videos, prompts, tmp_path / "before.jsonl", "runs/r1")
    shutil.move(work / "runs" / "r1", tmp_path / "moved")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    model = RewardModel.from_pretrained(tmp_path / "moved")
    assert model.cfg.video_encoder == f"clip:{work / 'tinyclip'}"
    after = _score(videos, prompts, tmp_path / "after.jsonl", tmp_path / "moved")
    # rows hold 6 decimals: two runs' rounding may differ in the last one
    assert [r["score"] for r in after] == pytest.approx([r["score"] for r in before], abs=2e-6)


def test_one_model_typed_three_ways_is_one_model_in_the_output(towers, corpus, tmp_path,
                                                               monkeypatch):
    from cleverward.train.init_model import init_checkpoint

    videos, prompts = corpus
    monkeypatch.chdir(tmp_path)
    init_checkpoint(f"clip:{towers['clip']}", f"clip:{towers['clip']}", "runs/r1", embed_dim=16)
    out = tmp_path / "s.jsonl"
    for typed in ("runs/r1", "./runs/r1", str(tmp_path / "runs" / "r1")):
        rows = _score(videos, prompts, out, typed)
    assert len(rows) == 4  # one run's rows, not three
    (name,) = {r["model"] for r in rows}
    place, digest = name.rsplit("@", 1)
    assert place == str((tmp_path / "runs" / "r1").resolve()) and len(digest) == 12
    # and the way it was typed picks its rows again (eval --scores / compare --model)
    from cleverward.train.score_table import load_score_tables

    for typed in ("runs/r1", "./runs/r1", name):
        assert list(load_score_tables(str(out), typed)) == [name]
    with pytest.raises(ValueError, match="--model 'runs/r2': no rows for it"):
        load_score_tables(str(out), "runs/r2")


def test_rows_of_an_older_output_naming_the_model_by_its_typed_string_are_kept(
        towers, corpus, tmp_path):
    """Backwards compatibility: a row whose "model" is a bare string (as outputs wrote before
    identities) is another model's row, left untouched."""
    videos, prompts = corpus
    out = tmp_path / "s.jsonl"
    old = {"video": "a.mp4", "prompt": PROMPTS[0], "score": 0.5, "dimensions": None,
           "model": f"clip:{towers['clip']}", "error": None}
    out.write_text(json.dumps(old) + "\n")
    rows = _score(videos, prompts, out, f"clip:{towers['clip']}")
    assert rows[0] == old and len(rows) == 5


def test_a_saved_checkpoint_has_a_model_card_and_model_type(towers, tmp_path):
    from cleverward.engine.checkpoint import CheckpointError, read_config
    from cleverward.engine.model import RewardModel
    from cleverward.train.init_model import init_checkpoint

    init_checkpoint(f"clip:{towers['clip']}", f"clip:{towers['clip']}", str(tmp_path / "ck"),
                    embed_dim=16)
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert config["model_type"] == "cleverward"
    card = (tmp_path / "ck" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: cleverward\n")
    assert f"video: `clip:{towers['clip']}`" in card and "not trained" in card
    assert "saved by cleverward " in card
    del config["model_type"]  # configs written before model_type still load
    (tmp_path / "ck" / "config.json").write_text(json.dumps(config))
    assert RewardModel.from_pretrained(tmp_path / "ck").cfg.model_type == "cleverward"
    (tmp_path / "ck" / "config.json").write_text(json.dumps(config | {"model_type": "bert"}))
    with pytest.raises(CheckpointError, match="config.json: model_type: expected 'cleverward'"):
        read_config(tmp_path / "ck" / "config.json")


def test_an_export_folder_loads_as_a_model_with_the_same_rows(corpus, tmp_path):
    from cleverward.engine.model import RewardModel

    videos, prompts = corpus
    export = tmp_path / "export"
    res = run_cli("export", "--model", "default", "--format", "onnx", "--out", export)
    assert res.exit_code == 0, res.output
    manifest = (export / "manifest.json").read_text()
    assert "site-packages/" not in manifest.replace("<site-packages>/", "")
    assert ".venv" not in manifest
    src = _score(videos, prompts, tmp_path / "src.jsonl", "default")
    got = _score(videos, prompts, tmp_path / "exp.jsonl", export)
    assert [r["score"] for r in got] == pytest.approx([r["score"] for r in src], abs=1e-5)
    onnx = _score(videos, prompts, tmp_path / "onnx.jsonl", export, "--backend", "onnx")
    assert [r["score"] for r in onnx] == pytest.approx([r["score"] for r in src], abs=1e-5)
    # --backend onnx runs the export folder's own graphs, not a fresh export in the cache
    from cleverward.engine.runtime import ensure_exported

    folder, _ = ensure_exported(RewardModel.from_pretrained(export))
    assert folder == export.resolve()
    assert np.isfinite([r["score"] for r in onnx]).all()


def test_index_build_and_search_take_a_zero_shot_spec(towers, corpus, tmp_path, monkeypatch):
    """The spec typed relative to the working directory and absolute names one index."""
    videos, prompts = corpus
    shutil.copytree(towers["clip"], tmp_path / "tinyclip")
    monkeypatch.chdir(tmp_path)
    rows = _score(videos, prompts, tmp_path / "s.jsonl", "clip:tinyclip")
    cache = tmp_path / "cache"
    res = run_cli("index", "build", videos, "--model", "clip:tinyclip", "--frames", FRAMES,
                  "--cache", cache, "-q")
    assert res.exit_code == 0, res.output
    res = run_cli("search", PROMPTS[1], "--top-k", 2, "--dir", videos, "--cache", cache,
                  "--model", f"clip:{tmp_path / 'tinyclip'}", "--json")
    assert res.exit_code == 0, res.output
    found = json.loads(res.stdout)["results"]
    want = sorted((r for r in rows if r["prompt"] == PROMPTS[1]), key=lambda r: -r["score"])
    assert [h["video"] for h in found] == [r["video"] for r in want]
    assert [h["score"] for h in found] == pytest.approx([r["score"] for r in want], abs=1e-5)
