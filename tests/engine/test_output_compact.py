"""The compaction's two passes against a brute force: random outputs with repeated keys,
withdrawals and error rows keep exactly read_output's rows, in its order."""

import random

import pytest

from cleverward.engine import output_compact
from cleverward.engine.output import (
    WITHDRAWN,
    OutputError,
    RowWriter,
    make_row,
    read_output,
    row_key,
)
from cleverward.engine.output_compact import compact_output, last_positions


def random_rows(rng: random.Random, n: int) -> list[dict]:
    rows = []
    for _ in range(n):
        video, prompt, model = (f"v{rng.randrange(6)}.mp4", f"p{rng.randrange(3)}",
                                rng.choice(["m", "m@1", "other"]))
        kind = rng.random()
        if kind < 0.15:
            rows.append(make_row(video, prompt, None, model, WITHDRAWN))
        elif kind < 0.25:
            rows.append(make_row(video, prompt, None, model, "not a readable video"))
        else:
            rows.append(make_row(video, prompt, [rng.uniform(-1, 1)] * 7, model))
    return rows


@pytest.mark.parametrize("seed", range(6))
def test_last_positions_match_a_brute_force(tmp_path, seed):
    rng = random.Random(seed)
    rows = random_rows(rng, rng.randrange(1, 120))
    path = tmp_path / "s.jsonl"
    with RowWriter(path, "jsonl") as w:
        for r in rows:
            w.write(r)
    keep, dropped = last_positions(path, "jsonl")
    last = {row_key(r): i for i, r in enumerate(rows)}
    assert keep.tolist() == [last[row_key(r)] == i for i, r in enumerate(rows)]
    assert dropped == 0


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_compacted_rows_equal_the_readers_rows(tmp_path, fmt):
    rng = random.Random(7)
    rows = random_rows(rng, 300)
    path = tmp_path / f"s.{fmt}"
    with RowWriter(path, fmt) as w:
        for r in rows:
            w.write(r)
    expected = read_output(path, fmt).rows
    done = compact_output(path, fmt)
    assert read_output(path, fmt).rows == expected
    assert (done.rows_before, done.rows_after) == (300, len(expected))
    assert done.superseded + done.tombstones + done.rows_after == 300
    assert done.tombstones == sum(
        r["error"] == WITHDRAWN for r in {row_key(r): r for r in rows}.values())
    assert done.bytes_after == path.stat().st_size < done.bytes_before
    again = compact_output(path, fmt)  # already compact: nothing more goes
    assert (again.rows_before, again.rows_after, again.superseded) == (len(expected),) * 2 + (0,)


def test_a_file_that_changes_between_the_passes_is_left_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "s.jsonl"
    with RowWriter(path, "jsonl") as w:
        for r in random_rows(random.Random(1), 20):
            w.write(r)
    first = last_positions

    def then_append(p, fmt):
        keep = first(p, fmt)
        with RowWriter(p, fmt, append=True) as w:  # a writer that ignores the lock
            w.write(make_row("late.mp4", "p", [0.3] * 7, "m"))
        return keep

    monkeypatch.setattr(output_compact, "last_positions", then_append)
    with pytest.raises(OutputError, match="changed while it was compacted"):
        compact_output(path, "jsonl")
    assert path.read_bytes().count(b"\n") == 21  # the 20 rows and the late one, not rewritten
    assert not list(tmp_path.glob(".s.jsonl.compact.*"))
