"""The synthetic task: deterministic, labels that follow the generation parameters, a held-out
split disjoint in colour x shape combinations, and real decodable clips."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from cleverward.train.synth import (
    VARIANTS,
    SynthConfig,
    choose_prompts,
    generate_synthetic,
    is_heldout,
    label_scores,
    prompt_text,
)
from cleverward.train.synth_render import COLOURS, SHAPES, Defects, Scene, render_clip

SMALL = {"n_prompts": 6, "videos_per_prompt": len(VARIANTS), "frames": 12, "size": (64, 96)}
LABEL_FILES = ("labels.jsonl", "labels_train.jsonl", "labels_heldout.jsonl", "prompts.jsonl",
               "synth.json")


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate_synthetic(out, seed=3, **SMALL)
    return out


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _manifest(out: Path) -> dict:
    return json.loads((out / "synth.json").read_text())


def _frames(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_same_seed_same_bytes_and_frames(synth, tmp_path):
    summary = generate_synthetic(tmp_path, seed=3, **SMALL)
    assert summary.videos == SMALL["n_prompts"] * SMALL["videos_per_prompt"]
    for name in LABEL_FILES:
        assert (tmp_path / name).read_bytes() == (synth / name).read_bytes(), name
    for rec in _jsonl(synth / "labels.jsonl"):
        assert (tmp_path / rec["video"]).read_bytes() == (synth / rec["video"]).read_bytes()
    for rec in _jsonl(synth / "labels.jsonl")[::7]:
        assert np.array_equal(_frames(tmp_path / rec["video"]), _frames(synth / rec["video"]))


def test_another_seed_other_prompts(synth, tmp_path):
    generate_synthetic(tmp_path, seed=4, **SMALL)
    prompts = {r["prompt"] for r in _jsonl(tmp_path / "labels.jsonl")}
    assert prompts != {r["prompt"] for r in _jsonl(synth / "labels.jsonl")}


def test_records_are_the_generic_and_scoring_layouts(synth):
    from cleverward.engine.prompts import parse_prompts

    records = _jsonl(synth / "labels.jsonl")
    assert len(records) == 72
    for rec in records:
        assert set(rec) == {"video", "prompt", "scores", "dataset"}
        assert rec["dataset"] == "synth" and (synth / rec["video"]).is_file()
        assert set(rec["scores"]) == {"textual_alignment", "motion_continuity",
                                      "visual_aesthetics", "overall"}
        assert all(0.0 <= v <= 1.0 for v in rec["scores"].values())
    # prompts.jsonl is relative to videos/: `score-dir synth/videos --prompts synth/prompts.jsonl`
    entries = parse_prompts(synth / "prompts.jsonl", videos_dir=synth / "videos")
    assert [(f"videos/{e.video}", e.prompt) for e in entries] == [
        (r["video"], r["prompt"]) for r in records]


def test_label_scores_worked_example():
    # Wrong colour (4 of 5 attributes) and flicker 0.5:
    # ta = 0.8; mc = 1 - 0.3 * 0.5 = 0.85; va = 1 - 0.4 * 0.5 = 0.8;
    # overall = 0.5 * 0.8 + 0.25 * 0.85 + 0.25 * 0.8 = 0.8125.
    prompt = Scene("circle", "red", 2, "left", "fast")
    rendered = Scene("circle", "blue", 2, "left", "fast")
    assert label_scores(prompt, rendered, Defects(flicker=0.5)) == {
        "textual_alignment": 0.8, "motion_continuity": 0.85, "visual_aesthetics": 0.8,
        "overall": 0.8125}
    assert prompt_text(prompt) == "two red circles moving left quickly"


def test_labels_follow_the_generation_parameters(synth):
    variants = {v.name: v for v in VARIANTS}
    for row in _manifest(synth)["videos"]:
        prompt, rendered = Scene(**row["prompt_scene"]), Scene(**row["rendered"])
        assert row["scores"] == label_scores(prompt, rendered, Defects(**row["defects"]))
        variant = variants[row["variant"]]
        changed = [k for k in row["prompt_scene"] if row["prompt_scene"][k] != row["rendered"][k]]
        assert changed == ([variant.wrong] if variant.wrong else [])
        active = {k: v for k, v in row["defects"].items() if v}
        if variant.defect:
            lo, hi = variant.strength
            assert list(active) == [variant.defect] and lo <= active[variant.defect] <= hi
        else:
            assert not active


def test_clean_clip_outranks_its_siblings(synth):
    by_prompt = defaultdict(dict)
    for row in _manifest(synth)["videos"]:
        by_prompt[row["video"].split("_")[0]][row["variant"]] = row
    dims = {"flicker": "motion_continuity", "jitter": "motion_continuity",
            "noise": "visual_aesthetics", "blur": "visual_aesthetics"}
    for rows in by_prompt.values():
        clean = rows.pop("clean")["scores"]
        for row in rows.values():
            s, variant = row["scores"], next(v for v in VARIANTS if v.name == row["variant"])
            assert s["overall"] < clean["overall"]
            if variant.wrong:
                assert s["textual_alignment"] < clean["textual_alignment"]
            else:
                assert s["textual_alignment"] == clean["textual_alignment"]
                assert s[dims[variant.defect]] < clean[dims[variant.defect]]
                assert s["visual_aesthetics"] < clean["visual_aesthetics"]


def _combo(scene: dict) -> tuple[str, str]:
    return scene["colour"], scene["shape"]


def test_heldout_split_is_disjoint_in_combinations(synth):
    train, held = (_jsonl(synth / f"labels_{s}.jsonl") for s in ("train", "heldout"))
    assert train and held
    assert sorted(map(json.dumps, train + held)) == sorted(
        map(json.dumps, _jsonl(synth / "labels.jsonl")))
    manifest = _manifest(synth)
    pairs = {tuple(p) for p in manifest["heldout_rule"]["heldout_pairs"]}
    assert {c for c, _ in pairs} == set(COLOURS) and {s for _, s in pairs} == set(SHAPES)
    rows = {r["video"]: r for r in manifest["videos"]}
    train_combos = {_combo(rows[r["video"]]["prompt_scene"]) for r in train}
    assert train_combos.isdisjoint(pairs)
    assert {_combo(rows[r["video"]]["prompt_scene"]) for r in held} <= pairs
    # Not even a wrong-attribute render shows a held-out pair in training.
    assert not any(is_heldout(*_combo(rows[r["video"]]["rendered"])) for r in train)


def test_prompts_are_distinct_and_cover_every_colour_and_shape_in_training():
    picked = choose_prompts(SynthConfig(n_prompts=16))  # 12 train = one per train pair
    train = [scene for scene, held in picked if not held]
    assert len({prompt_text(s) for s, _ in picked}) == 16 and len(train) == 12
    assert {s.colour for s in train} == set(COLOURS) and {s.shape for s in train} == set(SHAPES)
    assert len({(s.colour, s.shape) for s in train}) == 12


def test_clips_decode_with_the_expected_shape(synth):
    import av

    for rec in _jsonl(synth / "labels.jsonl"):
        with av.open(str(synth / rec["video"])) as container:
            assert container.streams.video[0].codec_context.name == "h264"
        frames = _frames(synth / rec["video"])
        assert frames.shape == (SMALL["frames"], *SMALL["size"], 3)


def test_vp9_codec_same_bytes(tmp_path):
    kw = {"n_prompts": 1, "videos_per_prompt": 2, "frames": 6, "size": (48, 64), "codec": "vp9"}
    summary = generate_synthetic(tmp_path / "a", **kw)
    generate_synthetic(tmp_path / "b", **kw)
    videos = sorted((tmp_path / "a" / "videos").iterdir())
    assert summary.videos == 2 and [v.suffix for v in videos] == [".webm", ".webm"]
    assert _frames(videos[0]).shape == (6, 48, 64, 3)
    assert [v.read_bytes() for v in videos] == [
        (tmp_path / "b" / "videos" / v.name).read_bytes() for v in videos]


def _centroid(clip: np.ndarray) -> np.ndarray:
    """Mean (y, x) of the saturated-red pixels per frame. -> (T, 2)"""
    mask = (clip[..., 0] > 150) & (clip[..., 1] < 90)  # (T, H, W)
    ys, xs = np.arange(clip.shape[1])[:, None], np.arange(clip.shape[2])[None, :]
    n = mask.sum(axis=(1, 2))
    return np.stack([(mask * ys).sum(axis=(1, 2)) / n, (mask * xs).sum(axis=(1, 2)) / n], -1)


@pytest.mark.parametrize("direction,axis,sign", [("left", 1, -1), ("right", 1, 1),
                                                 ("up", 0, -1), ("down", 0, 1)])
def test_rendered_motion_goes_the_named_way(direction, axis, sign):
    clip = render_clip(Scene("circle", "red", 1, direction, "fast"), Defects(), 12, (64, 96),
                       layout_seed=[0], defect_seed=[1])
    path = _centroid(clip)
    assert sign * (path[-1, axis] - path[0, axis]) > 0.3 * clip.shape[1 + axis]
    assert abs(path[-1, 1 - axis] - path[0, 1 - axis]) < 1.0


def _brightness_jumps(clip: np.ndarray) -> float:
    mean = clip.reshape(len(clip), -1).mean(axis=1)  # (T,)
    return float(np.abs(np.diff(mean)).mean())


def _roughness(clip: np.ndarray) -> float:
    """Mean |second difference| of the object's path: 0 for constant velocity."""
    return float(np.abs(np.diff(_centroid(clip), n=2, axis=0)).mean())


def test_defects_show_in_the_pixels():
    scene, args = Scene("square", "red", 1, "right", "slow"), (16, (64, 96))
    kw = {"layout_seed": [5], "defect_seed": [6]}
    clean = render_clip(scene, Defects(), *args, **kw)
    flicker = render_clip(scene, Defects(flicker=1.0), *args, **kw)
    jitter = render_clip(scene, Defects(jitter=1.0), *args, **kw)
    assert _brightness_jumps(flicker) > 10 * _brightness_jumps(clean)
    assert _roughness(jitter) > 5 * _roughness(clean) + 0.5


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="SynthConfig.codec"):
        SynthConfig(codec="av1")
    with pytest.raises(ValueError, match="SynthConfig.size"):
        SynthConfig(size=(63, 96))
    with pytest.raises(ValueError, match="SynthConfig.videos_per_prompt"):
        SynthConfig(videos_per_prompt=len(VARIANTS) + 1)
    with pytest.raises(ValueError, match="SynthConfig.n_prompts"):
        SynthConfig(n_prompts=10_000)
    with pytest.raises(ValueError, match="Defects.jitter"):
        Defects(jitter=1.5)
