"""What every adapter returns, and the small readers they share.

An adapter reads one annotation file and returns `DatasetRecords`: scored items (one video, its
prompt, raw dimension name -> value) and/or direct pairs (a human preference between two videos
for one prompt). Dimension names stay raw here; `cleverward.train.taxonomy` maps them later.

Video paths resolve against `videos_root` when given, else the annotation file's folder, and
must stay inside it: `../../etc/passwd`, or an absolute path elsewhere, is an AnnotationError. A
URL (GenAI-Bench ships video URLs) resolves to its file name under the root, where a user has
downloaded it.

Reading trusts nothing: a file must be UTF-8 (a BOM is dropped; another encoding is an error at
the line of the first bad byte), JSON values may nest at most MAX_DEPTH deep, strings must be
encodable (no lone surrogates such as "\ud800"), NaN / Infinity / 1e999 are refused. Every
failure is an AnnotationError `file:line: what is wrong`, never another exception.
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


def resolve_video(value: str, root: Path, path: Path, line: int) -> str:
    """A video path from line `line` of annotation file `path` -> a normalised path inside
    `root` (lexically: a symlink the user placed under the root is theirs to follow)."""
    if any(c in value for c in "\0\n\r"):
        raise AnnotationError(path, line, f"video path {value!r} holds a NUL or line break")
    if value.startswith(("http://", "https://")):
        value = Path(urlparse(value).path).name
        if not value:
            raise AnnotationError(path, line, "video URL names no file")
    resolved = os.path.normpath(root / value)
    base = os.path.abspath(root)
    if os.path.commonpath([base, os.path.abspath(resolved)]) != base:
        raise AnnotationError(path, line, f"video path {value!r} leaves the videos root {root}")
    return resolved


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


MAX_DEPTH = 32  # annotation records nest 3-4 deep; far deeper is an attack or a broken file
_WS = re.compile(r"\s*")


class _BadConstant(ValueError):
    pass


def _reject_constant(name: str) -> float:
    raise _BadConstant(name)


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """An object whose key repeats is an error: json would keep the last silently, so
    {"video": "a.mp4", ..., "video": "../x"} reads as whichever the writer put last."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise _DuplicateKey(dup)
    return obj


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_unique_keys)


def read_text(path: str | Path) -> str:
    """The file as text: UTF-8 (a leading BOM dropped), else an AnnotationError at the line of
    the first byte that is not UTF-8 (a Latin-1 export, say)."""
    path = Path(path)
    try:
        if not path.is_file():  # a FIFO or device would block or never end
            raise AnnotationError(path, 1, "not a regular file")
        data = path.read_bytes()
    except OSError as exc:
        raise AnnotationError(path, 1, f"cannot read it ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise AnnotationError(path, line, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                                          f"column {column}); re-save the file as UTF-8") from None
    if "\0" in text:
        raise AnnotationError(path, text.count("\n", 0, text.index("\0")) + 1,
                              "holds a NUL byte: not a text file")
    return text.removeprefix("\ufeff")


def check_value(obj: object, path: Path, line: int) -> None:
    """A parsed JSON value holds nothing later stages cannot take: depth <= MAX_DEPTH, strings
    (keys too) encodable as UTF-8, finite numbers. Iterative: no recursion limit to hit."""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise AnnotationError(path, line, f"JSON nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_str(key, path, line)
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_str(value, path, line)
        elif isinstance(value, float) and not math.isfinite(value):
            raise AnnotationError(path, line, f"number {value} is out of range")


def _check_str(text: str, path: Path, line: int) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start]
        raise AnnotationError(path, line, f"string holds a lone surrogate \\u{ord(bad):04x} "
                                          f"(not valid Unicode)") from None


def _decode(text: str, pos: int, path: Path, line: int) -> tuple[object, int]:
    """One JSON value at text[pos:] -> (value, end); errors as AnnotationError."""
    try:
        obj, end = _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as e:
        raise AnnotationError(path, line + text.count("\n", pos, e.pos),
                              f"invalid JSON: {e.msg}") from None
    except _BadConstant as e:
        raise AnnotationError(path, line, f"{e} is not a JSON number (scores must be finite)") \
            from None
    except _DuplicateKey as e:
        shown = str(e).encode("utf-8", "backslashreplace").decode("utf-8")
        raise AnnotationError(path, line, f"key {shown!r} appears twice in one object") \
            from None
    except RecursionError:
        raise AnnotationError(path, line, f"JSON nested deeper than {MAX_DEPTH} levels") \
            from None
    check_value(obj, path, line)
    return obj, end


def loads_line(raw: str, path: Path, line: int) -> object:
    """One line of a JSONL file -> its value (trailing text after the value is an error)."""
    start = _WS.match(raw).end()
    obj, end = _decode(raw, start, path, line)
    if raw[end:].strip():
        raise AnnotationError(path, line, "invalid JSON: extra data after the value")
    return obj


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _iter_json_array(path: Path, text: str, start: int) -> Iterator[tuple[int, object]]:
    pos = start + 1
    while True:
        pos = _WS.match(text, pos).end()
        if pos < len(text) and text[pos] == "]":
            if text[pos + 1:].strip():
                raise AnnotationError(path, _line_of(text, pos), "text after the JSON array")
            return
        line = _line_of(text, pos)
        obj, end = _decode(text, pos, path, line)
        yield line, obj
        pos = _WS.match(text, end).end()
        if pos < len(text) and text[pos] == ",":
            pos += 1
        elif pos >= len(text) or text[pos] != "]":
            raise AnnotationError(path, _line_of(text, pos), "expected ',' or ']' in JSON array")


def iter_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) split on \\n only (str.splitlines also splits on \\x0b, \\u2028, ...,
    which would shift every line number after one)."""
    for lineno, raw in enumerate(text.split("\n"), start=1):
        yield lineno, raw.removesuffix("\r")


def _iter_json_lines(path: Path, text: str) -> Iterator[tuple[int, object]]:
    for lineno, raw in iter_lines(text):
        if raw.strip():
            yield lineno, loads_line(raw, path, lineno)


def iter_json_records(path: str | Path) -> Iterator[tuple[int, object]]:
    """(line, record) from a JSON array file or a JSONL file; the line is where a record starts."""
    path = Path(path)
    text = read_text(path)
    start = _WS.match(text).end()
    if start < len(text) and text[start] == "[":
        yield from _iter_json_array(path, text, start)
    else:
        yield from _iter_json_lines(path, text)


def require_object(obj: object, path: Path, line: int) -> dict:
    if not isinstance(obj, dict):
        raise AnnotationError(path, line, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def check_keys(record: dict, known: tuple[str, ...], path: Path, line: int,
               strict: bool) -> None:
    """Unknown keys: with `strict` (a layout this project defines) every one is an error; else
    (a published dataset's, whose records carry many extra fields) only a near miss of a known
    key ("Video" for "video") is, since the intended value would be silently ignored."""
    folded = {k.casefold().replace("-", "_").replace(" ", "_"): k for k in known}
    for key in record:
        if key in known:
            continue
        near = folded.get(key.casefold().replace("-", "_").replace(" ", "_").strip())
        if near is not None:
            raise AnnotationError(path, line, f"unknown key {key!r} (did you mean {near!r}?)")
        if strict:
            raise AnnotationError(path, line, f"unknown key {key!r} (known: {', '.join(known)})")
