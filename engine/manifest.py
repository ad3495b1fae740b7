"""A manifest: one row per (video, prompt), as Parquet, CSV or JSONL, for corpora that do not
live in one folder.

    video      a path (relative to the manifest's folder, or to --root) or an fsspec URL
               (s3://bucket/clip.mp4, gs://..., file:///...)
    prompt     the prompt to score it against
    id         optional: the video's key (default: `video` as normalised below)
    generator  optional: which text-to-video model made it (carried into the rows)

Reading never touches a video's bytes: a row's partition is a hash of its key, so planning a
100M-row manifest reads only the manifest. Rows are yielded in file order in bounded memory
(Parquet by record batch, CSV and JSONL line by line). Every problem names the file and the line
(the 1-based data row for Parquet); a column that looks like a misspelt known one ("Video",
"prompts") is an error, other extra columns are ignored and reported once.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("video", "prompt", "id", "generator")
REQUIRED = ("video", "prompt")
SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl",
            ".ndjson": "jsonl"}
_MAX_PROMPT_CHARS = 10_000


class ManifestError(ValueError):
    """A manifest that cannot be read: the message names the file (and line) and what is wrong."""


@dataclass(frozen=True)
class ManifestRow:
    key: str  # identifies the video: `id` or the normalised `video`
    source: str  # `video` as the manifest writes it (what output rows name)
    video: str  # an absolute local path or an fsspec URL
    prompt: str
    generator: str | None
    line: int


def is_url(video: str) -> bool:
    """True for fsspec URLs (scheme://...); a Windows drive letter is not a scheme."""
    scheme, sep, _ = video.partition("://")
    return bool(sep) and len(scheme) > 1 and scheme.replace("+", "").isalnum()


def partition_of(key: str, count: int) -> int:
    """The partition (0..count-1) of a video key: sha256, so every process and machine agrees
    (Python's hash() is salted per process)."""
    digest = hashlib.sha256(key.encode(errors="surrogatepass")).digest()  # str.encode: UTF-8
    return int.from_bytes(digest[:8], "big") % count


def manifest_format(path: str | Path) -> str:
    fmt = SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise ManifestError(f"{path}: a manifest is .parquet, .csv or .jsonl, "
                            f"got {Path(path).suffix or 'no suffix'!r}")
    return fmt


def read_manifest(path: str | Path, root: str | Path | None = None,
                  ignored: set[str] | None = None) -> Iterator[ManifestRow]:
    """Rows of the manifest at `path`, validated. Relative video paths resolve against `root`
    (default: the manifest's folder). Extra columns that are not misspellings of known ones are
    ignored and collected into `ignored`."""
    path = Path(path)
    fmt = manifest_format(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such file" if not path.exists() else
                            f"{path}: not a regular file")
    base = (Path(root) if root is not None else path.parent).resolve()
    reader = {"parquet": _parquet_records, "csv": _csv_records, "jsonl": _jsonl_records}
    warned = ignored if ignored is not None else set()
    for line, record in reader[fmt](path):
        yield _check_record(record, path, line, base, warned)


def _check_columns(columns, where, warned: set[str]) -> None:
    for name in columns:
        if name in COLUMNS or name in warned:
            continue
        close = difflib.get_close_matches(name.lower(), COLUMNS, n=1, cutoff=0.75)
        if close:
            raise ManifestError(f"{where}: unknown column {name!r}; did you mean {close[0]!r}?")
        warned.add(name)


def _text(record: dict, name: str, where, required: bool) -> str | None:
    value = record.get(name)
    if value is None or (isinstance(value, float) and value != value):  # NaN: a blank cell
        if required:
            raise ManifestError(f"{where}: missing {name!r}")
        return None
    if not isinstance(value, str):
        raise ManifestError(f"{where}: {name!r} must be a string, got {type(value).__name__}")
    if required and not value.strip():
        raise ManifestError(f"{where}: {name!r} is empty")
    if not value.isascii() and any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ManifestError(f"{where}: {name!r} holds a lone surrogate (not valid Unicode)")
    return value


def _check_record(record, path: Path, line: int, base: Path, warned: set[str]) -> ManifestRow:
    where = _Where(path, line)
    if not isinstance(record, dict):
        raise ManifestError(f"{where}: expected an object with \"video\" and \"prompt\", got "
                            f"{type(record).__name__}")
    _check_columns(record.keys(), where, warned)
    video = _text(record, "video", where, required=True)
    if "\0" in video:  # no file name holds one; os.stat would raise a bare "embedded null byte"
        raise ManifestError(f"{where}: 'video' holds a NUL character (not a file name)")
    prompt = _text(record, "prompt", where, required=True)
    if len(prompt) > _MAX_PROMPT_CHARS:
        raise ManifestError(f"{where}: 'prompt' is {len(prompt)} characters "
                            f"(at most {_MAX_PROMPT_CHARS})")
    ident = _text(record, "id", where, required=False)
    generator = _text(record, "generator", where, required=False)
    if is_url(video):
        location = video
    else:
        location = os.path.normpath(os.path.join(base, os.path.expanduser(video)))
    key = ident if ident else (video if is_url(video) else location.replace(os.sep, "/"))
    return ManifestRow(key=key, source=video, video=location, prompt=prompt,
                       generator=generator or None, line=line)


class _Where:
    """`file:line`, formatted only when a message needs it (planning reads millions of rows)."""

    __slots__ = ("path", "line")

    def __init__(self, path: Path, line: int) -> None:
        self.path, self.line = path, line

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


def _jsonl_records(path: Path) -> Iterator[tuple[int, object]]:
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8").strip()
            except UnicodeDecodeError as exc:
                raise ManifestError(f"{path}:{lineno}: not UTF-8 text ({exc.reason} at byte "
                                    f"{exc.start} of the line)") from None
            if not text or text.startswith("#"):
                continue
            try:
                yield lineno, json.loads(text)
            except RecursionError:
                raise ManifestError(f"{path}:{lineno}: JSON nested too deeply") from None
            except json.JSONDecodeError as exc:
                raise ManifestError(f"{path}:{lineno}: not valid JSON ({exc.msg} at column "
                                    f"{exc.colno})") from None


def _csv_records(path: Path) -> Iterator[tuple[int, dict]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, strict=True)
            try:
                header = reader.fieldnames  # read here: a header that is not CSV is line 1's
            except csv.Error as exc:
                raise ManifestError(f"{path}:1: not valid CSV ({exc})") from None
            missing = [c for c in REQUIRED if c not in (header or ())]
            if missing:
                _check_columns(reader.fieldnames or (), f"{path}:1", set())
                raise ManifestError(f"{path}:1: the header has no {missing[0]!r} column "
                                    f"(columns: {', '.join(reader.fieldnames or ()) or 'none'})")
            try:
                for record in reader:
                    if None in record:  # more cells than the header names
                        raise ManifestError(f"{path}:{reader.line_num}: more cells than the "
                                            f"header's {len(reader.fieldnames)} columns")
                    yield reader.line_num, {k: (v if v != "" else None)
                                            for k, v in record.items()}
            except csv.Error as exc:
                raise ManifestError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from None
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") \
            from None


def _parquet_records(path: Path) -> Iterator[tuple[int, dict]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise ManifestError(f"{path}: not a Parquet file ({exc})") from None
    names = handle.schema_arrow.names
    _check_columns(names, str(path), set())
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise ManifestError(f"{path}: no {missing[0]!r} column (columns: {', '.join(names)})")
    wanted = [c for c in names if c in COLUMNS]
    row = 0
    for batch in handle.iter_batches(batch_size=8192, columns=wanted):
        for record in batch.to_pylist():
            row += 1
            yield row, record
