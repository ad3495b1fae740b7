"""`cleverward compare`: exit codes, the JSON, the tables and the errors (rows written here)."""

from __future__ import annotations

import json

import pytest

from tests.cli.run import run_cli


def _rows(path, table: dict[str, list[float]], model="m", prompts=None):
    """table: generator -> overall score per prompt (None = no row for that prompt)."""
    lines = []
    for gen, scores in table.items():
        for p, s in enumerate(scores):
            if s is not None:
                prompt = prompts[p] if prompts else f"prompt {p}"
                lines.append({"video": f"{gen}/{p}.mp4", "prompt": prompt, "score": s,
                              "dimensions": {"visual_aesthetics": -s}, "model": model,
                              "error": None})
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    return path


def test_compare_json(tmp_path):
    """a vs b over prompts 0-3 (b has no row for prompt 4): a wins 0 and 1, ties 2, loses 3.
    --ties drop: 2 / 3. visual_aesthetics is the negated score, so there b wins at 2 / 3."""
    f = _rows(tmp_path / "s.jsonl", {"a": [0.9, 0.8, 0.5, 0.1, 0.7],
                                     "b": [0.1, 0.2, 0.5, 0.4, None]})
    r = run_cli("compare", f, "--json", "--ties", "drop", "--bootstrap", "50", "--pair", "a", "b")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    rates = {(w["a"], w["b"], w["metric"]): w for w in out["win_rates"]}
    ab = rates["a", "b", "overall"]
    assert (ab["n"], ab["wins"], ab["ties"], ab["losses"]) == (4, 2, 1, 1)
    assert ab["rate"] == 2 / 3 and rates["b", "a", "visual_aesthetics"]["rate"] == 2 / 3
    assert [row["winner"] for row in out["pair"]["prompts"]] == ["a", "a", "tie", "b"]
    assert out["generators"] == ["a", "b"] and out["prompts"] == 5
    assert [x["generator"] for x in out["bradley_terry"]["overall"]] == ["a", "b"]


def test_compare_tables_and_agreement(tmp_path):
    """Two models scored the same clips: the agreement table appears; the model with most rows
    is compared (m2 has an extra row)."""
    f1 = _rows(tmp_path / "m1.jsonl", {"a": [0.9, 0.1], "b": [0.2, 0.3]}, model="m1")
    f2 = _rows(tmp_path / "m2.jsonl", {"a": [0.5, 0.6, 0.1], "b": [0.4, 0.1, 0.2]}, model="m2")
    r = run_cli("compare", f1, f2, "--bootstrap", "20")
    assert r.exit_code == 0, r.output
    assert "model 'm2': 2 generators, 3 prompts" in r.stdout
    for title in ("Ratings, overall", "Win rate, overall", "Agreement between reward models"):
        assert title in r.stdout
    assert "m1" in r.stdout and "Kendall tau-b" in r.stdout


def test_compare_errors_name_file_and_line(tmp_path):
    f = tmp_path / "flat.jsonl"
    f.write_text(json.dumps({"video": "a.mp4", "prompt": "p", "score": 1.0, "model": "m"}) + "\n")
    r = run_cli("compare", f)
    assert r.exit_code == 2
    assert f"{f}:1: cannot tell which generator made 'a.mp4'" in r.output
    ok = _rows(tmp_path / "s.jsonl", {"a": [0.1], "b": [0.2]})
    r = run_cli("compare", ok, "--pair", "a", "zeta")
    assert r.exit_code == 2 and "--pair: no generator 'zeta'" in r.output
    r = run_cli("compare", ok, "--ties", "coin")
    # --ties is a choice now (tests/cli/test_cli_habits.py): refused by the parser, values listed
    assert r.exit_code == 2 and "'coin' is not one of half, drop, loss" in r.output
    r = run_cli("compare", ok, "--model", "other")
    assert r.exit_code == 2 and "no rows of model 'other'" in r.output


def _bulk_part(path, table: dict[str, list[float]], generator_column=True):
    """A Parquet file laid out as `bulk` writes OUT/part-K.parquet: flat video paths, the
    generator in its own column (null when the manifest gave none)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from cleverward.engine.dimensions import CANONICAL_DIMENSIONS

    recs = [{"key": f"/c/{g}{p}.mp4", "video": f"clips/{g}{p}.mp4", "prompt": f"prompt {p}",
             "generator": g if generator_column else None, "score": s,
             **{d: s for d in CANONICAL_DIMENSIONS}, "model": "m", "error": None}
            for g, scores in table.items() for p, s in enumerate(scores)]
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(recs), path)
    return path


def test_compare_reads_the_generator_column_of_bulk_output(tmp_path):
    """The manifest's generator column reaches compare through bulk's Parquet (a part file,
    or the OUT folder itself): the clips sit in one folder, so only the column tells. a beats
    b on prompts 0 and 1, loses 2 -> 2 / 3. A null generator falls back to the folder."""
    out = tmp_path / "bulk_out"
    _bulk_part(out / "part-00000.parquet", {"a": [0.9, 0.8, 0.1]})
    _bulk_part(out / "part-00001.parquet", {"b": [0.2, 0.3, 0.5]})
    (out / "_plan").mkdir()
    for given in (out, out / "part-00000.parquet"):
        args = (given, out / "part-00001.parquet") if given != out else (given,)
        r = run_cli("compare", *args, "--json", "--bootstrap", "20")
        assert r.exit_code == 0, r.output
        res = json.loads(r.stdout)
        assert res["generators"] == ["a", "b"]
        ab = {(w["a"], w["b"], w["metric"]): w for w in res["win_rates"]}["a", "b", "overall"]
        assert (ab["wins"], ab["losses"], ab["rate"]) == (2, 1, 2 / 3)
    flat = _bulk_part(tmp_path / "nogen.parquet", {"a": [0.9]}, generator_column=False)
    r = run_cli("compare", flat)
    assert r.exit_code == 2 and "rows of only one generator (clips)" in r.output
    (tmp_path / "empty").mkdir()
    r = run_cli("compare", tmp_path / "empty")
    assert r.exit_code == 2 and "no part-*.parquet" in r.output


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_compare_json_is_strict_when_a_metric_has_only_ties(tmp_path):
    """--ties drop on a metric where every prompt is a tie: no game is left, so that metric's
    ratings are undefined: null in the JSON (never a bare NaN, which is not JSON), '-' in the
    table, and no numpy warning on the way."""
    lines = [{"video": f"{g}/{p}.mp4", "prompt": f"prompt {p}", "score": s,
              "dimensions": {"textual_alignment": 1.0}, "model": "m", "error": None}
             for g, scores in {"a": [0.9, 0.8], "b": [0.1, 0.2]}.items()
             for p, s in enumerate(scores)]
    f = tmp_path / "s.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    r = run_cli("compare", f, "--json", "--ties", "drop", "--bootstrap", "20")
    assert r.exit_code == 0, r.output

    def no_constant(name):
        raise AssertionError(f"{name} in the JSON")
    out = json.loads(r.stdout, parse_constant=no_constant)
    bt = out["bradley_terry"]["textual_alignment"]
    assert [x["value"] for x in bt] == [None, None]
    assert [x["value"] > 0 for x in out["bradley_terry"]["overall"]] == [True, False]
    r = run_cli("compare", f, "--ties", "drop", "--bootstrap", "20")
    assert r.exit_code == 0, r.output
    assert "nan" not in r.stdout.lower()
