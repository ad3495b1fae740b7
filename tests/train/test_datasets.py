"""Each adapter on a small fixture written in its real annotation layout."""

from __future__ import annotations

import json
import os

import pytest

from cleverward.train.datasets import FORMATS, AnnotationError, load_dataset, parse_spec
from cleverward.train.datasets.records import iter_json_records
from cleverward.train.datasets.videofeedback import prompt_from_question

# The VideoScore question template: note the *example* answer inside it.
QUESTION = (
    "Suppose you are an expert in judging and evaluating the quality of AI-generated videos,\n"
    "please watch the following frames of a given video and see the text prompt for generating "
    "the video,\nthen give scores from 5 different dimensions:\n"
    "(1) visual quality, the quality of the video in terms of clearness, resolution, brightness,"
    " and color\n(4) text-to-video alignment, the alignment between the text prompt and the "
    "video content\n"
    "For each dimension, output a number from [1,2,3,4],\n"
    "Here is an output example:\nvisual quality: 4\ntemporal consistency: 4\n"
    "dynamic degree: 3\ntext-to-video alignment: 1\nfactual consistency: 2\n\n"
    'For this video, the text prompt is "{prompt}",\n'
    "all the frames of video are as follows: \n\n<image> <image> <image>"
)


def _vf_record(vid: str, prompt: str, scores: tuple[int, ...], images=None) -> dict:
    names = ("visual quality", "temporal consistency", "dynamic degree",
             "text-to-video alignment", "factual consistency")
    answer = "\n".join(f"{n}: {s}" for n, s in zip(names, scores, strict=True))
    return {
        "id": vid,
        "images": images or [f"{vid}_00.jpg", f"{vid}_01.jpg", f"{vid}_02.jpg"],
        "conversations": [{"from": "human", "value": QUESTION.format(prompt=prompt)},
                          {"from": "gpt", "value": answer}],
    }


# -- T2VQA-DB --------------------------------------------------------------------------------

def test_t2vqa_reads_lines_skips_header_and_blanks(tmp_path):
    f = tmp_path / "info.txt"
    f.write_text("filename|prompt|MOS\n\n0001.mp4|a cat surfing|55.25\n"
                 "0002.mp4|a sign saying A|B|12\n")
    rec = load_dataset(f"t2vqa:{f}")
    assert [i.prompt for i in rec.scored] == ["a cat surfing", "a sign saying A|B"]
    assert rec.scored[0].scores == {"MOS": 55.25}
    assert rec.scored[0].video == os.path.normpath(tmp_path / "0001.mp4")
    assert rec.scored[0].dataset == "t2vqa"
    assert rec.scored[1].source == f"{f}:4"


def test_t2vqa_first_line_with_a_video_and_a_bad_mos_is_an_error_not_a_header(tmp_path):
    f = tmp_path / "info.txt"
    f.write_text("0000.mp4|a cat|abc\n0001.mp4|a cat|5\n")
    with pytest.raises(AnnotationError, match=rf"{f}:1: MOS 'abc' is not a number"):
        load_dataset(f"t2vqa:{f}")


def test_t2vqa_videos_root_and_bad_lines(tmp_path):
    f = tmp_path / "info.txt"
    f.write_text("0001.mp4|a cat|50\n")
    rec = load_dataset(f"t2vqa:{f}", videos_root=tmp_path / "vids")
    assert rec.scored[0].video == os.path.normpath(tmp_path / "vids" / "0001.mp4")
    f.write_text("0001.mp4|a cat|50\n\n0002.mp4|a dog|high\n")
    with pytest.raises(AnnotationError, match=rf"{f}:3: MOS 'high' is not a number"):
        load_dataset(f"t2vqa:{f}")
    f.write_text("0001.mp4|a cat|50\n0002.mp4 a dog 30\n")
    with pytest.raises(AnnotationError, match=rf"{f}:2: expected 'filename\|prompt\|MOS'"):
        load_dataset(f"t2vqa:{f}")


# -- VideoFeedback ---------------------------------------------------------------------------

