"""The output readers trust nothing: torn or invalid rows are dropped and counted, in every
format; no score is ever NaN or Inf on the way in or out. Fuzzed with hypothesis."""

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cleverward.engine.output import (
    NON_FINITE,
    OutputError,
    RowWriter,
    make_row,
    read_output,
    row_problem,
)

FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def good(video="a.mp4", score=0.25):
    return make_row(video, "p", [score] * 7, "m")


def test_make_row_turns_non_finite_scores_into_an_error_row():
    for bad in (math.nan, math.inf, -math.inf):
        row = make_row("a.mp4", "p", [0.1, 0.2, bad, 0.3, 0.4, 0.5, 0.6], "m")
        assert row["score"] is None and row["dimensions"] is None and row["error"] == NON_FINITE


@pytest.mark.parametrize("line, why", [
    ('"score": "high"', "'score' is 'high', not a finite number"),
    ('"score": NaN', "'score' is nan, not a finite number"),
    ('"score": Infinity', "'score' is inf, not a finite number"),
    ('"score": true', "'score' is True, not a finite number"),
    ('"video": 42', "'video' is 42, not a non-empty string"),
    ('"model": null', "'model' is None, not a non-empty string"),
    ('"error": 7', "'error' is 7, not a string or null"),
])
def test_jsonl_reader_drops_invalid_rows_and_says_why(tmp_path, line, why):
    row = json.dumps(good())
    key = line.split(":")[0].strip('"')
    bad = json.dumps({k: v for k, v in good("b.mp4").items() if k != key})[:-1] + f", {line}}}"
    path = tmp_path / "s.jsonl"
    path.write_text(row + "\n" + bad + "\n" + row.replace("a.mp4", "c.mp4") + "\n")
    read = read_output(path, "jsonl")
    assert [r["video"] for r in read.rows] == ["a.mp4", "c.mp4"]
    assert read.dropped == 1 and read.problems == [f"{path}:2: {why}"]


def test_nan_in_a_dimension_is_dropped(tmp_path):
    row = good()
    row["dimensions"]["dynamism"] = float("nan")
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(good("x.mp4")) + "\n" + json.dumps(row) + "\n")
    read = read_output(path, "jsonl")
    assert len(read.rows) == 1 and "dimension 'dynamism' is nan" in read.problems[0]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_torn_last_row_is_dropped_not_kept_beside_the_rescored_one(tmp_path, fmt):
    """Before: a CSV cut mid-row kept the torn row forever (121 rows for 120)."""
    path = tmp_path / f"s.{fmt}"
    with RowWriter(path, fmt) as w:
        for i in range(3):
            w.write(good(f"v{i}.mp4"))
    whole = path.read_bytes()
    last_start = whole.rstrip(b"\n").rfind(b"\n") + 1
    path.write_bytes(whole[: last_start + 20])  # the last row cut 20 bytes in
    read = read_output(path, fmt)
    assert [r["video"] for r in read.rows] == ["v0.mp4", "v1.mp4"] and read.dropped == 1
    assert "torn last line" in read.problems[0]


def test_csv_and_parquet_readers_drop_bad_values(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cleverward.engine.output import CSV_COLUMNS, _flatten

    csv_path = tmp_path / "s.csv"
    with RowWriter(csv_path, "csv") as w:
        w.write(good("a.mp4"))
    text = csv_path.read_text()
    csv_path.write_text(text + "b.mp4,p,high" + ",0.1" * 6 + ",m,\n" + "c.mp4,p,nan" + ",0.1" * 6
                        + ",m,\n" + "d.mp4,p\n")
    read = read_output(csv_path, "csv")
    assert [r["video"] for r in read.rows] == ["a.mp4"] and read.dropped == 3
    assert read.problems == [f"{csv_path}:3: 'high' is not a number",
                             f"{csv_path}:4: 'score' is nan, not a finite number",
                             f"{csv_path}:5: wrong number of fields"]
    flat = [_flatten(good("a.mp4")), {**_flatten(good("b.mp4")), "score": float("inf")}]
    schema = pa.schema([(c, pa.float64() if c not in ("video", "prompt", "model", "error")
                         else pa.string()) for c in CSV_COLUMNS])
    pq.write_table(pa.Table.from_pylist(flat, schema=schema), tmp_path / "s.parquet")
    read = read_output(tmp_path / "s.parquet", "parquet")
    assert [r["video"] for r in read.rows] == ["a.mp4"] and read.dropped == 1


def test_writer_never_writes_nan(tmp_path):
    path = tmp_path / "s.jsonl"
    with RowWriter(path, "jsonl") as w, pytest.raises(ValueError, match="not JSON compliant"):
        w.write({**good(), "score": float("nan")})  # a row that skipped make_row is refused


lines = st.one_of(
    st.builds(lambda r: json.dumps(r), st.fixed_dictionaries({
        "video": st.one_of(st.text(min_size=1), st.integers(), st.none()),
        "prompt": st.text(min_size=1),
        "score": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none(), st.text()),
        "dimensions": st.one_of(st.none(), st.dictionaries(st.text(), st.floats())),
        "model": st.just("m"), "error": st.one_of(st.none(), st.text())})),
    st.builds(lambda: json.dumps(good())),
    st.text(),
)


def _only_valid_rows_or_a_named_error(path, fmt: str, why: str = "") -> None:
    """read_output gives only valid rows with finite scores, or an OutputError naming the file
    (and, when given, saying `why`); any other exception fails the test."""
    try:
        read = read_output(path, fmt)
    except OutputError as exc:
        assert str(exc).startswith(f"{path}: {why}" if why else f"{path}:")
        return
    assert all(row_problem(r) is None for r in read.rows)
    assert all(r["score"] is None or math.isfinite(r["score"]) for r in read.rows)


@FUZZ
@given(body=st.lists(lines, max_size=8), tail=st.binary(max_size=40))
def test_fuzzed_jsonl_reads_back_only_valid_rows(tmp_path, body, tail):
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes("\n".join(body).encode("utf-8", "surrogatepass") + b"\n" + tail)
    _only_valid_rows_or_a_named_error(path, "jsonl", "not a JSONL score file")


@FUZZ
@given(data=st.binary(max_size=300))
def test_fuzzed_csv_bytes_never_raise_anything_but_a_named_error(tmp_path, data):
    path = tmp_path / "fuzz.csv"
    with RowWriter(path, "csv") as w:
        w.write(good())
    path.write_bytes(path.read_bytes() + data)
    _only_valid_rows_or_a_named_error(path, "csv")


@FUZZ
@given(cut=st.integers(min_value=0, max_value=4000),
       flips=st.lists(st.tuples(st.integers(min_value=0, max_value=4000),
                                st.integers(min_value=0, max_value=255)), max_size=4))
def test_fuzzed_parquet_bytes_never_raise_anything_but_a_named_error(tmp_path, cut, flips):
    """The third reader, as the two above: a Parquet output cut anywhere or with bytes changed
    (its footer, its pages) is a named OutputError or valid rows, never another exception."""
    path = tmp_path / "fuzz.parquet"
    with RowWriter(path, "parquet") as w:
        for _ in range(3):
            w.write(good())
    data = bytearray(path.read_bytes())
    for pos, value in flips:
        data[pos % len(data)] = value
    path.write_bytes(bytes(data[: len(data) - cut % len(data)]))
    _only_valid_rows_or_a_named_error(path, "parquet")
