"""What every adapter returns, and the small readers they share.

An adapter reads one annotation file and returns `DatasetRecords`: scored items (one video, its
prompt, raw dimension name -> value) and/or direct pairs (a human preference between two videos
for one prompt). Dimension names stay raw here; `cleverward.train.taxonomy` maps them later.

Video paths resolve against `videos_root` when given, else the annotation file's folder; an
absolute path in the file stays as it is. A URL (GenAI-Bench ships video URLs) resolves to its
file name under the root, where a user has downloaded it.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse


class AnnotationError(ValueError):
    """A bad record in an annotation file; the message starts with `file:line:`."""

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = str(path)
        self.line = line


@dataclass(frozen=True)
class ScoredItem:
    dataset: str
    video: str  # resolved path
    prompt: str
    scores: Mapping[str, float]  # raw dimension name -> value
    source: str  # "file:line"


@dataclass(frozen=True)
class PairItem:
    """A direct human preference. For a tie, `chosen`/`rejected` are simply the first/second
    video as the file lists them."""

    dataset: str
    prompt: str
    chosen: str
    rejected: str
    dimension: str  # raw dimension name
    tie: bool
    vote: str | None  # the raw human label ("leftvote", "same", ...)
    source: str


@dataclass(frozen=True)
class DatasetRecords:
    path: str
    scored: tuple[ScoredItem, ...] = ()
    pairs: tuple[PairItem, ...] = ()
    score_range: tuple[float, float] | None = None  # declared scale of every score in the file


def annotation_root(path: str | Path, videos_root: str | Path | None) -> Path:
    return Path(videos_root) if videos_root is not None else Path(path).parent


def resolve_video(value: str, root: Path) -> str:
    if value.startswith(("http://", "https://")):
        value = Path(urlparse(value).path).name
    return os.path.normpath(root / value)


def parse_number(text: object) -> float | None:
    """A finite float, or None when `text` is not one."""
    if isinstance(text, bool):
        return None
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def require_str(obj: Mapping, key: str, path: Path, line: int) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise AnnotationError(path, line, f"{key!r} must be a non-empty string, got {value!r}")
    return value.strip()


_WS = re.compile(r"\s*")


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _iter_json_array(path: Path, text: str, start: int) -> Iterator[tuple[int, object]]:
    decoder = json.JSONDecoder()
    pos, line, counted = start + 1, 1, 0
    while True:
        pos = _WS.match(text, pos).end()
        if pos < len(text) and text[pos] == "]":
            return
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise AnnotationError(path, e.lineno, f"invalid JSON: {e.msg}") from None
        line += text.count("\n", counted, pos)
        counted = pos
        yield line, obj
        pos = _WS.match(text, end).end()
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos >= len(text) or text[pos] != "]":
            raise AnnotationError(path, _line_of(text, pos), "expected ',' or ']' in JSON array")


def _iter_json_lines(path: Path, text: str) -> Iterator[tuple[int, object]]:
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            yield lineno, json.loads(raw)
        except json.JSONDecodeError as e:
            raise AnnotationError(path, lineno, f"invalid JSON: {e.msg}") from None


def iter_json_records(path: str | Path) -> Iterator[tuple[int, object]]:
    """(line, record) from a JSON array file or a JSONL file; the line is where a record starts."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    start = _WS.match(text).end()
    if start < len(text) and text[start] == "[":
        yield from _iter_json_array(path, text, start)
    else:
        yield from _iter_json_lines(path, text)


def require_object(obj: object, path: Path, line: int) -> dict:
    if not isinstance(obj, dict):
        raise AnnotationError(path, line, f"expected a JSON object, got {type(obj).__name__}")
    return obj
