"""Property-based fuzzing of every annotation adapter and the pairs reader (hypothesis).

The property, for any input: the reader either returns records that hold only what later
stages can take (video paths inside the videos root, finite scores, strings that encode as
UTF-8), or raises the project's own AnnotationError whose message is one line starting
`<file>:<line>: `. Any other exception (TypeError, RecursionError, UnicodeDecodeError,
csv.Error, ...) fails the test. Inputs come from three sources per format: raw bytes; text
spliced from the format's own tokens (delimiters, quotes, paths that climb out, NaN, Latin-1
bytes); and JSON records whose keys are the format's (and near misses) and whose values are
any JSON. Bounded: 100-150 examples a test, no deadline (~20 s for the file here).
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cleverward.train.datasets import AnnotationError, load_dataset
from cleverward.train.pairs_io import COLUMNS, make_row, read_pairs

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
FUZZ_RECORDS = settings(FUZZ, max_examples=100)

FORMATS = {  # format -> (file name, the keys its records use)
    "t2vqa": ("info.txt", ()),
    "videofeedback": ("data.json", ("id", "images", "conversations", "text prompt", "prompt",
                                    "visual quality", "from", "value")),
    "genai-bench": ("gb.jsonl", ("id", "prompt", "video_left", "video_right", "left_video",
                                 "right_video", "vote_type")),
    "videogen-rewardbench": ("vg.csv", ()),
    "jsonl": ("g.jsonl", ("video", "prompt", "scores", "dataset", "chosen", "rejected",
                          "dimension", "tie", "vote")),
}
TOKENS = ["a.mp4", "b.webm", "../", "../../etc/passwd", "/etc/passwd", "|", ",", '"', "'",
          "\n", "\r\n", " ", "A", "B", "same", "nan", "inf", "-1e999", "3", "4.5", "prompt",
          "path_A", "path_B", "VQ", "MQ", "Overall", "http://h/x.mp4", "https://h/..", "\x00",
          "\u2028", "\ufeff", "\ud800", "caf\xe9", "{", "}", "[", "]", ":", "NaN", "true"]
SCALARS = (st.none() | st.booleans() | st.integers(-10**20, 10**20)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
           | st.sampled_from(["a.mp4", "../../x.mp4", "/abs/y.mp4", "leftvote", "tievote",
                              "visual quality: 3\ntext-to-video alignment: 9", "\ud800"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
NASTY = st.sampled_from(["../../x.mp4", "/abs/y.mp4", "\ud800", "", 42, True, None,
                         float("nan"), float("inf"), "yes", [], {}, "a\x00b"])
WHERE = re.compile(r"^(?P<file>.+?):(?P<line>\d+): \S")


def _token_text(draw_list: list[str]) -> bytes:
    return "".join(draw_list).encode("utf-8", "surrogatepass")


GOOD = {  # a record each format accepts; the fuzzer overrides some of its keys
    "videofeedback": [{"id": "1", "images": ["1_00.jpg"], "conversations": [
        {"from": "human", "value": 'the text prompt is "a cat",\nall the frames'},
        {"from": "gpt", "value": "visual quality: 3"}]}],
    "genai-bench": [{"prompt": "a cat", "video_left": "a.mp4", "video_right": "b.mp4",
                     "vote_type": "leftvote"}],
    "jsonl": [{"video": "a.mp4", "prompt": "a cat", "scores": {"overall": 3}},
              {"prompt": "a cat", "chosen": "a.mp4", "rejected": "b.mp4"}],
}


def _records(fmt: str):
    keys = FORMATS[fmt][1]
    key = st.sampled_from(keys + tuple(k.capitalize() for k in keys))
    mutated = st.tuples(st.sampled_from(GOOD[fmt]),
                        st.dictionaries(key, NASTY | JSON, max_size=3),
                        st.lists(key, max_size=2)).map(
        lambda t: {k: v for k, v in {**t[0], **t[1]}.items() if k not in t[2]})
    return st.lists(mutated | JSON, max_size=3)


def _as_file(records: list, array: bool) -> bytes:
    if array:
        text = json.dumps(records, indent=1)
    else:
        text = "\n".join(json.dumps(r) for r in records)
    return text.encode("utf-8", "surrogatepass")  # json.dumps escapes: \ud800 stays ASCII


def _check_outcome(load, f: Path, root: Path) -> None:
    try:
        records = load()
    except AnnotationError as exc:
        message = str(exc)
        m = WHERE.match(message)
        assert m and m["file"] == str(f) and int(m["line"]) >= 1, message
        assert "\n" not in message and "\r" not in message
        return
    _check_records(records, root)


def _inside(path: str, root: Path) -> bool:
    base = os.path.abspath(root)
    return os.path.commonpath([base, os.path.abspath(path)]) == base


def _check_records(records, root: Path) -> None:
    for item in records.scored:
        assert _inside(item.video, root), item.video
        assert all(math.isfinite(v) for v in item.scores.values())
        item.prompt.encode("utf-8")
    for pair in records.pairs:
        assert _inside(pair.chosen, root) and _inside(pair.rejected, root)
        pair.prompt.encode("utf-8")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "videos").mkdir()
    return root


def _write_and_check(work: Path, fmt: str, data: bytes) -> None:
    name = FORMATS[fmt][0]
    f = work / name
    f.write_bytes(data)
    root = work / "videos"
    _check_outcome(lambda: load_dataset(f"{fmt}:{f}", videos_root=root), f, root)


@pytest.mark.parametrize("fmt", list(FORMATS))
@FUZZ
@given(data=st.binary(max_size=200))
def test_adapters_on_raw_bytes(work, fmt, data):
    _write_and_check(work, fmt, data)


@pytest.mark.parametrize("fmt", list(FORMATS))
@FUZZ
@given(tokens=st.lists(st.sampled_from(TOKENS), max_size=40))
def test_adapters_on_spliced_tokens(work, fmt, tokens):
    head = {"videogen-rewardbench": "path_A,path_B,prompt,VQ,Overall\n"}.get(fmt, "")
    _write_and_check(work, fmt, head.encode() + _token_text(tokens))


@pytest.mark.parametrize("fmt", ["videofeedback", "genai-bench", "jsonl"])
@FUZZ_RECORDS
@given(data=st.data())
def test_json_adapters_on_records_of_their_keys(work, fmt, data):
    records = data.draw(_records(fmt))
    _write_and_check(work, fmt, _as_file(records, array=data.draw(st.booleans())))


# -- the pairs reader --------------------------------------------------------------------------

def _pair_rows():
    good = make_row("d", "overall", "a cat", "a.mp4", "b.mp4", kind="score", margin=0.5)
    mutated = st.fixed_dictionaries({}, optional={
        k: NASTY | JSON for k in (*COLUMNS, "Chosen", "extra")}).map(lambda d: {**good, **d})
    return st.lists(mutated | JSON, max_size=4)


@FUZZ_RECORDS
@given(data=st.data())
def test_pairs_reader_on_mutated_rows(work, data):
    f = work / "pairs.jsonl"
    f.write_bytes(_as_file(data.draw(_pair_rows()), array=False))
    try:
        rows = read_pairs(f)
    except AnnotationError as exc:
        m = WHERE.match(str(exc))
        assert m and m["file"] == str(f) and "\n" not in str(exc), str(exc)
        return
    for row in rows:  # what the trainer and evaluation index without further checks
        assert all(isinstance(row[c], str) and row[c] for c in ("prompt", "chosen", "rejected"))
        assert isinstance(row["tie"], bool) and math.isfinite(row["margin"])
        json.dumps(row, allow_nan=False).encode("utf-8")


@FUZZ
@given(tokens=st.lists(st.sampled_from(TOKENS + ['"margin": ', '"tie": ', '"chosen": ']),
                       max_size=40))
def test_pairs_reader_on_spliced_tokens(work, tokens):
    f = work / "pairs.jsonl"
    f.write_bytes(_token_text(tokens))
    try:
        read_pairs(f)
    except AnnotationError as exc:
        m = WHERE.match(str(exc))
        assert m and m["file"] == str(f) and "\n" not in str(exc), str(exc)
