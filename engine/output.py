"""Score rows and the writers that append them as they finish (JSONL, CSV, Parquet).

A row: {"video", "prompt", "score", "dimensions": {...}, "model", "error"}.
Writers never leave a half-written file: JSONL and CSV rows are appended whole and flushed (a torn
last line from a crash is dropped on reading and cut before the next append); Parquet goes to a
temporary file that replaces the target only when the run closes. Rows are only ever appended:
the last row of a (video, prompt, model) is its score, earlier ones are superseded (readers
return the last one). Readers trust nothing: a row that is torn, not valid JSON or CSV,
or not a valid score row (a score that is not a finite number, wrong types) is dropped and counted,
and its pair is scored again. Resume alone (stream_output with `videos`) does not parse rows that
are plainly of other videos: it never uses them, so it only counts them.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Collection
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from cleverward.engine.dimensions import CANONICAL_DIMENSIONS

CSV_COLUMNS = ["video", "prompt", "score", *CANONICAL_DIMENSIONS, "model", "error"]
# bulk's output also holds the manifest's generator (null when it gave none); readers keep it
GENERATOR = "generator"
# The error of a row that withdraws an earlier score (its video or its model changed since): a
# tombstone. Resume sees it (the pair is not done); readers return no row for a pair it ends.
WITHDRAWN = ("earlier score withdrawn: the video file or the model changed since it was "
             "scored; a later row for this pair replaces this one")
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
    row = {"video": flat.get("video"), "prompt": flat.get("prompt"), "score": score,
           "dimensions": dims if score is not None else None,
           "model": flat.get("model"), "error": flat.get("error") or None}
    generator = flat.get(GENERATOR)  # bulk's column (the manifest's); "" or absent: none
    if isinstance(generator, str) and generator:
        row[GENERATOR] = generator
    return row


@dataclass
class ReadResult:
    """The rows of an output that can be trusted to be rows, and what was left out."""

    rows: list[dict] = field(default_factory=list)
    dropped: int = 0  # torn or invalid rows left out: their pairs are scored again
    problems: list[str] = field(default_factory=list)  # the first few, "file:line: why"
    places: list[str] = field(default_factory=list)  # "file:line" of each row in rows
    passed: int = 0  # stream_output with `videos`: rows of other videos, counted, not parsed

    def drop(self, where: str, why: str) -> None:
        self.dropped += 1
        if len(self.problems) < 10:
            self.problems.append(f"{where}: {why}")


def row_key(row: dict) -> tuple[str, str, str]:
    """What a row is the score of: (video, prompt, model). The last row of a key is its score;
    an earlier one was superseded (rescored, or withdrawn by an error row)."""
    return row["video"], row["prompt"], row["model"]


def read_rows(path: str | Path, fmt: str) -> list[dict]:
    """The valid rows of an output file, the last one per pair (see read_output)."""
    return read_output(path, fmt).rows


def read_output(path: str | Path, fmt: str) -> ReadResult:
    """The rows of an output file, one per (video, prompt, model): the last one written, since
    score-dir appends and a later row supersedes an earlier one (a rescore, or an error row that
    withdraws a score whose video or model changed: a pair it ends has no row, WITHDRAWN).
    `places` says where each was read. A torn last line
    (a crash mid-write) and any row that is not a valid score row ("score": "high", NaN, Inf,
    wrong types) are dropped and counted. A file in which no row is valid is not a score file:
    an OutputError naming it, so an output pointed at the wrong file is never written to."""
    result = ReadResult()
    latest: dict[tuple[str, str, str], tuple[str, dict]] = {}
    for where, row in iter_output(path, fmt, result):
        latest.pop(row_key(row), None)  # the last row of a pair takes its place in file order
        latest[row_key(row)] = (where, row)
    kept = [(where, row) for where, row in latest.values() if row.get("error") != WITHDRAWN]
    result.places = [where for where, _ in kept]
    result.rows = [row for _, row in kept]
    return result


def stream_output(path: str | Path, fmt: str, videos: Collection[str] | None = None) -> ReadResult:
    """read_output without holding rows: `rows` is an iterator over every valid row in file
    order (superseded ones too), read once; `dropped`, `problems` and `passed` are complete
    once it is exhausted. Memory is one row (one Parquet batch) at a time.

    With `videos` (a resume: the videos of this run's plan), a row that is plainly of another
    video is counted in `passed` and not parsed or validated (it is never used by this run, and
    checking it was most of a resume's time): see iter_output. Every row of these videos is
    checked in full."""
    result = ReadResult()
    videos = None if videos is None else frozenset(videos)  # the plan as it is now
    result.rows = (row for _, row in iter_output(path, fmt, result, videos))
    return result


def iter_output(path: str | Path, fmt: str, result: ReadResult,
                videos: Collection[str] | None = None):
    """(where, row) for each valid row of an output file, in file order; invalid ones are
    counted into `result`. Raises OutputError (at the end) for a file with lines but no valid
    row, and at once for one that is not a regular file.

    With `videos`, once a valid row has been read (so a file that is no score file is still
    refused), rows whose video is known not to be in `videos` without parsing them are only
    counted (`result.passed`): a JSONL line that starts `{"video": "NAME"` (as the writers
    write it) with no backslash in it (so NAME is the name itself, no escape) and one "video"
    key; a CSV record by its video field (the rest is not converted or checked); a Parquet
    batch by its video column. Such a row may be invalid in other ways: it is not this run's,
    so it is neither dropped nor reported. Anything else is parsed and checked in full."""
    path = Path(path)
    if not path.exists():
        return
    if not path.is_file():
        raise OutputError(f"{path}: not a regular file; {_REDO}")
    if path.stat().st_size == 0:
        return
    readers = {"jsonl": _read_jsonl, "csv": _read_csv, "parquet": _read_parquet}
    wanted = None if videos is None else frozenset(videos)
    lines = valid = 0
    for where, row in readers[fmt](path, result, wanted):
        lines += 1
        if row is not None:
            valid += 1
            yield where, row
    if lines and not valid:
        first = result.problems[0] if result.problems else f"{path}: no rows"
        raise OutputError(f"{path}: not a {fmt.upper()} score file (no valid row; {first}); "
                          f"{_REDO}")


def _complete_lines(f, path: Path, result: ReadResult):
    """(line number, bytes) of each line that ends in a newline; a last line without one was
    torn by a crash: dropped."""
    lineno = 0
    for lineno, raw in enumerate(f, start=1):  # noqa: B007 - used after the loop
        if not raw.endswith(b"\n"):
            result.drop(f"{path}:{lineno}", "torn last line (cut mid-write)")
            return
        yield lineno, raw


_VIDEO_OPEN = b'{"video": "'
_AT = len(_VIDEO_OPEN)


def _video_names(videos: frozenset[str]) -> frozenset[bytes]:
    """The videos as their JSON strings' bytes between the quotes (as _dumps writes them)."""
    return frozenset(json.dumps(v, ensure_ascii=False)[1:-1].encode("utf-8", "surrogatepass")
                     for v in videos)


def _other_video(raw: bytes, names: frozenset[bytes]) -> bool:
    """True when the line `raw` is plainly a row of a video not in `names`: it starts with
    {"video": "NAME", holds no backslash (no escape: NAME is the name's own bytes) and one
    "video" key (json.loads would take a later duplicate)."""
    if not raw.startswith(_VIDEO_OPEN) or b"\\" in raw or raw.count(b'"video"') != 1:
        return False
    end = raw.find(b'"', _AT)
    return end > _AT and raw[_AT:end] not in names


def _read_jsonl(path: Path, result: ReadResult, wanted: frozenset[str] | None):
    names = None if wanted is None else _video_names(wanted)
    trusted = False  # a valid row has been read: this is a score file
    with open(path, "rb") as f:
        for lineno, raw in _complete_lines(f, path, result):
            if trusted and _other_video(raw, names):
                result.passed += 1
                continue
            if not raw.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                result.drop(where, "not UTF-8 text")
                yield where, None
                continue
            except (ValueError, RecursionError) as exc:
                result.drop(where, f"not valid JSON ({getattr(exc, 'msg', 'nested too deeply')})")
                yield where, None
                continue
            problem = row_problem(row)
            if problem:
                result.drop(where, problem)
                row = None
            trusted = trusted or (names is not None and row is not None)
            yield where, row


def _check_columns(path: Path, kind: str, columns) -> None:
    for name in ("video", "prompt"):
        if name not in (columns or ()):
            raise OutputError(f"{path}: not a {kind} score file (no {name!r} column); {_REDO}")


def _check_record(result: ReadResult, where: str, record: dict) -> dict | None:
    if None in record or any(v is None for v in record.values()):
        result.drop(where, "wrong number of fields")
        return None
    try:
        row = _unflatten(record)
    except _Unreadable as exc:
        result.drop(where, str(exc))
        return None
    problem = row_problem(row)
    if problem:
        result.drop(where, problem)
        return None
    return row


def _csv_text(path: Path, result: ReadResult):
    """The complete lines of a CSV file as text (a torn last line is dropped)."""
    with open(path, "rb") as f:
        for lineno, raw in _complete_lines(f, path, result):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                raise OutputError(f"{path}: not a CSV score file (not UTF-8 text at line "
                                  f"{lineno}); {_REDO}") from None


def _read_csv(path: Path, result: ReadResult, wanted: frozenset[str] | None):
    reader = csv.DictReader(_csv_text(path, result))
    trusted = False
    try:
        _check_columns(path, "CSV", reader.fieldnames)
        for record in reader:
            if trusted and record["video"] not in wanted:
                result.passed += 1
                continue
            where = f"{path}:{reader.line_num}"
            row = _check_record(result, where, record)
            trusted = trusted or (wanted is not None and row is not None)
            yield where, row
    except csv.Error as exc:  # the rest of the file cannot be split into rows
        where = f"{path}:{reader.line_num}"
        result.drop(where, f"not valid CSV ({exc}); the rest is dropped")
        yield where, None


PARQUET_BATCH = 8192


def _read_parquet(path: Path, result: ReadResult, wanted: frozenset[str] | None):
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise OutputError(f"{path}: not a Parquet score file ({exc}); {_REDO}") from None
    names = handle.schema_arrow.names
    _check_columns(path, "Parquet", names)
    i = 0
    trusted = False
    value_set = None if wanted is None else pa.array(sorted(wanted), pa.string())
    try:
        read = [c for c in (*CSV_COLUMNS, GENERATOR) if c in names]
        for batch in handle.iter_batches(batch_size=PARQUET_BATCH, columns=read):
            size = batch.num_rows
            positions = range(i + 1, i + 1 + size)  # row numbers, from 1
            if trusted:  # only the rows of the wanted videos are converted and checked (a
                # valid row was read: the file's video column holds text, is_in applies)
                keep = pc.indices_nonzero(pc.is_in(batch.column("video"), value_set=value_set))
                result.passed += size - len(keep)
                positions = [i + 1 + k for k in keep.to_pylist()]
                batch = batch.take(keep)
            for position, record in zip(positions, batch.to_pylist(), strict=True):
                record = {k: record.get(k) for k in (*CSV_COLUMNS, GENERATOR)}
                record.update({k: "" for k in ("score", *CANONICAL_DIMENSIONS, "error",
                                               GENERATOR)
                               if record[k] is None})  # nulls are allowed there
                where = f"{path}: row {position}"
                row = _check_record(result, where, record)
                trusted = trusted or (value_set is not None and row is not None)
                yield where, row
            i += size  # an error names the first row of the batch it is in
    except (pa.ArrowException, OSError) as exc:
        raise OutputError(f"{path}: not a Parquet score file (row {i + 1}: {exc}); {_REDO}") \
            from None


def _dumps(row: dict) -> str:
    return json.dumps(row, ensure_ascii=False, allow_nan=False) + "\n"


def cut_torn_tail(path: Path) -> int:
    """Cut a last line that has no newline (torn by a crash mid-write) off the file, so rows
    appended after it start on a line of their own. Returns the bytes cut. Only that fragment
    is touched, never a complete line."""
    with open(path, "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        end = 0
        pos = size
        while pos > 0:
            step = min(1 << 16, pos)
            f.seek(pos - step)
            at = f.read(step).rfind(b"\n")
            if at >= 0:
                end = pos - step + at + 1
                break
            pos -= step
        if end < size:
            f.truncate(end)
    return size - end


def _csv_header(path: Path) -> list[str] | None:
    """The header of an existing CSV output (None for an empty file)."""
    with open(path, "rb") as f:
        first = f.readline()
    if not first:
        return None
    return next(csv.reader([first.decode("utf-8", "replace")]), None)


PARQUET_GROUP = 4096  # rows buffered before they go out as a row group


def _parquet_schema():
    import pyarrow as pa

    return pa.schema(
        [("video", pa.string()), ("prompt", pa.string()), ("score", pa.float64())]
        + [(d, pa.float64()) for d in CANONICAL_DIMENSIONS]
        + [("model", pa.string()), ("error", pa.string())]
    )


def _conform(batch, schema):
    """A record batch of an earlier output in this writer's schema (missing columns as nulls)."""
    import pyarrow as pa

    names = batch.schema.names
    columns = [batch.column(names.index(f.name)).cast(f.type) if f.name in names
               else pa.nulls(batch.num_rows, f.type) for f in schema]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


class RowWriter:
    """Write rows to `path` in `fmt`: a new file, or with `append` after the rows already there.

    JSONL and CSV append in place: the rows already in the file are never rewritten (a torn last
    line is cut first; a CSV keeps its own header's columns). Parquet cannot be appended to: the
    new file is written beside the target (`<out>.tmp`) and replaces it on close; with `append`
    the earlier file's rows are streamed into it batch by batch first (bounded memory, but the
    bytes are copied). New rows reach it in row groups of PARQUET_GROUP.

    `path` is the regular file itself (symlinks already resolved by output_target), so a rewrite
    replaces the target and keeps the link. With `stream` (stdout) rows are written there as JSONL
    and nothing is rewritten. Text is written with errors="backslashreplace": a string that slipped
    past the checks can never stop a run half-way with a 0-byte file."""

    def __init__(self, path: str | Path | None, fmt: str, stream=None,
                 append: bool = False, provenance: dict | None = None) -> None:
        self.path, self.fmt = (Path(path) if path is not None else None), fmt
        self.provenance = provenance  # Parquet: kept in the schema metadata (key "cleverward")
        self.appends = fmt != "parquet"  # rows reach the file as they are written
        self.closed = False
        self.cut = 0  # bytes of a torn last line cut before appending
        self._pq_rows: list[dict] = []
        self._pq_writer = None
        self._f, self._owned = stream, stream is None
        if stream is not None:
            if fmt != "jsonl":
                raise OutputError(f"stdout: streams JSONL only, not {fmt}; give a file for {fmt}")
            return
        append = append and self.path.is_file() and self.path.stat().st_size > 0
        self._earlier = self.path if append and fmt == "parquet" else None
        with self._naming_errors():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if fmt == "parquet":
                return
            if append:
                self.cut = cut_torn_tail(self.path)
            if fmt == "jsonl":
                if not append:
                    self._atomic(lambda f: None)
                self._f = self._open_append()
                return
            header = _csv_header(self.path) if append else None
            if header is None:
                self._atomic(lambda f: csv.writer(f).writerow(CSV_COLUMNS))
            self._f = self._open_append()
            self._csv = csv.DictWriter(self._f, fieldnames=header or CSV_COLUMNS,
                                       restval="", extrasaction="ignore")

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
            if self._pq_writer is None:  # a Parquet file in the making stays until close
                with suppress(OSError):
                    self._tmp.unlink(missing_ok=True)  # after os.replace it is gone already

    def _atomic(self, write) -> None:
        with open(self._tmp, "w", newline="", encoding="utf-8", errors="backslashreplace") as f:
            write(f)
        os.replace(self._tmp, self.path)

    def write(self, row: dict) -> None:
        if self.fmt == "jsonl":
            self._f.write(_dumps(row))
            self._f.flush()
        elif self.fmt == "csv":
            self._csv.writerow(_flatten(row))
            self._f.flush()
        else:
            self._pq_rows.append(_flatten(row))
            if len(self._pq_rows) >= PARQUET_GROUP:
                self._flush_parquet()

    def _parquet_writer(self):
        """The temporary Parquet file, opened on first use, the earlier rows copied into it."""
        if self._pq_writer is not None:
            return self._pq_writer
        import pyarrow.parquet as pq

        schema = _parquet_schema()
        if self.provenance:  # what made the output, in the file's own schema metadata
            schema = schema.with_metadata({"cleverward": json.dumps(self.provenance)})
        try:
            self._pq_writer = pq.ParquetWriter(self._tmp, schema)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write it ({exc.strerror or exc})") from None
        if self._earlier is not None:
            for batch in pq.ParquetFile(self._earlier).iter_batches(batch_size=PARQUET_BATCH):
                self._pq_writer.write_batch(_conform(batch, schema))
        return self._pq_writer

    def _flush_parquet(self) -> None:
        import pyarrow as pa

        writer = self._parquet_writer()
        if self._pq_rows:
            writer.write_table(pa.Table.from_pylist(self._pq_rows, schema=_parquet_schema()))
        self._pq_rows = []

    def close(self) -> None:
        if self.closed:
            return
        if self._f is not None:
            if self._owned:
                self._f.close()
            self.closed = True
            return
        try:
            self._flush_parquet()
            self._pq_writer.close()
            os.replace(self._tmp, self.path)
        except OSError as exc:
            raise OutputError(f"{self.path}: cannot write it ({exc.strerror or exc})") from None
        finally:
            self._pq_writer = None
            with suppress(OSError):
                self._tmp.unlink(missing_ok=True)
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
