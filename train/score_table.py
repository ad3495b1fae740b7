"""A scores file (score-dir's columns: JSONL, CSV or Parquet) as one lookup table per model.

Rows are keyed by (prompt, video). Videos match on their path relative to the scored folder; a
pairs path that is longer or shorter matches on its trailing components when exactly one scored
video shares them. A file holding several models' rows (outputs concatenated) is split by its
`model` column, never merged. The file is read with engine/output.read_rows, which returns the
last row of each (video, prompt, model): score-dir appends, and a later row supersedes an earlier
one. Two rows of one (prompt, video) that still differ (two spellings of one path) are refused,
since which one to use cannot be told.
"""

from __future__ import annotations

import math
import os
from pathlib import Path, PurePosixPath

from cleverward.engine.dimensions import OVERALL

UNNAMED = "(unnamed)"  # rows with no model column


def _finite(value) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


class ScoreTable:
    """One model's rows, looked up by (prompt, video)."""

    def __init__(self, rows: list[dict], source: str) -> None:
        self.source = source
        self.by_key: dict[tuple[str, str], dict] = {}
        self.by_name: dict[tuple[str, str], list[str]] = {}
        for row in rows:
            video = PurePosixPath(str(row["video"]).replace(os.sep, "/")).as_posix()
            key = (str(row["prompt"]), video)
            old = self.by_key.get(key)
            if old is not None and _scores(old) != _scores(row):
                raise ValueError(f"{source}: {video!r} is scored twice for prompt "
                                 f"{row['prompt']!r} by model {row.get('model')!r} with different"
                                 " scores; remove one (or give the runs different model names)")
            if old is None:
                self.by_key[key] = row
                self.by_name.setdefault((key[0], PurePosixPath(video).name), []).append(video)

    def lookup(self, prompt: str, video: str) -> dict | None:
        v = PurePosixPath(video.replace(os.sep, "/"))
        if (prompt, v.as_posix()) in self.by_key:
            return self.by_key[(prompt, v.as_posix())]
        candidates = self.by_name.get((prompt, v.name), [])
        matches = [c for c in candidates if _tail_match(v, PurePosixPath(c))]
        return self.by_key[(prompt, matches[0])] if len(matches) == 1 else None

    def reward(self, prompt: str, video: str, dimension: str) -> tuple[float | None, str]:
        row = self.lookup(prompt, video)
        if row is None:
            return None, f"no row for this (video, prompt) in {self.source}"
        if row.get("error"):
            return None, f"scored with an error: {str(row.get('error'))[:80]}"
        value = row.get("score") if dimension == OVERALL else \
            (row.get("dimensions") or {}).get(dimension)
        if value is None:
            return None, f"{self.source} has no {dimension!r} score"
        x = _finite(value)
        if x is None:
            return None, f"{self.source}: {dimension!r} score {value!r} is not a finite number"
        return x, ""


def _scores(row: dict) -> tuple:
    dims = row.get("dimensions") or {}
    return (row.get("score"), tuple(sorted(dims.items())), row.get("error"))


def _tail_match(a: PurePosixPath, b: PurePosixPath) -> bool:
    n = min(len(a.parts), len(b.parts))
    return a.parts[-n:] == b.parts[-n:]


def load_score_tables(path: str, pick: str | None = None) -> dict[str, ScoreTable]:
    """{model: table} in file order; pick keeps one model (an error lists the ones there)."""
    from cleverward.engine.output import read_rows

    p = Path(path)
    if p.is_dir():
        raise ValueError(f"--scores {path}: is a folder; give the scores file score-dir wrote")
    if not p.is_file():
        raise FileNotFoundError(f"--scores {path}: no such file")
    fmt = {".csv": "csv", ".parquet": "parquet"}.get(p.suffix.lower(), "jsonl")
    by_model: dict[str, list[dict]] = {}
    for row in read_rows(path, fmt):
        by_model.setdefault(str(row.get("model") or UNNAMED), []).append(row)
    if not by_model:
        raise ValueError(f"--scores {path}: no score rows")
    if pick is not None:
        from cleverward.engine.checkpoint import matching_models

        found = matching_models(by_model, pick)  # `runs/r1` picks `/abs/runs/r1@<digest>`
        if len(found) != 1:
            what = "no rows for it" if not found else "several models' rows match it"
            raise ValueError(f"--model {pick!r}: {what} in {path} (models there: "
                             f"{', '.join(map(repr, by_model))})")
        by_model = {found[0]: by_model[found[0]]}
    return {name: ScoreTable(rows, path) for name, rows in by_model.items()}