def test_videofeedback_scores_from_answer_prompt_from_question(tmp_path):
    f = tmp_path / "data_annotated.json"
    records = [_vf_record("1006309", 'a "quoted" fox, at dusk', (3, 2, 4, 3, 2)),
               _vf_record("77", "a dog", (1, 1, 1, 4, 4))]
    f.write_text(json.dumps(records, indent=2))
    rec = load_dataset(f"videofeedback:{f}", videos_root=tmp_path / "frames_annotated")
    first, second = rec.scored
    assert first.prompt == 'a "quoted" fox, at dusk'
    assert first.scores == {"visual quality": 3, "temporal consistency": 2, "dynamic degree": 4,
                            "text-to-video alignment": 3, "factual consistency": 2}
    assert first.video == os.path.normpath(tmp_path / "frames_annotated" / "1006309")
    assert second.scores["text-to-video alignment"] == 4
    assert rec.score_range == (1.0, 4.0)
    assert first.source == f"{f}:2" and second.source.startswith(f"{f}:")
    assert int(second.source.rsplit(":", 1)[1]) > 2


def test_videofeedback_frame_folders_and_viewer_layout(tmp_path):
    f = tmp_path / "vf.jsonl"
    lines = [
        _vf_record("a", "p1", (2, 2, 2, 2, 2), images=["clips/a/f0.jpg", "clips/a/f1.jpg"]),
        _vf_record("b", "p2", (2, 2, 2, 2, 2), images=["videos/b.mp4"]),
        {"id": "c", "images": ["c_0.jpg"], "text prompt": "p3", "visual quality": 4,
         "dynamic degree": 1, "conversations": []},
    ]
    f.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    a, b, c = load_dataset(f"videofeedback:{f}").scored
    assert a.video == os.path.normpath(tmp_path / "clips/a")
    assert b.video == os.path.normpath(tmp_path / "videos/b.mp4")
    assert c.video == os.path.normpath(tmp_path / "c")
    assert (c.prompt, c.scores) == ("p3", {"visual quality": 4, "dynamic degree": 1})


def test_videofeedback_finds_the_release_frames_folder(tmp_path):
    f = tmp_path / "data_real.json"
    f.write_text(json.dumps([_vf_record("9", "p", (1, 1, 1, 1, 1))]))
    assert load_dataset(f"videofeedback:{f}").scored[0].video == os.path.normpath(tmp_path / "9")
    (tmp_path / "frames_real").mkdir()
    (video,) = [i.video for i in load_dataset(f"videofeedback:{f}").scored]
    assert video == os.path.normpath(tmp_path / "frames_real" / "9")


def test_videofeedback_errors_name_file_and_line(tmp_path):
    f = tmp_path / "vf.json"
    good = _vf_record("1", "p", (1, 2, 3, 4, 4))
    bad = _vf_record("2", "p", (1, 2, 3, 4, 5))
    f.write_text("[\n" + json.dumps(good) + ",\n" + json.dumps(bad) + "\n]")
    with pytest.raises(AnnotationError, match=rf"{f}:3: scores outside 1-4"):
        load_dataset(f"videofeedback:{f}")
    no_prompt = {**good, "conversations": [{"from": "human", "value": "rate it"},
                                           good["conversations"][1]]}
    f.write_text(json.dumps([no_prompt]))
    with pytest.raises(AnnotationError, match=rf"{f}:1: no prompt found"):
        load_dataset(f"videofeedback:{f}")


@pytest.mark.parametrize("record, message", [
    ({"visual quality": "high"}, "non-numeric scores: {'visual quality': 'high'}"),
    ({"visual quality": "inf"}, "non-numeric scores: {'visual quality': 'inf'}"),  # not finite
    ({"conversations": [{"from": "human", "value": 'the text prompt is "p",\n'}]},
     "no gpt/assistant turn in conversations"),
    ({"conversations": [{"from": "human", "value": 'the text prompt is "p",\n'},
                        {"from": "gpt", "value": "a fine video"}]},
     "no 'dimension: score' lines in the answer"),
])
def test_videofeedback_score_errors_name_file_and_line(tmp_path, record, message):
    """Line 1 is good; line 2 lacks usable scores, and the error names file:2 and why."""
    f = tmp_path / "vf.jsonl"
    bad = {**_vf_record("2", "p", (1, 1, 1, 1, 1)), **record}
    f.write_text(json.dumps(_vf_record("1", "p", (1, 2, 3, 4, 4))) + "\n" + json.dumps(bad))
    with pytest.raises(AnnotationError) as err:
        load_dataset(f"videofeedback:{f}")
    assert str(err.value) == f"{f}:2: {message}"


def test_videofeedback_reads_an_assistant_turn():
    """OpenAI-style turns say "assistant" where the release says "gpt": same scores."""
    from pathlib import Path

    from cleverward.train.datasets.videofeedback import _scores

    turns = [{"from": "user", "value": "rate"},
             {"from": "Assistant", "value": "visual quality: 3\ndynamic degree: 1.5"}]
    assert _scores({"conversations": turns}, Path("x.json"), 1) == {"visual quality": 3.0,
                                                                     "dynamic degree": 1.5}


