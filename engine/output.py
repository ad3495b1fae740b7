"""Score rows and the writers that append them as they finish (JSONL, CSV, Parquet).

A row: {"video", "prompt", "score", "dimensions": {...}, "model", "error"}.
Writers never leave a half-written file: JSONL and CSV rows are appended whole and flushed (a torn
last line from a crash is dropped on resume); Parquet goes to a temporary file that replaces the
target only when the run closes. Readers trust nothing: a row that is torn, not valid JSON or CSV,
or not a valid score row (a score that is not a finite number, wrong types) is dropped and counted,
and its pair is scored again.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from cleverward.engine.dimensions import CANONICAL_DIMENSIONS

CSV_COLUMNS = ["video", "prompt", "score", *CANONICAL_DIMENSIONS, "model", "error"]
_REDO = "use --overwrite or another --out"


class OutputError(ValueError):
    """An existing output that cannot be read back or a path that cannot be written (named)."""


NON_FINITE = ("non-finite score from the model (NaN or Inf): the head's weights or the encoder's "
              "output are not finite; check the checkpoint")


def make_row(video: str, prompt: str, scores, model: str, error: str | None = None) -> dict:
    """scores: sequence over SCORE_NAMES (overall first) or None when the video failed. A score
    that is NaN or Inf becomes an error row: no output ever holds a non-finite score."""
    if scores is not None and not all(math.isfinite(float(s)) for s in scores):
        scores, error = None, NON_FINITE
    if scores is None:
        return {"video": video, "prompt": prompt, "score": None,
                "dimensions": None, "model": model, "error": error}
    named = zip(CANONICAL_DIMENSIONS, scores[1:], strict=True)
    dims = {name: round(float(s), 6) for name, s in named}
    return {"video": video, "prompt": prompt, "score": round(float(scores[0]), 6),
            "dimensions": dims, "model": model, "error": error}


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _clean(text: str) -> bool:
    """False for a string that cannot be written as UTF-8 (a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def row_problem(row) -> str | None:
    """Why `row` is not a valid score row (None if it is): the one check every reader applies."""
    if not isinstance(row, dict):
        return f"not a JSON object ({type(row).__name__})"
    for key in ("video", "prompt", "model"):
        if not isinstance(row.get(key), str) or not row[key]:
            return f"{key!r} is {row.get(key)!r}, not a non-empty string"
    error = row.get("error")
    if error is not None and not isinstance(error, str):
        return f"'error' is {error!r}, not a string or null"
    if not all(_clean(row[k]) for k in ("video", "prompt", "model")) or not _clean(error or ""):
        return "holds a lone surrogate (not UTF-8 text)"
    score, dims = row.get("score"), row.get("dimensions")
    if score is None:
        return None
    if not _finite(score):
        return f"'score' is {score!r}, not a finite number"
    if dims is not None and not isinstance(dims, dict):
        return f"'dimensions' is {type(dims).__name__}, not an object"
    bad = [d for d, v in (dims or {}).items() if not _finite(v)]
    return f"dimension {bad[0]!r} is {dims[bad[0]]!r}, not a finite number" if bad else None


def _flatten(row: dict) -> dict:
    flat = {k: row.get(k) for k in ("video", "prompt", "score", "model", "error")}
    dims = row.get("dimensions") or {}
    flat.update({d: dims.get(d) for d in CANONICAL_DIMENSIONS})
    return flat


class _Unreadable(ValueError):
    pass


def _unflatten(flat: dict) -> dict:
    """A CSV or Parquet record -> a row; raises _Unreadable for a value that is not a number."""
    def num(v):
        if v is None or v == "":
            return None
        try:
            return float(v)
        except (TypeError, ValueError):
            raise _Unreadable(f"{v!r} is not a number") from None

    dims = {d: num(flat.get(d)) for d in CANONICAL_DIMENSIONS}
    score = num(flat.get("score"))
    return {"video": flat.get("video"), "prompt": flat.get("prompt"), "score": score,
            "dimensions": dims if score is not None else None,
            "model": flat.get("model"), "error": flat.get("error") or None}


@dataclass
class ReadResult:
    """The rows of an output that can be trusted to be rows, and what was left out."""

    rows: list[dict] = field(default_factory=list)
    dropped: int = 0  # torn or invalid rows left out: their pairs are scored again
    problems: list[str] = field(default_factory=list)  # the first few, "file:line: why"

    def drop(self, where: str, why: str) -> None:
        self.dropped += 1
        if len(self.problems) < 10:
            self.problems.append(f"{where}: {why}")


def read_rows(path: str | Path, fmt: str) -> list[dict]:
    """The valid rows of an output file (see read_output)."""
    return read_output(path, fmt).rows


def read_output(path: str | Path, fmt: str) -> ReadResult:
    """Rows already in an output file (for resume). A torn last line (a crash mid-write) and any
    row that is not a valid score row ("score": "high", NaN, Inf, wrong types) are dropped and
    counted. A file in which no row is valid is not a score file: an OutputError naming it, so an
    output pointed at the wrong file never has that file rewritten."""
    path = Path(path)
    if not path.exists():
        return ReadResult()
    if not path.is_file():
        raise OutputError(f"{path}: not a regular file; {_REDO}")
    if path.stat().st_size == 0:
        return ReadResult()
    readers = {"jsonl": _read_jsonl, "csv": _read_csv, "parquet": _read_parquet}
    result, lines = readers[fmt](path)
    if lines and not result.rows:
        first = result.problems[0] if result.problems else f"{path}: no rows"
        raise OutputError(f"{path}: not a {fmt.upper()} score file (no valid row; {first}); "
                          f"{_REDO}")
    return result


def _split_torn(data: bytes, path: Path, result: ReadResult) -> bytes:
    """Everything up to the last newline; a last line without one was torn by a crash."""
    newline = b"\n"
    cut = data.rfind(newline) + 1
    if cut < len(data):
        result.drop(f"{path}:{data.count(newline) + 1}", "torn last line (cut mid-write)")
    return data[:cut]


def _read_jsonl(path: Path) -> tuple[ReadResult, int]:
    result, lines = ReadResult(), 0
    data = _split_torn(path.read_bytes(), path, result)
    for lineno, raw in enumerate(data.split(b"\n")[:-1], start=1):
        if not raw.strip():
            continue
        lines += 1
        where = f"{path}:{lineno}"
        try:
            row = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            result.drop(where, "not UTF-8 text")
            continue
        except (ValueError, RecursionError) as exc:
            result.drop(where, f"not valid JSON ({getattr(exc, 'msg', 'nested too deeply')})")
            continue
        problem = row_problem(row)
        if problem:
            result.drop(where, problem)
        else:
            result.rows.append(row)
    return result, lines


def _check_columns(path: Path, kind: str, columns) -> None:
    for name in ("video", "prompt"):
        if name not in (columns or ()):
            raise OutputError(f"{path}: not a {kind} score file (no {name!r} column); {_REDO}")


def _add_record(result: ReadResult, where: str, record: dict) -> None:
    if None in record or any(v is None for v in record.values()):
        result.drop(where, "wrong number of fields")
        return
    try:
        row = _unflatten(record)
    except _Unreadable as exc:
        result.drop(where, str(exc))
        return
    problem = row_problem(row)
    if problem:
        result.drop(where, problem)
    else:
        result.rows.append(row)


def _read_csv(path: Path) -> tuple[ReadResult, int]:
    result = ReadResult()
    data = _split_torn(path.read_bytes(), path, result)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise OutputError(f"{path}: not a CSV score file (not UTF-8 text); {_REDO}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    lines = 0
    try:
        _check_columns(path, "CSV", reader.fieldnames)
        for record in reader:
            lines += 1
            _add_record(result, f"{path}:{reader.line_num}", record)
    except csv.Error as exc:  # the rest of the file cannot be split into rows
        result.drop(f"{path}:{reader.line_num}", f"not valid CSV ({exc}); the rest is dropped")
        lines += 1
    return result, lines


def _read_parquet(path: Path) -> tuple[ReadResult, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise OutputError(f"{path}: not a Parquet score file ({exc}); {_REDO}") from None
    _check_columns(path, "Parquet", table.column_names)
    result = ReadResult()
    records = table.to_pylist()
    for i, record in enumerate(records, start=1):
        record = {k: record.get(k) for k in CSV_COLUMNS}
        record.update({k: "" for k in ("score", *CANONICAL_DIMENSIONS, "error")
                       if record[k] is None})  # nulls are allowed there
        _add_record(result, f"{path}: row {i}", record)
    return result, len(records)


def _dumps(row: dict) -> str:
    return json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n"


class RowWriter:
    """Append rows to `path` in `fmt`, keeping `keep` (rows carried over from a resumed run).

    `path` is the regular file itself (symlinks already resolved by output_target), so a rewrite
    replaces the target and keeps the link. With `stream` (stdout) rows are written there as JSONL
    and nothing is rewritten. Text is written with errors="backslashreplace": a string that slipped
    past the checks can never stop a run half-way with a 0-byte file."""

    def __init__(self, path: str | Path | None, fmt: str, keep: list[dict] | None = None,
                 stream=None, provenance: dict | None = None) -> None:
        self.path, self.fmt = (Path(path) if path is not None else None), fmt
        self.provenance = provenance  # Parquet: kept in the schema metadata (key "cleverward")
        self.appends = fmt != "parquet"  # rows reach the file as they are written
        self.closed = False
        keep = keep or []
        self._pq_rows: list[dict] = []
        self._f, self._owned = stream, stream is None
        if stream is not None:
            if fmt != "jsonl":
                raise OutputError(f"stdout: streams JSONL only, not {fmt}; give a file for {fmt}")
            return
        with self._naming_errors():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if fmt == "jsonl":
                self._rewrite_jsonl(keep)
                self._f = self._open_append()
            elif fmt == "csv":
                self._rewrite_csv(keep)
                self._f = self._open_append()
                self._csv = csv.DictWriter(self._f, fieldnames=CSV_COLUMNS)
            else:
                self._pq_rows = [_flatten(r) for r in keep]

    def _open_append(self):
        return open(self.path, "a", newline="", encoding="utf-8", errors="backslashreplace")

    @property
    def _tmp(self) -> Path:
        return self.path.with_name(self.path.name + ".tmp")

    @contextmanager
    def _naming_errors(self):
        """An OSError names the output the user gave, not the temporary file beside it."""
        try:
            yield
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write it ({exc.strerror or exc})") from None
        finally:
            with suppress(OSError):
                self._tmp.unlink(missing_ok=True)  # after os.replace it is gone already

    def _atomic(self, write) -> None:
        with open(self._tmp, "w", newline="", encoding="utf-8", errors="backslashreplace") as f:
            write(f)
        os.replace(self._tmp, self.path)

    def _rewrite_jsonl(self, keep: list[dict]) -> None:
        self._atomic(lambda f: f.writelines(_dumps(r) for r in keep))

    def _rewrite_csv(self, keep: list[dict]) -> None:
        def write(f):
            w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            w.writeheader()
            w.writerows(_flatten(r) for r in keep)

        self._atomic(write)

    def write(self, row: dict) -> None:
        if self.fmt == "jsonl":
            self._f.write(_dumps(row))
            self._f.flush()
        elif self.fmt == "csv":
            self._csv.writerow(_flatten(row))
            self._f.flush()
        else:
            self._pq_rows.append(_flatten(row))

    def close(self) -> None:
        if self._f is not None:
            if self._owned:
                self._f.close()
            self.closed = True
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema(
            [("video", pa.string()), ("prompt", pa.string()), ("score", pa.float64())]
            + [(d, pa.float64()) for d in CANONICAL_DIMENSIONS]
            + [("model", pa.string()), ("error", pa.string())]
        )
        if self.provenance:
            schema = schema.with_metadata({"cleverward": json.dumps(self.provenance)})
        table = pa.Table.from_pylist(self._pq_rows, schema=schema)
        with self._naming_errors():
            pq.write_table(table, self._tmp)
            os.replace(self._tmp, self.path)
        self.closed = True

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def provenance(config: dict, identity: dict) -> dict:
    """What made an output: the cleverward version, the model (as given and its identity: encoder
    fingerprint, head digest, frames sampled), the run's config and command line, the UTC time."""
    import sys
    from datetime import datetime, timezone
    from importlib import metadata

    try:
        version = metadata.version("cleverward")
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    return {"cleverward_version": version, "model": config.get("model"),
            "model_identity": identity, "config": config, "command": list(sys.argv),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
