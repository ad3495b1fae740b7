"""Pair construction: order, margins, ties, votes, negatives, dedup, determinism, missing files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cleverward.train.datasets import AnnotationError
from cleverward.train.pairs import PairsConfig, build_pairs


def _jsonl(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return f"jsonl:{path}"


def _scored(video: str, prompt: str, dataset: str = "d", **scores) -> dict:
    return {"video": video, "prompt": prompt, "dataset": dataset, "scores": scores}


def _build(*datasets: str, **kw) -> tuple[list[dict], object]:
    kw.setdefault("negatives_per_video", 0)
    return build_pairs(PairsConfig(datasets=datasets, **kw))


def _key(row: dict) -> tuple:
    return (row["chosen"].rsplit("/", 1)[-1], row["rejected"].rsplit("/", 1)[-1], row["tie"])


def test_better_scored_is_chosen_with_normalised_margin(tmp_path):
    spec = _jsonl(tmp_path / "s.jsonl", [_scored("a.mp4", "p", overall=1),
                                         _scored("b.mp4", "p", overall=2),
                                         _scored("c.mp4", "p", overall=4)])
    rows, summary = _build(spec, margin_frac=0.2)
    assert [_key(r) for r in rows] == [("b.mp4", "a.mp4", False), ("c.mp4", "a.mp4", False),
                                       ("c.mp4", "b.mp4", False)]
    # observed scale 1..4 (range 3): gaps 1, 3, 2 -> margins 1/3, 1, 2/3
    assert [r["margin"] for r in rows] == pytest.approx([1 / 3, 1, 2 / 3], abs=1e-6)
    assert rows[0]["score_chosen"] == pytest.approx(1 / 3, abs=1e-6)
    assert rows[0]["score_rejected"] == 0.0
    assert {(r["dataset"], r["dimension"], r["kind"], r["prompt"]) for r in rows} == {
        ("d", "overall", "score", "p")}
    assert summary.cells[0].score == 3 and summary.total == 3


def test_small_gaps_are_ties_kept_or_dropped(tmp_path):
    spec = _jsonl(tmp_path / "s.jsonl", [_scored("a.mp4", "p", overall=1),
                                         _scored("b.mp4", "p", overall=1.5),
                                         _scored("c.mp4", "p", overall=4)])
    rows, summary = _build(spec, margin_frac=0.2)  # threshold 0.2 * 3 = 0.6
    assert [_key(r) for r in rows] == [("a.mp4", "b.mp4", True), ("c.mp4", "a.mp4", False),
                                       ("c.mp4", "b.mp4", False)]
    assert summary.cells[0].ties == 1
    rows, summary = _build(spec, margin_frac=0.2, keep_ties=False)
    assert [r["tie"] for r in rows] == [False, False] and summary.ties_dropped == 1
    rows, _ = _build(spec, margin_frac=0.0)
    assert not any(r["tie"] for r in rows)


def test_declared_scale_and_no_pairs_across_prompts_datasets_dimensions(tmp_path):
    q = ('For this video, the text prompt is "{}",\nall the frames of video are as follows:')
    def vf(vid, prompt, vq, ta):
        return {"id": vid, "images": [f"{vid}_0.jpg"], "conversations": [
            {"from": "human", "value": q.format(prompt)},
            {"from": "gpt", "value": f"visual quality: {vq}\ntext-to-video alignment: {ta}"}]}
    vf_file = tmp_path / "vf.json"
    vf_file.write_text(json.dumps([vf("1", "p", 2, 3), vf("2", "p", 3, 3), vf("3", "q", 4, 1)]))
    other = _jsonl(tmp_path / "o.jsonl", [_scored("x.mp4", "p", dataset="other",
                                                  visual_quality=1)])
    rows, _ = _build(f"videofeedback:{vf_file}", other)
    assert len(rows) == 2  # only videos 1 and 2 share a prompt; "other" never meets them
    by_dim = {r["dimension"]: r for r in rows}
    assert by_dim["visual_aesthetics"]["margin"] == pytest.approx(1 / 3)  # declared 1-4
    assert by_dim["textual_alignment"]["tie"] is True


def test_votes_become_pairs_directly(tmp_path):
    gb = tmp_path / "gb.jsonl"
    votes = ["leftvote", "rightvote", "tievote", "bothbad_vote"]
    gb.write_text("".join(json.dumps({"prompt": "p", "video_left": f"l{i}.mp4",
                                      "video_right": f"r{i}.mp4", "vote_type": v}) + "\n"
                          for i, v in enumerate(votes)))
    rows, summary = _build(f"genai-bench:{gb}")
    got = sorted((r["vote"], *_key(r)) for r in rows)
    assert got == [("bothbad_vote", "l3.mp4", "r3.mp4", True), ("leftvote", "l0.mp4", "r0.mp4",
                   False), ("rightvote", "r1.mp4", "l1.mp4", False),
                   ("tievote", "l2.mp4", "r2.mp4", True)]
    assert {(r["kind"], r["dimension"], r["margin"]) for r in rows} == {("vote", "overall", 0.0)}
    assert (summary.cells[0].vote, summary.cells[0].ties) == (4, 2)
    rows, _ = _build(f"genai-bench:{gb}", keep_ties=False)
    assert len(rows) == 2


def _three_prompts(tmp_path, prompts=("blue car", "red cat", "red dog")) -> str:
    records = [_scored(f"{p.replace(' ', '_')}_{k}.mp4", p, overall=k)
               for p in prompts for k in range(2)]
    return _jsonl(tmp_path / "n.jsonl", records)


def test_random_negatives(tmp_path):
    spec = _three_prompts(tmp_path)
    rows, summary = _build(spec, negatives_per_video=2, margin_frac=0.0)
    neg = [r for r in rows if r["kind"] == "negative"]
    assert len(neg) == 6 * 2 and summary.negatives == "random"
    for r in neg:
        assert r["dimension"] == "textual_alignment" and r["tie"] is False
        assert r["rejected_prompt"] != r["prompt"]
        assert Path(r["chosen"]).name.startswith(r["prompt"].replace(" ", "_"))
        assert Path(r["rejected"]).name.startswith(r["rejected_prompt"].replace(" ", "_"))
    per_video = {}
    for r in neg:
        per_video.setdefault(r["chosen"], set()).add(r["rejected_prompt"])
    assert all(len(v) == 2 for v in per_video.values())  # two distinct other prompts


def _toy_embed(texts: list[str]) -> np.ndarray:
    table = {"red cat": [1.0, 0.0, 0.0], "red dog": [0.9, 0.436, 0.0], "blue car": [0, 0, 1.0]}
    return np.array([table[t] for t in texts])


def test_hard_negatives_pick_the_nearest_prompt(tmp_path):
    spec = _three_prompts(tmp_path)
    rows, summary = build_pairs(PairsConfig(datasets=(spec,), negatives_per_video=1,
                                            hard_negatives=True), embed_texts=_toy_embed)
    nearest = {r["prompt"]: r["rejected_prompt"] for r in rows if r["kind"] == "negative"}
    # cat <-> dog are close (0.9); the car is orthogonal to both: ties go to the first prompt
    assert nearest == {"red cat": "red dog", "red dog": "red cat", "blue car": "red cat"}
    assert summary.negatives == "hard"
    rows, _ = build_pairs(PairsConfig(datasets=(spec,), negatives_per_video=1,
                                      hard_negatives=True, hard_negative_max_similarity=0.8),
                          embed_texts=_toy_embed)
    nearest = {r["prompt"]: r["rejected_prompt"] for r in rows if r["kind"] == "negative"}
    assert nearest["red cat"] == "blue car"  # the dog is too close: a possible paraphrase
    with pytest.raises(ValueError, match="PairsConfig.hard_negatives"):
        build_pairs(PairsConfig(datasets=(spec,), hard_negatives=True))


def test_dedup_merges_identical_files_across_datasets(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"same clip bytes")
    (tmp_path / "copy_of_a.mp4").write_bytes(b"same clip bytes")
    (tmp_path / "b.mp4").write_bytes(b"other clip byte")  # same size, other content
    one = _jsonl(tmp_path / "one.jsonl", [_scored("a.mp4", "p", "one", overall=1),
                                          _scored("b.mp4", "p", "one", overall=2)])
    two = _jsonl(tmp_path / "two.jsonl", [
        _scored("copy_of_a.mp4", "p", "two", overall=5), _scored("b.mp4", "p", "two", overall=1),
        {"prompt": "p", "chosen": "a.mp4", "rejected": "copy_of_a.mp4", "dataset": "two"}])
    rows, summary = _build(one, two, videos_root=str(tmp_path))
    assert summary.duplicate_videos == 1 and summary.self_pairs_dropped == 1
    assert "copy_of_a.mp4" not in {r["chosen"] for r in rows} | {r["rejected"] for r in rows}
    assert {(r["dataset"], r["chosen"], r["rejected"]) for r in rows} == {
        ("one", "b.mp4", "a.mp4"), ("two", "a.mp4", "b.mp4")}
    rows, summary = _build(one, two, videos_root=str(tmp_path), dedup=False)
    assert summary.duplicate_videos == 0 and len(rows) == 3


def test_fifos_named_as_videos_are_not_read_by_dedup(tmp_path):
    """Two FIFOs have the same size (0), so dedup would hash both, and the first read of a FIFO
    with no writer blocks forever. Run in a thread so the old behaviour fails, not hangs."""
    import os
    import threading

    from cleverward.train.dedup import duplicate_aliases

    fifos = [tmp_path / "a.mp4", tmp_path / "b.mp4"]
    for f in fifos:
        os.mkfifo(f)
    (tmp_path / "c.mp4").write_bytes(b"x")
    (tmp_path / "d.mp4").write_bytes(b"x")
    result = {}
    worker = threading.Thread(target=lambda: result.update(duplicate_aliases(
        [str(p) for p in (*fifos, tmp_path / "c.mp4", tmp_path / "d.mp4")])), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "dedup blocked reading a FIFO"
    assert result == {str(tmp_path / "d.mp4"): str(tmp_path / "c.mp4")}


def test_deterministic_for_a_seed_and_input_order(tmp_path):
    prompts = [f"prompt {i}" for i in range(12)]
    spec = _three_prompts(tmp_path, prompts)
    other = _jsonl(tmp_path / "o.jsonl", [_scored(f"o{i}.mp4", f"q{i}", "o", overall=i)
                                          for i in range(6)])
    a, _ = _build(spec, other, negatives_per_video=3, seed=7)
    b, _ = _build(other, spec, negatives_per_video=3, seed=7)
    c, _ = _build(spec, other, negatives_per_video=3, seed=8)
    assert a == b
    assert a != c
    assert [r for r in a if r["kind"] != "negative"] == [r for r in c if r["kind"] != "negative"]


def test_missing_files_counted_paths_relative_to_root(tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    (root / "here.mp4").write_bytes(b"x")
    spec = _jsonl(tmp_path / "m.jsonl", [_scored("here.mp4", "p", overall=1),
                                         _scored("gone.mp4", "p", overall=3),
                                         _scored(str(root / "sub" / "abs.mp4"), "p",
                                                 overall=2)])
    rows, summary = _build(spec, videos_root=str(root))
    assert summary.videos == 3 and summary.missing_videos == 2
    assert {r["chosen"] for r in rows} | {r["rejected"] for r in rows} == {
        "here.mp4", "gone.mp4", "sub/abs.mp4"}  # an absolute path inside the root is kept
    text = summary.to_text()
    assert "missing videos: 2 of 3" in text and "gone.mp4" in text
    rows, _ = _build(spec, videos_root=str(tmp_path))  # a wider root: paths relative to it
    assert {r["chosen"] for r in rows} | {r["rejected"] for r in rows} == {
        "here.mp4", "gone.mp4", "videos/sub/abs.mp4"}
    outside = _jsonl(tmp_path / "o.jsonl", [_scored("/elsewhere/abs.mp4", "p", overall=2)])
    with pytest.raises(AnnotationError, match=r"o.jsonl:1: video path '/elsewhere/abs.mp4' "
                                              r"leaves the videos root"):
        _build(outside, videos_root=str(root))


def test_summary_table_and_dropped_dimensions(tmp_path):
    spec = _jsonl(tmp_path / "t.jsonl", [_scored("a.mp4", "p", overall=1, flicker=2, VQ=1),
                                         _scored("b.mp4", "p", overall=2, flicker=1, VQ=3)])
    rows, summary = _build(spec)
    assert summary.dropped_dimensions == {"d:flicker": 2}
    assert [(c.dataset, c.dimension, c.score) for c in summary.cells] == [
        ("d", "overall", 1), ("d", "visual_aesthetics", 1)]
    text = str(summary)
    assert text.splitlines()[0].split() == ["dataset", "dimension", "score", "vote", "negative",
                                            "ties", "total"]
    assert "d:flicker x2" in text
    assert summary.to_dict()["total"] == 2 and summary.items_read == {"d": 2}


@pytest.mark.parametrize("kw, field", [
    ({"datasets": ()}, "datasets"),
    ({"datasets": "jsonl:x"}, "datasets"),
    ({"datasets": ("csv:x.csv",)}, "datasets"),
    ({"margin_frac": 1.5}, "margin_frac"),
    ({"negatives_per_video": -1}, "negatives_per_video"),
    ({"seed": 1.5}, "seed"),
    ({"keep_ties": "yes"}, "keep_ties"),
    ({"hard_negative_max_similarity": 2}, "hard_negative_max_similarity"),
])
def test_config_errors_name_the_field(kw, field):
    kw = {"datasets": ("jsonl:x.jsonl",), **kw}
    with pytest.raises(ValueError, match=f"PairsConfig.{field}"):
        PairsConfig(**kw)


def test_config_is_frozen_and_normalises_lists():
    cfg = PairsConfig(datasets=["jsonl:x.jsonl"], videos_root=Path("/v"))
    assert cfg.datasets == ("jsonl:x.jsonl",) and cfg.videos_root == "/v"
    with pytest.raises(AttributeError):
        cfg.seed = 3


def test_regression_targets_from_score_rows(tmp_path):
    from cleverward.train.targets import regression_targets

    spec = _jsonl(tmp_path / "s.jsonl", [_scored("a.mp4", "p", overall=1),
                                         _scored("b.mp4", "p", overall=2),
                                         _scored("c.mp4", "p", overall=3)])
    rows, _ = _build(spec, negatives_per_video=1)
    targets = {Path(t["video"]).name: t["target"] for t in regression_targets(rows)}
    assert targets == {"a.mp4": 0.0, "b.mp4": 0.5, "c.mp4": 1.0}  # negatives give none


def test_negatives_are_on_a_canonical_dimension():
    from cleverward.engine.dimensions import CANONICAL_DIMENSIONS
    from cleverward.train.negatives import DIMENSION

    assert DIMENSION in CANONICAL_DIMENSIONS


def test_building_pairs_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, cleverward.train.pairs, cleverward.train.metrics; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