def test_prompt_from_question_fallbacks():
    assert prompt_from_question('the text prompt is "x y",\nall the frames') == "x y"
    assert prompt_from_question("Prompt: a red ball\n<image>") == "a red ball"
    assert prompt_from_question("nothing here") is None


# -- GenAI-Bench -----------------------------------------------------------------------------

def test_genai_bench_votes(tmp_path):
    f = tmp_path / "video_generation.jsonl"
    votes = ["leftvote", "rightvote", "tievote", "bothbad_vote"]
    f.write_text("".join(json.dumps({"id": i, "prompt": f"p{i}", "video_left": f"l{i}.mp4",
                                     "video_right": f"r{i}.mp4", "vote_type": v}) + "\n"
                         for i, v in enumerate(votes)))
    pairs = load_dataset(f"genai-bench:{f}").pairs
    names = [(os.path.basename(p.chosen), os.path.basename(p.rejected), p.tie, p.vote)
             for p in pairs]
    assert names == [("l0.mp4", "r0.mp4", False, "leftvote"),
                     ("r1.mp4", "l1.mp4", False, "rightvote"),
                     ("l2.mp4", "r2.mp4", True, "tievote"),
                     ("l3.mp4", "r3.mp4", True, "bothbad_vote")]
    assert {p.dimension for p in pairs} == {"vote"} and pairs[0].dataset == "genai-bench"


def test_genai_bench_hf_field_names_urls_and_bad_vote(tmp_path):
    f = tmp_path / "gb.json"
    rec = {"prompt": "p", "left_video": "https://x.org/v/abc.mp4", "right_video": "d.mp4",
           "vote_type": "rightvote"}
    f.write_text(json.dumps([rec]))
    (pair,) = load_dataset(f"genai-bench:{f}", videos_root=tmp_path / "cache").pairs
    assert pair.rejected == os.path.normpath(tmp_path / "cache" / "abc.mp4")
    f.write_text(json.dumps(rec) + "\n" + json.dumps({**rec, "vote_type": "meh"}) + "\n")
    with pytest.raises(AnnotationError, match=rf"{f}:2: vote_type 'meh'"):
        load_dataset(f"genai-bench:{f}")


