"""The prompts parser under fuzzing: any bytes give entries or a PromptsError whose every problem
names the file (and line); never another exception, never a prompt that cannot be written."""

import json

from hypothesis import given
from hypothesis import strategies as st

from cleverward.engine.prompts import PromptsError, parse_prompts
from tests.fuzz import fuzz_settings, json_values

FUZZ = fuzz_settings(200)
values = json_values
objects = st.dictionaries(st.sampled_from(["prompt", "video", "Video", "PROMPT", "x"]), values,
                          max_size=3)
lines = st.one_of(objects.map(json.dumps), values.map(json.dumps), st.text(max_size=30),
                  st.just('{"prompt": "\\ud800"}'), st.just("[" * 5000 + "]" * 5000))


def _check(path, videos):
    try:
        entries = parse_prompts(path, videos)
    except PromptsError as exc:
        assert exc.problems and all(p.startswith(f"{path}") for p in exc.problems)
        return
    for e in entries:
        assert isinstance(e.prompt, str) and e.prompt.strip() and e.line >= 1
        e.prompt.encode("utf-8")  # writable: no lone surrogate gets through
        assert e.video is None or (videos / e.video).exists()


@FUZZ
@given(body=st.lists(lines, max_size=6))
def test_fuzzed_prompt_lines(tmp_path, body):
    videos = tmp_path / "videos"
    videos.mkdir(exist_ok=True)
    (videos / "a.mp4").write_bytes(b"x")
    path = tmp_path / "p.jsonl"
    path.write_bytes("\n".join(body).encode("utf-8", "surrogatepass"))
    _check(path, videos)


@FUZZ
@given(data=st.binary(max_size=200))
def test_fuzzed_prompt_bytes(tmp_path, data):
    videos = tmp_path / "videos"
    videos.mkdir(exist_ok=True)
    path = tmp_path / "p.jsonl"
    path.write_bytes(data)
    _check(path, videos)
