"""Score rows and the writers that append them as they finish (JSONL, CSV, Parquet).

A row: {"video", "prompt", "score", "dimensions": {...}, "model", "error"}.
Writers never leave a half-written file: JSONL and CSV rows are appended whole and flushed (a torn
last line from a crash is dropped on resume); Parquet goes to a temporary file that replaces the
target only when the run closes.
"""

from __future__ import annotations

import csv
import json
import os
from contextlib import contextmanager, suppress
from pathlib import Path

from cleverward.engine.dimensions import CANONICAL_DIMENSIONS

CSV_COLUMNS = ["video", "prompt", "score", *CANONICAL_DIMENSIONS, "model", "error"]
_REDO = "use --overwrite or another --out"


class OutputError(ValueError):
    """An existing output that cannot be read back or a path that cannot be written (named)."""


def make_row(video: str, prompt: str, scores, model: str, error: str | None = None) -> dict:
    """scores: sequence over SCORE_NAMES (overall first) or None when the video failed."""
    if scores is None:
        return {"video": video, "prompt": prompt, "score": None,
                "dimensions": None, "model": model, "error": error}
    named = zip(CANONICAL_DIMENSIONS, scores[1:], strict=True)
    dims = {name: round(float(s), 6) for name, s in named}
    return {"video": video, "prompt": prompt, "score": round(float(scores[0]), 6),
            "dimensions": dims, "model": model, "error": error}


def _flatten(row: dict) -> dict:
    flat = {k: row.get(k) for k in ("video", "prompt", "score", "model", "error")}
    dims = row.get("dimensions") or {}
    flat.update({d: dims.get(d) for d in CANONICAL_DIMENSIONS})
    return flat


def _unflatten(flat: dict) -> dict:
    def num(v):
        return None if v in (None, "") else float(v)

    dims = {d: num(flat.get(d)) for d in CANONICAL_DIMENSIONS}
    score = num(flat.get("score"))
    return {"video": flat["video"], "prompt": flat["prompt"], "score": score,
            "dimensions": dims if score is not None else None,
            "model": flat.get("model"), "error": flat.get("error") or None}


def read_rows(path: str | Path, fmt: str) -> list[dict]:
    """Rows already in an output file (for resume). A torn last JSONL line is skipped; anything
    else unreadable is an OutputError naming the file (and line)."""
    path = Path(path)
    if not path.exists() or path.stat().st_size == 0:
        return []
    try:
        if fmt == "jsonl":
            return _read_jsonl(path)
        if fmt == "csv":
            return _read_csv(path)
        return _read_parquet(path)
    except UnicodeDecodeError:
        raise OutputError(f"{path}: not a {fmt.upper()} score file (not UTF-8 text); {_REDO}") \
            from None


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.endswith("\n"):
                break  # torn by a crash mid-write
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise OutputError(f"{path}:{lineno}: not valid JSON ({exc.msg} at column "
                                  f"{exc.colno}); fix or remove it, or use --overwrite") from None
            if not (isinstance(row, dict) and isinstance(row.get("video"), str)
                    and isinstance(row.get("prompt"), str)):
                raise OutputError(f"{path}:{lineno}: not a score row (needs \"video\" and "
                                  "\"prompt\"); fix or remove it, or use --overwrite")
            rows.append(row)
    return rows


def _check_columns(path: Path, kind: str, columns) -> None:
    for name in ("video", "prompt"):
        if name not in (columns or ()):
            raise OutputError(f"{path}: not a {kind} score file (no {name!r} column); {_REDO}")


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        try:
            _check_columns(path, "CSV", reader.fieldnames)
            return [_unflatten(r) for r in reader]
        except csv.Error as exc:
            raise OutputError(f"{path}:{reader.line_num}: not valid CSV ({exc}); {_REDO}") \
                from None


def _read_parquet(path: Path) -> list[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise OutputError(f"{path}: not a Parquet score file ({exc}); {_REDO}") from None
    _check_columns(path, "Parquet", table.column_names)
    return [_unflatten(r) for r in table.to_pylist()]


class RowWriter:
    """Append rows to `path` in `fmt`, keeping `keep` (rows carried over from a resumed run)."""

    def __init__(self, path: str | Path, fmt: str, keep: list[dict] | None = None) -> None:
        self.path, self.fmt = Path(path), fmt
        self.appends = fmt != "parquet"  # rows reach the file as they are written
        self.closed = False
        keep = keep or []
        self._pq_rows: list[dict] = []
        self._f = None
        with self._naming_errors():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if fmt == "jsonl":
                self._rewrite_jsonl(keep)
                self._f = open(self.path, "a", encoding="utf-8")
            elif fmt == "csv":
                self._rewrite_csv(keep)
                self._f = open(self.path, "a", newline="", encoding="utf-8")
                self._csv = csv.DictWriter(self._f, fieldnames=CSV_COLUMNS)
            else:
                self._pq_rows = [_flatten(r) for r in keep]

    @property
    def _tmp(self) -> Path:
        return self.path.with_name(self.path.name + ".tmp")

    @contextmanager
    def _naming_errors(self):
        """An OSError names the output the user gave, not the temporary file beside it."""
        try:
            yield
        except OSError as exc:
            with suppress(OSError):
                self._tmp.unlink(missing_ok=True)
            raise OutputError(f"{self.path}: cannot write it ({exc.strerror or exc})") from None

    def _atomic(self, write) -> None:
        with open(self._tmp, "w", newline="", encoding="utf-8") as f:
            write(f)
        os.replace(self._tmp, self.path)

    def _rewrite_jsonl(self, keep: list[dict]) -> None:
        self._atomic(lambda f: f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in keep))

    def _rewrite_csv(self, keep: list[dict]) -> None:
        def write(f):
            w = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
            w.writeheader()
            w.writerows(_flatten(r) for r in keep)

        self._atomic(write)

    def write(self, row: dict) -> None:
        if self.fmt == "jsonl":
            self._f.write(json.dumps(row, ensure_ascii=False) + "\n")
            self._f.flush()
        elif self.fmt == "csv":
            self._csv.writerow(_flatten(row))
            self._f.flush()
        else:
            self._pq_rows.append(_flatten(row))

    def close(self) -> None:
        if self._f is not None:
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
        table = pa.Table.from_pylist(self._pq_rows, schema=schema)
        with self._naming_errors():
            pq.write_table(table, self._tmp)
            os.replace(self._tmp, self.path)
        self.closed = True

    def __enter__(self) -> RowWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
