"""Pairs: config errors word for word, the tie boundary, rounding and provenance of score rows.

Values worked by hand: scores 0, 1/3 and 1 on one prompt give an observed scale of 1, so the
normalised scores are 0, 0.333333 and 1 (rounded to 6 places) and the margins are the gaps.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cleverward.train.pairs import PairsConfig, build_pairs


def _jsonl(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return f"jsonl:{path}"


def _scored(video: str, value: float, prompt: str = "p") -> dict:
    return {"video": video, "prompt": prompt, "dataset": "d", "scores": {"overall": value}}


@pytest.mark.parametrize("kw, message", [
    ({"margin_frac": 1.0}, "margin_frac: expected a number in [0, 1), got 1.0"),
    ({"margin_frac": -0.1}, "margin_frac: expected a number in [0, 1), got -0.1"),
    ({"margin_frac": True}, "margin_frac: expected a number in [0, 1), got True"),
    ({"negatives_per_video": -1}, "negatives_per_video: expected an integer >= 0, got -1"),
    ({"seed": True}, "seed: expected an integer >= 0, got True"),
    ({"dedup": 1}, "dedup: expected true or false"),
    ({"hard_negatives": "no"}, "hard_negatives: expected true or false"),
    ({"hard_negative_max_similarity": -1},
     "hard_negative_max_similarity: expected a cosine in (-1, 1], got -1"),
    ({"hard_negative_max_similarity": -1.5},
     "hard_negative_max_similarity: expected a cosine in (-1, 1], got -1.5"),
    ({"hard_negative_max_similarity": 1.01},
     "hard_negative_max_similarity: expected a cosine in (-1, 1], got 1.01"),
    ({"datasets": "jsonl:x.jsonl"}, "datasets: expected a list of FORMAT:PATH, got one string"),
    ({"datasets": ()}, "datasets: give at least one FORMAT:PATH"),
])
def test_config_errors_word_for_word(kw, message):
    kw = {"datasets": ("jsonl:x.jsonl",)} | kw
    with pytest.raises(ValueError) as err:
        PairsConfig(**kw)
    assert str(err.value) == f"PairsConfig.{message}"


@pytest.mark.parametrize("kw", [{"margin_frac": 0}, {"margin_frac": 0.999},
                                {"hard_negative_max_similarity": 1},
                                {"hard_negative_max_similarity": -0.999}, {"seed": 0}])
def test_config_boundaries_that_are_valid(kw):
    PairsConfig(datasets=("jsonl:x.jsonl",), **kw)


def test_a_gap_of_exactly_the_threshold_is_a_tie(tmp_path):
    """Observed scale 0..1, margin_frac 0.05: the threshold is 0.05; the gap of a (0.05) and
    b (0.0) is exactly 0.05 -> a tie (gaps up to and including the threshold)."""
    spec = _jsonl(tmp_path / "s.jsonl", [_scored("a.mp4", 0.05), _scored("b.mp4", 0.0),
                                         _scored("c.mp4", 1.0)])
    rows, _ = build_pairs(PairsConfig(datasets=(spec,), margin_frac=0.05, negatives_per_video=0))
    ties = {(Path(r["chosen"]).name, Path(r["rejected"]).name): r["tie"] for r in rows}
    assert ties == {("a.mp4", "b.mp4"): True, ("c.mp4", "a.mp4"): False,
                    ("c.mp4", "b.mp4"): False}


def test_score_rows_round_to_6_places_and_name_their_source(tmp_path):
    spec = _jsonl(tmp_path / "s.jsonl", [_scored("a.mp4", 0.0), _scored("b.mp4", 1 / 3),
                                         _scored("c.mp4", 1.0)])
    rows, _ = build_pairs(PairsConfig(datasets=(spec,), margin_frac=0.0, negatives_per_video=0))
    by = {(Path(r["chosen"]).name, Path(r["rejected"]).name): r for r in rows}
    ba = by[("b.mp4", "a.mp4")]
    assert (ba["score_chosen"], ba["score_rejected"], ba["margin"]) == (0.333333, 0.0, 0.333333)
    cb = by[("c.mp4", "b.mp4")]
    assert (cb["score_chosen"], cb["score_rejected"], cb["margin"]) == (1.0, 0.333333, 0.666667)
    # each pair names the annotation line of its first (alphabetical) video
    src = tmp_path / "s.jsonl"
    assert {k: r["source"] for k, r in by.items()} == {
        ("b.mp4", "a.mp4"): f"{src}:1", ("c.mp4", "a.mp4"): f"{src}:1",
        ("c.mp4", "b.mp4"): f"{src}:2"}


def test_vote_rows_keep_prompt_and_source(tmp_path):
    gb = tmp_path / "gb.jsonl"
    gb.write_text(json.dumps({"prompt": "a red car", "video_left": "l.mp4",
                              "video_right": "r.mp4", "vote_type": "rightvote"}) + "\n")
    rows, _ = build_pairs(PairsConfig(datasets=(f"genai-bench:{gb}",), negatives_per_video=0))
    [row] = rows
    assert (row["prompt"], Path(row["chosen"]).name, Path(row["rejected"]).name) == (
        "a red car", "r.mp4", "l.mp4")
    assert row["source"] == f"{gb}:1" and row["vote"] == "rightvote" and row["tie"] is False


def test_dedup_renames_both_sides_of_a_vote_pair(tmp_path):
    """copy.mp4 has a.mp4's bytes: it merges onto a.mp4 on whichever side it stands; b.mp4 and
    c.mp4 are unique and keep their names."""
    for name, data in (("a.mp4", b"same bytes"), ("copy.mp4", b"same bytes"),
                       ("b.mp4", b"other byte"), ("c.mp4", b"third one!")):
        (tmp_path / name).write_bytes(data)
    spec = _jsonl(tmp_path / "v.jsonl", [
        _scored("a.mp4", 1.0),
        {"prompt": "p", "chosen": "copy.mp4", "rejected": "b.mp4", "dataset": "d"},
        {"prompt": "p", "chosen": "c.mp4", "rejected": "copy.mp4", "dataset": "d"},
    ])
    rows, _ = build_pairs(PairsConfig(datasets=(spec,), videos_root=str(tmp_path),
                                      negatives_per_video=0))
    votes = sorted((r["chosen"], r["rejected"]) for r in rows if r["kind"] == "vote")
    assert votes == [("a.mp4", "b.mp4"), ("c.mp4", "a.mp4")]


def test_hard_negatives_without_negatives_need_no_text_encoder(tmp_path):
    spec = _jsonl(tmp_path / "s.jsonl", [_scored("a.mp4", 0.0), _scored("b.mp4", 1.0)])
    rows, _ = build_pairs(PairsConfig(datasets=(spec,), hard_negatives=True,
                                      negatives_per_video=0))
    assert [r["kind"] for r in rows] == ["score"]
    with pytest.raises(ValueError, match=r"^PairsConfig\.hard_negatives: needs embed_texts "
                                         r"\(a text encoder\)$"):
        build_pairs(PairsConfig(datasets=(spec,), hard_negatives=True, negatives_per_video=1))


def test_missing_examples_are_shown_relative_to_the_videos_root(tmp_path):
    (tmp_path / "here.mp4").write_bytes(b"x")
    spec = _jsonl(tmp_path / "s.jsonl", [_scored("here.mp4", 0.0), _scored("sub/gone.mp4", 1.0)])
    _, summary = build_pairs(PairsConfig(datasets=(spec,), videos_root=str(tmp_path),
                                         negatives_per_video=0))
    assert summary.missing_examples == ("sub/gone.mp4",)


def test_a_video_scored_twice_gets_the_mean(tmp_path):
    """a.mp4 scored 1 and 3 -> 2; with b = 0 and c = 4 the observed scale is 0..4, so a's
    normalised score is 2 / 4 = 0.5 (a sum, 4, would make it 1.0 and stretch the scale)."""
    spec = _jsonl(tmp_path / "s.jsonl", [_scored("a.mp4", 1.0), _scored("b.mp4", 0.0),
                                         _scored("a.mp4", 3.0), _scored("c.mp4", 4.0)])
    rows, _ = build_pairs(PairsConfig(datasets=(spec,), margin_frac=0.0, negatives_per_video=0))
    ab = next(r for r in rows if Path(r["chosen"]).name == "a.mp4")
    assert (Path(ab["rejected"]).name, ab["score_chosen"], ab["margin"]) == ("b.mp4", 0.5, 0.5)


def test_a_constant_scale_gives_ties_with_zero_margin(tmp_path):
    """Both videos scored 2: hi == lo, nothing to normalise by: margin 0, scores 0.5, a tie."""
    spec = _jsonl(tmp_path / "s.jsonl", [_scored("a.mp4", 2.0), _scored("b.mp4", 2.0)])
    rows, _ = build_pairs(PairsConfig(datasets=(spec,), negatives_per_video=0))
    [row] = rows
    assert (row["tie"], row["margin"], row["score_chosen"], row["score_rejected"]) == (
        True, 0.0, 0.5, 0.5)


def test_dropped_ties_are_counted(tmp_path):
    spec = _jsonl(tmp_path / "s.jsonl", [_scored("a.mp4", 2.0), _scored("b.mp4", 2.0),
                                         _scored("c.mp4", 4.0)])
    _, kept = build_pairs(PairsConfig(datasets=(spec,), negatives_per_video=0))
    _, dropped = build_pairs(PairsConfig(datasets=(spec,), negatives_per_video=0,
                                         keep_ties=False))
    assert (kept.ties_dropped, dropped.ties_dropped, dropped.total) == (0, 1, 2)


@pytest.mark.parametrize("name", ["videos_root", "taxonomy_file"])
def test_path_options_must_be_paths(name):
    with pytest.raises(ValueError) as err:
        PairsConfig(datasets=("jsonl:x.jsonl",), **{name: 3})
    assert str(err.value) == f"PairsConfig.{name}: expected a path"


def test_at_most_three_missing_examples_and_no_negatives_mode(tmp_path):
    spec = _jsonl(tmp_path / "s.jsonl", [_scored(f"gone{i}.mp4", float(i)) for i in range(4)])
    _, summary = build_pairs(PairsConfig(datasets=(spec,), videos_root=str(tmp_path),
                                         negatives_per_video=0))
    assert summary.missing_examples == ("gone0.mp4", "gone1.mp4", "gone2.mp4")
    assert summary.negatives == "none"


def test_pairs_on_unknown_dimensions_are_dropped_and_counted(tmp_path):
    spec = _jsonl(tmp_path / "v.jsonl", [
        {"prompt": "p", "chosen": f"a{i}.mp4", "rejected": "b.mp4", "dataset": "d",
         "dimension": "smell"} for i in range(2)])
    rows, summary = build_pairs(PairsConfig(datasets=(spec,), negatives_per_video=0))
    assert rows == [] and dict(summary.dropped_dimensions) == {"d:smell": 2}


def test_a_taxonomy_file_maps_names_for_its_dataset_only(tmp_path):
    """{"datasets": {"d": {"smell": "dynamism"}}}: dataset d's "smell" scores and pairs land on
    dynamism; dataset e's "smell" is unknown there and is dropped and counted."""
    tax = tmp_path / "taxonomy.json"
    tax.write_text(json.dumps({"datasets": {"d": {"smell": "dynamism"}}}))
    spec = _jsonl(tmp_path / "s.jsonl", [
        {"video": "a.mp4", "prompt": "p", "dataset": "d", "scores": {"smell": 1}},
        {"video": "b.mp4", "prompt": "p", "dataset": "d", "scores": {"smell": 3}},
        {"video": "a.mp4", "prompt": "p", "dataset": "e", "scores": {"smell": 1}},
        {"prompt": "p", "chosen": "a.mp4", "rejected": "b.mp4", "dataset": "d",
         "dimension": "smell"},
    ])
    rows, summary = build_pairs(PairsConfig(datasets=(spec,), taxonomy_file=str(tax),
                                            negatives_per_video=0))
    assert sorted((r["dataset"], r["dimension"], r["kind"]) for r in rows) == [
        ("d", "dynamism", "score"), ("d", "dynamism", "vote")]
    assert dict(summary.dropped_dimensions) == {"e:smell": 1}


