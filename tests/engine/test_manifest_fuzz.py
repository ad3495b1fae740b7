"""The manifest parser (score-dir --manifest, bulk) under fuzzing, as the prompts parser is
(test_prompts_fuzz.py): any bytes, as JSONL or CSV, give rows or a ManifestError naming the
file; never another exception (no traceback reaches the CLI), never a row it cannot write."""

import json

from hypothesis import given
from hypothesis import strategies as st

from cleverward.engine.manifest import ManifestError, read_manifest
from tests.fuzz import fuzz_settings, json_values

FUZZ = fuzz_settings(150)
values = json_values
objects = st.dictionaries(st.sampled_from(["video", "prompt", "id", "Video", "x"]), values,
                          max_size=4)
jsonl_lines = st.one_of(objects.map(json.dumps), values.map(json.dumps), st.text(max_size=30),
                        st.just('{"video": "a.mp4", "prompt": "\\ud800"}'),
                        st.just("[" * 5000 + "]" * 5000),
                        st.just('{"video": "a\\u0000.mp4", "prompt": "x"}'))
csv_cells = st.one_of(st.text(max_size=8), st.just('"'), st.just("a.mp4"), st.just(""))


def _check(path):
    try:
        rows = list(read_manifest(path))
    except ManifestError as exc:
        assert str(exc).startswith(f"{path}"), exc
        return
    for row in rows:
        assert row.line >= 1
        for text in (row.video, row.prompt, row.source, row.key):
            assert isinstance(text, str) and text
            text.encode("utf-8")  # writable into a row: no lone surrogate gets through
        assert "\0" not in row.video  # a path os.stat can take


def test_a_video_holding_nul_is_an_error_of_its_line(tmp_path):
    """Before: accepted, then score-dir died with a bare 'error: embedded null byte'."""
    for name, line, text in (("m.jsonl", 2, '{"video": "a.mp4", "prompt": "x"}\n'
                                            '{"video": "b\\u0000.mp4", "prompt": "x"}\n'),
                             ("m.csv", 3, 'video,prompt\na.mp4,x\n"b\0.mp4",x\n')):
        path = tmp_path / name
        path.write_text(text)
        try:
            list(read_manifest(path))
        except ManifestError as exc:
            assert str(exc) == f"{path}:{line}: 'video' holds a NUL character (not a file name)"
        else:
            raise AssertionError(f"{name}: a NUL in a video was accepted")


@FUZZ
@given(body=st.lists(jsonl_lines, max_size=5))
def test_fuzzed_jsonl_manifest(tmp_path, body):
    path = tmp_path / "m.jsonl"
    path.write_bytes("\n".join(body).encode("utf-8", "surrogatepass"))
    _check(path)


@FUZZ
@given(rows=st.lists(st.lists(csv_cells, min_size=1, max_size=4), max_size=4),
       header=st.sampled_from(["video,prompt", "video,prompt,id", "Video,prompt", "prompt"]))
def test_fuzzed_csv_manifest(tmp_path, rows, header):
    path = tmp_path / "m.csv"
    text = header + "\n" + "\n".join(",".join(r) for r in rows)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    _check(path)


@FUZZ
@given(data=st.binary(max_size=200), suffix=st.sampled_from([".jsonl", ".csv", ".parquet"]))
def test_fuzzed_manifest_bytes(tmp_path, data, suffix):
    path = tmp_path / f"m{suffix}"
    path.write_bytes(data)
    _check(path)
