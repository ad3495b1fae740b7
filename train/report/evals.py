"""Eval results for the report: `cleverward eval --json` output (its "records"), or a bare JSON
list of records {dataset, dimension, metric, convention, value, ci_low, ci_high, n}; checked,
with errors naming the file and the record."""

from __future__ import annotations

import json
from pathlib import Path

EVAL_KEYS: tuple[str, ...] = ("dataset", "dimension", "metric", "convention", "value",
                              "ci_low", "ci_high", "n")
_NUMBERS = ("value", "ci_low", "ci_high")


class EvalFileError(ValueError):
    """An eval results file that is not a list of records (named, with the record)."""


def _check(record, where: str) -> dict:
    if not isinstance(record, dict):
        raise EvalFileError(f"{where}: not an object")
    missing = [k for k in EVAL_KEYS if k not in record]
    if missing:
        raise EvalFileError(f"{where}: missing {', '.join(missing)}")
    for key in _NUMBERS:
        v = record[key]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
            raise EvalFileError(f"{where}: {key} is {v!r}, not a number")
    if isinstance(record["n"], bool) or not isinstance(record["n"], int):
        raise EvalFileError(f"{where}: n is {record['n']!r}, not an integer")
    return {k: record[k] for k in EVAL_KEYS}


def read_eval(path: str | Path) -> list[dict]:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalFileError(f"{path}: no such eval file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise EvalFileError(f"{path}: not valid JSON ({exc})") from None
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        data = data["records"]  # `cleverward eval --json` output: records beside run details
    if not isinstance(data, list):
        raise EvalFileError(f"{path}: expected `cleverward eval --json` output or a JSON list "
                            f"of eval records, got {type(data).__name__}")
    return [_check(r, f"{path}: record {i}") for i, r in enumerate(data)]