def _videofeedback(path: Path, scores: dict[str, int]) -> str:
    """VideoFeedback's layout (declared scale 1-4), one record a video, all for "a dog"."""
    question = 'For this video, the text prompt is "a dog",\nall the frames of video are as follows'
    records = [{"id": vid, "images": [f"{vid}_00.jpg"],
                "conversations": [{"from": "human", "value": question},
                                  {"from": "gpt", "value": f"visual quality: {s}"}]}
               for vid, s in scores.items()]
    path.write_text(json.dumps(records, indent=1))
    return f"videofeedback:{path}"


def test_a_declared_scale_is_used_after_files_without_one(tmp_path):
    """A generic file (no declared scale) first, then VideoFeedback (declared 1-4) with scores
    2 and 3: the scale is 3, so margin (3 - 2) / 3 = 0.333333 and the chosen video's score is
    (3 - 1) / 3 = 0.666667 (the observed 2..3 would give 1.0 for both)."""
    generic = _jsonl(tmp_path / "g.jsonl", [_scored("x.mp4", 0.0), _scored("y.mp4", 1.0)])
    vf = _videofeedback(tmp_path / "vf.json", {"v1": 2, "v2": 3})
    rows, _ = build_pairs(PairsConfig(datasets=(generic, vf), margin_frac=0.0,
                                      negatives_per_video=0))
    [row] = [r for r in rows if r["dataset"] == "videofeedback"]
    assert (row["dimension"], row["margin"], row["score_chosen"], row["score_rejected"]) == (
        "visual_aesthetics", 0.333333, 0.666667, 0.333333)


def test_every_voted_video_of_every_dataset_gets_its_negative(tmp_path):
    """Vote pairs only, two datasets x two prompts x one pair: 4 videos a dataset, each with one
    negative (a video of the dataset's other prompt), so 8 negative rows, 4 a dataset."""
    records = [{"prompt": prompt, "chosen": f"{ds}_{prompt}_c.mp4",
                "rejected": f"{ds}_{prompt}_r.mp4", "dataset": ds}
               for ds in ("d1", "d2") for prompt in ("cat", "dog")]
    rows, _ = build_pairs(PairsConfig(datasets=(_jsonl(tmp_path / "v.jsonl", records),),
                                      negatives_per_video=1))
    negatives = [r for r in rows if r["kind"] == "negative"]
    assert sorted(Path(r["chosen"]).name for r in negatives) == sorted(
        f"{ds}_{p}_{s}.mp4" for ds in ("d1", "d2") for p in ("cat", "dog") for s in "cr")
    for r in negatives:  # the rejected video answers the other prompt of the same dataset
        assert Path(r["rejected"]).name.split("_")[0] == Path(r["chosen"]).name.split("_")[0]
        assert r["rejected_prompt"] != r["prompt"]
