"""The VideoCross pairs file: one pair a row, JSONL or Parquet, same columns in both.

    dataset         the source dataset ("t2vqa", "videofeedback", ...)
    dimension       canonical: overall or one of the six (engine/dimensions.py)
    prompt          the text both videos are judged against
    chosen          video path (relative to videos_root when one was given, else absolute)
    rejected        video path; for a tie, chosen/rejected is just an order
    tie             true when the pair is a tie (kept only with keep_ties)
    margin          the normalised score gap (score pairs: |s_c - s_r| / scale, in [0, 1]);
                    0.0 where the source gives no magnitude (votes, negatives)
    kind            "score" (from scores), "vote" (a direct human label), "negative" (mismatched
                    prompt, textual_alignment)
    vote            the raw human label for vote rows ("leftvote", "same", ...), else null
    score_chosen    score pairs: the chosen video's score normalised to [0, 1] per
    score_rejected  dataset+dimension (the SFT baseline's regression targets), else null
    rejected_prompt negatives: the prompt the rejected video was generated for, else null
    source          "file:line" of the annotation the pair came from

Rows may carry extra keys (pair mining adds e.g. `datasets`, `similarity`): they are written
after the columns above and read back as they are. Only the first seven columns are required.
Reading checks every row (train/datasets/records.py's rules for text and JSON, plus each
column's type: `"chosen": 42`, a row that is a string, `"margin": "big"` or NaN, a near miss of a
column name such as "Chosen", a relative path climbing out with "..") and raises AnnotationError
`file:line: what is wrong` (Parquet: the row number as the line).

Writes go to a temporary file in the same folder and are moved into place with os.replace, so a
reader never sees a half-written file.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cleverward.engine.dimensions import SCORE_NAMES
from cleverward.train.datasets.records import (
    AnnotationError,
    check_keys,
    check_value,
    iter_lines,
    loads_line,
    read_text,
)

COLUMNS: tuple[str, ...] = (
    "dataset", "dimension", "prompt", "chosen", "rejected", "tie", "margin", "kind", "vote",
    "score_chosen", "score_rejected", "rejected_prompt", "source",
)
REQUIRED = COLUMNS[:7]
KINDS = ("score", "vote", "negative")
FORMATS = ("jsonl", "parquet")


def make_row(
    dataset: str, dimension: str, prompt: str, chosen: str, rejected: str, *, kind: str,
    tie: bool = False, margin: float = 0.0, vote: str | None = None,
    score_chosen: float | None = None, score_rejected: float | None = None,
    rejected_prompt: str | None = None, source: str = "",
) -> dict:
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} not one of {KINDS}")
    return {
        "dataset": dataset, "dimension": dimension, "prompt": prompt, "chosen": chosen,
        "rejected": rejected, "tie": bool(tie), "margin": float(margin), "kind": kind,
        "vote": vote, "score_chosen": score_chosen, "score_rejected": score_rejected,
        "rejected_prompt": rejected_prompt, "source": source,
    }


def format_of(path: str | Path, fmt: str | None = None) -> str:
    if fmt is None:
        fmt = "parquet" if Path(path).suffix.lower() in (".parquet", ".pq") else "jsonl"
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} not one of {FORMATS}")
    return fmt


def _columns(rows: list[dict]) -> list[str]:
    extra = sorted({k for row in rows for k in row} - set(COLUMNS))
    return [*COLUMNS, *extra]


def _write_jsonl(rows: list[dict], f) -> None:
    for row in rows:
        known = {c: row.get(c) for c in COLUMNS}
        extra = {k: row[k] for k in sorted(row) if k not in known}
        f.write(json.dumps({**known, **extra}, ensure_ascii=False) + "\n")


def _write_parquet(rows: list[dict], path: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"tie": pa.bool_(), "margin": pa.float64(), "score_chosen": pa.float64(),
             "score_rejected": pa.float64()}
    arrays = {}
    for c in _columns(rows):
        values = [row.get(c) for row in rows]
        # the fixed columns keep their type even when every value is null; extras are inferred
        arrays[c] = pa.array(values, type=types.get(c, pa.string()) if c in COLUMNS else None)
    pq.write_table(pa.table(arrays), path)


def write_pairs(rows: Iterable[dict], path: str | Path, fmt: str | None = None) -> Path:
    """Write rows (JSONL or Parquet, from the suffix unless `fmt` says) atomically."""
    rows = list(rows)
    path = Path(path)
    fmt = format_of(path, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if fmt == "jsonl":
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                _write_jsonl(rows, f)
                f.flush()
                os.fsync(f.fileno())
        else:
            os.close(fd)
            _write_parquet(rows, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


_TEXT_COLUMNS = ("dataset", "dimension", "prompt", "chosen", "rejected")
_OPTIONAL_TEXT = ("vote", "rejected_prompt", "source")
_OPTIONAL_SCORES = ("score_chosen", "score_rejected")


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_path(value: str, column: str, path: Path, line: int) -> None:
    if "\0" in value:
        raise AnnotationError(path, line, f"{column!r} holds a NUL byte")
    if not os.path.isabs(value) and os.path.normpath(value).split(os.sep)[0] == "..":
        raise AnnotationError(path, line, f"{column!r} path {value!r} climbs out of the videos "
                                          f"root")


def check_row(row: object, path: Path, line: int) -> dict:
    """One pairs row, every column type-checked -> the row with all columns present."""
    if not isinstance(row, dict):
        raise AnnotationError(path, line, f"expected a JSON object, got {type(row).__name__}")
    check_keys(row, COLUMNS, path, line, strict=False)  # extras allowed, near misses not
    missing = [c for c in REQUIRED if c not in row]
    if missing:
        raise AnnotationError(path, line, f"pair row lacks {', '.join(missing)}")
    for column in _TEXT_COLUMNS:
        if not isinstance(row[column], str) or not row[column].strip():
            raise AnnotationError(path, line, f"{column!r} must be a non-empty string, got "
                                              f"{row[column]!r}")
    if row["dimension"] not in SCORE_NAMES:
        raise AnnotationError(path, line, f"'dimension' {row['dimension']!r} is not one of "
                                          f"{', '.join(SCORE_NAMES)}")
    _check_path(row["chosen"], "chosen", path, line)
    _check_path(row["rejected"], "rejected", path, line)
    if not isinstance(row["tie"], bool):
        raise AnnotationError(path, line, f"'tie' must be true or false, got {row['tie']!r}")
    if not _finite(row["margin"]) or row["margin"] < 0:
        raise AnnotationError(path, line, f"'margin' must be a finite number >= 0, got "
                                          f"{row['margin']!r}")
    if row.get("kind") is not None and row["kind"] not in KINDS:
        raise AnnotationError(path, line, f"'kind' {row['kind']!r} not one of {', '.join(KINDS)}")
    for column in _OPTIONAL_TEXT:
        if row.get(column) is not None and not isinstance(row[column], str):
            raise AnnotationError(path, line, f"{column!r} must be a string or null, got "
                                              f"{row[column]!r}")
    for column in _OPTIONAL_SCORES:
        if row.get(column) is not None and not _finite(row[column]):
            raise AnnotationError(path, line, f"{column!r} must be a finite number or null, got "
                                              f"{row[column]!r}")
    return {**{c: None for c in COLUMNS}, **row}


def _read_jsonl(path: Path) -> list[dict]:
    return [check_row(loads_line(raw, path, lineno), path, lineno)
            for lineno, raw in iter_lines(read_text(path)) if raw.strip()]


def _read_parquet(path: Path) -> list[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AnnotationError(path, 1, f"not a readable Parquet file ({first})") from None
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise AnnotationError(path, 1, f"pairs table lacks column(s) {', '.join(missing)}")
    rows = []
    for n, row in enumerate(table.to_pylist(), start=1):
        check_value(row, path, n)
        rows.append(check_row(row, path, n))
    return rows


def read_pairs(path: str | Path, fmt: str | None = None) -> list[dict]:
    """Rows as dicts with every column (absent optional columns read as None), each checked
    (module docstring); the first bad row raises AnnotationError naming file and line."""
    path = Path(path)
    if format_of(path, fmt) == "jsonl":
        return _read_jsonl(path)
    if not path.is_file():
        raise AnnotationError(path, 1, "not a regular file")
    return _read_parquet(path)