@pytest.mark.parametrize("record, message", [
    ({"prompt": "p", "video_left": "l.mp4", "video_right": "r.mp4", "vote_type": "leftvote",
      "Prompt": "q"}, "unknown key 'Prompt' (did you mean 'prompt'?)"),
    ({"video_left": "l.mp4", "video_right": "r.mp4", "vote_type": "leftvote"},
     "'prompt' must be a non-empty string, got None"),
    ({"prompt": "p", "video_left": "", "video_right": "r.mp4", "vote_type": "leftvote"},
     "'video_left' must be a non-empty string, got ''"),
    ({"prompt": "p", "video_left": "l.mp4", "right_video": " ", "vote_type": "leftvote"},
     "'right_video' must be a non-empty string, got ' '"),
    ({"prompt": "p", "video_left": "../l.mp4", "video_right": "r.mp4", "vote_type": "leftvote"},
     "video path '../l.mp4' leaves the videos root"),
    ({"prompt": "p", "video_left": "l.mp4", "video_right": "../r.mp4", "vote_type": "leftvote"},
     "video path '../r.mp4' leaves the videos root"),
    ({"prompt": "p", "video_left": "l.mp4", "video_right": "r.mp4", "vote_type": 3},
     "vote_type 3 not one of leftvote, rightvote, tievote, bothbad_vote"),
])
def test_genai_bench_bad_record_names_its_line(tmp_path, record, message):
    """Line 1 is good (with a field the release adds, which is no error); line 2 is not."""
    f = tmp_path / "gb.jsonl"
    good = {"id": 1, "prompt": "a cat", "video_left": "l.mp4", "video_right": "r.mp4",
            "vote_type": " RightVote ", "model": "m1"}
    f.write_text(json.dumps(good) + "\n")
    (pair,) = load_dataset(f"genai-bench:{f}").pairs
    assert (pair.prompt, pair.source, pair.vote) == ("a cat", f"{f}:1", "rightvote")
    assert (pair.chosen, pair.rejected) == (str(tmp_path / "r.mp4"), str(tmp_path / "l.mp4"))
    f.write_text(json.dumps(good) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(AnnotationError) as err:
        load_dataset(f"genai-bench:{f}")
    assert str(err.value).startswith(f"{f}:2: {message}")


# -- VideoGen-RewardBench --------------------------------------------------------------------

VGRB_HEADER = ("path_A,path_B,A_model,B_model,prompt,VQ,MQ,TA,Overall,"
               "fps_A,num_frames_A,fps_B,num_frames_B\n")


def test_videogen_rewardbench_pairs_per_dimension(tmp_path):
    f = tmp_path / "videogen-rewardbench.csv"
    f.write_text(VGRB_HEADER
                 + 'videos/a.mp4,videos/b.mp4,m1,m2,"a cat, jumping",A,B,same,A,8,49,24,121\n'
                 + "videos/c.mp4,videos/d.mp4,m1,m3,a dog,,B,A,,8,49,8,49\n")
    pairs = load_dataset(f"videogen-rewardbench:{f}").pairs
    got = [(p.dimension, os.path.basename(p.chosen), p.tie, p.vote, p.prompt) for p in pairs]
    assert got == [
        ("VQ", "a.mp4", False, "A", "a cat, jumping"), ("MQ", "b.mp4", False, "B",
                                                        "a cat, jumping"),
        ("TA", "a.mp4", True, "same", "a cat, jumping"), ("Overall", "a.mp4", False, "A",
                                                          "a cat, jumping"),
        ("MQ", "d.mp4", False, "B", "a dog"), ("TA", "c.mp4", False, "A", "a dog"),
    ]
    assert pairs[-1].source == f"{f}:3"
    assert {p.dataset for p in pairs} == {"videogen-rewardbench"}
    assert [os.path.basename(p.rejected) for p in pairs[:2]] == ["b.mp4", "a.mp4"]


@pytest.mark.parametrize("fields, message", [
    ('"",b.mp4,m,n,p', "'path_A' must be a non-empty string, got ''"),
    ('a.mp4,"",m,n,p', "'path_B' must be a non-empty string, got ''"),
    ('../x.mp4,b.mp4,m,n,p', "video path '../x.mp4' leaves the videos root"),
    ('a.mp4,../x.mp4,m,n,p', "video path '../x.mp4' leaves the videos root"),
    ('a.mp4,b.mp4,m,n,""', "'prompt' must be a non-empty string, got ''"),
    ('a.mp4,b.mp4,m,n,"a\ncat"', "prompt holds a line break (an unbalanced quote?)"),
    ('a.mp4,b.mp4,m,n,"a\rcat"', "prompt holds a line break (an unbalanced quote?)"),
])
def test_videogen_rewardbench_bad_row_names_its_line(tmp_path, fields, message):
    """Row 1 (line 2) is good; the bad row starts on line 3 and its error names f:3."""
    f = tmp_path / "vgrb.csv"
    f.write_bytes((VGRB_HEADER + "a.mp4,b.mp4,m,n,p,A,A,A,A,8,9,8,9\n"
                   + fields + ",A,A,A,A,8,9,8,9\n").encode())
    with pytest.raises(AnnotationError) as err:
        load_dataset(f"videogen-rewardbench:{f}")
    assert str(err.value).startswith(f"{f}:3: {message}")


def test_videogen_rewardbench_bad_label_and_header(tmp_path):
    f = tmp_path / "vgrb.csv"
    f.write_text(VGRB_HEADER + "a.mp4,b.mp4,m,n,p,A,A,A,A,8,9,8,9\n"
                 + "a.mp4,b.mp4,m,n,p,A,C,A,A,8,9,8,9\n")
    with pytest.raises(AnnotationError, match=rf"{f}:3: MQ label 'C'"):
        load_dataset(f"videogen-rewardbench:{f}")
    f.write_text("path_A,prompt,VQ\na,p,A\n")
    with pytest.raises(AnnotationError, match=rf"{f}:1: header lacks column\(s\) path_B"):
        load_dataset(f"videogen-rewardbench:{f}")


# -- generic JSONL ---------------------------------------------------------------------------

def test_generic_scored_and_pair_records(tmp_path):
    f = tmp_path / "labels.jsonl"
    f.write_text(
        json.dumps({"video": "a.mp4", "prompt": "p", "scores": {"overall": 0.5, "TA": 1}})
        + "\n\n"
        + json.dumps({"video": "b.mp4", "prompt": "p", "scores": {"x": 2}, "dataset": "mine"})
        + "\n"
        + json.dumps({"prompt": "p", "chosen": "a.mp4", "rejected": "b.mp4"}) + "\n"
        + json.dumps({"prompt": "p", "chosen": "a.mp4", "rejected": "b.mp4", "tie": True,
                      "dimension": "VQ", "vote": "same"}) + "\n"
    )
    rec = load_dataset(f"jsonl:{f}")
    assert [i.dataset for i in rec.scored] == ["labels", "mine"]
    assert rec.scored[0].scores == {"overall": 0.5, "TA": 1.0}
    assert rec.scored[0].video == os.path.normpath(tmp_path / "a.mp4")
    assert [i.source for i in rec.scored] == [f"{f}:1", f"{f}:3"]  # line 2 is blank
    assert [(p.dimension, p.tie, p.vote) for p in rec.pairs] == [("overall", False, None),
                                                                 ("VQ", True, "same")]
    assert rec.pairs[1].source == f"{f}:5"


@pytest.mark.parametrize("scores, message", [
    ({}, "'scores' must be a non-empty object"), ({"": 1}, "'scores' has an empty dimension name"),
])
def test_generic_scores_shape_errors_are_exact(tmp_path, scores, message):
    f = tmp_path / "g.jsonl"
    f.write_text(json.dumps({"video": "a.mp4", "prompt": "p", "scores": scores}) + "\n")
    with pytest.raises(AnnotationError) as err:
        load_dataset(f"jsonl:{f}")
    assert str(err.value) == f"{f}:1: {message}"


@pytest.mark.parametrize("line, message", [
    ({"prompt": "p", "video": "a.mp4"}, "expected a scored record"),
    ({"video": "a.mp4", "prompt": "p", "scores": {"o": "hi"}}, "non-numeric score"),
    ({"video": "a.mp4", "prompt": "", "scores": {"o": 1}}, "'prompt' must be a non-empty"),
    ({"prompt": "p", "chosen": "a", "rejected": "b", "tie": "yes"}, "'tie' must be true"),
    ([1, 2], "expected a JSON object"),
    # every check of a scored record, each on line 2 (a score is a finite number, named)
    ({"video": "a.mp4", "prompt": "p", "scores": {}}, "'scores' must be a non-empty object"),
    ({"video": "a.mp4", "prompt": "p", "scores": [1]}, "'scores' must be a non-empty object"),
    ({"video": "a.mp4", "prompt": "p", "scores": {" ": 1}}, "'scores' has an empty dimension"),
    ({"video": "a.mp4", "prompt": "p", "scores": {"a": "x", "b": None, "c": 1}},
     r"non-numeric score\(s\) for a, b \(scores"),
    ({"video": "a.mp4", "prompt": "p", "scores": {"o": 1}, "extra": 1}, "unknown key 'extra'"),
    ({"prompt": "p", "scores": {"o": 1}, "video": ""}, "'video' must be a non-empty string"),
    ({"video": "a.mp4", "prompt": "p", "scores": {"o": 1}, "dataset": 3},
     "'dataset' must be a non-empty string"),
    ({"video": "../a.mp4", "prompt": "p", "scores": {"o": 1}}, "leaves the videos root"),
])
def test_generic_bad_lines_name_file_and_line(tmp_path, line, message):
    f = tmp_path / "g.jsonl"
    f.write_text(json.dumps({"video": "a.mp4", "prompt": "p", "scores": {"o": 1}}) + "\n"
                 + json.dumps(line) + "\n")
    with pytest.raises(AnnotationError, match=rf"{f}:2: .*{message}"):
        load_dataset(f"jsonl:{f}")


def test_invalid_json_names_line(tmp_path):
    f = tmp_path / "g.jsonl"
    f.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(AnnotationError, match=rf"{f}:2: invalid JSON"):
        list(iter_json_records(f))
    f.write_text('[\n {"a": 1},\n {"a": 2}\n {"a": 3}\n]')
    with pytest.raises(AnnotationError, match=rf"{f}:4: expected ','"):
        list(iter_json_records(f))
    f.write_text('[\n {"a": 1},\n\n {"a": 2}\n]')
    assert list(iter_json_records(f)) == [(2, {"a": 1}), (4, {"a": 2})]


# -- registry --------------------------------------------------------------------------------

def test_registry_specs(tmp_path):
    assert set(FORMATS) == {"t2vqa", "videofeedback", "genai-bench", "videogen-rewardbench",
                            "jsonl"}
    assert parse_spec("T2VQA:a/b.txt") == ("t2vqa", parse_spec("t2vqa:a/b.txt")[1])
    with pytest.raises(ValueError, match="unknown format 'csv'"):
        parse_spec("csv:x.csv")
    with pytest.raises(ValueError, match="expected FORMAT:PATH"):
        parse_spec("x.jsonl")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_dataset(f"jsonl:{tmp_path / 'nope.jsonl'}")
