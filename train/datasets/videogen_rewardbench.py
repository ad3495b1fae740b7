"""VideoGen-RewardBench: a CSV with a header

    path_A, path_B, A_model, B_model, prompt, VQ, MQ, TA, Overall,
    fps_A, num_frames_A, fps_B, num_frames_B

Each of VQ / MQ / TA / Overall holds "A", "B" or "same" (a tie); each becomes one direct pair on
that dimension. An empty label means the dimension was not judged for that row and is skipped.
The CSV is read strictly: an unterminated quote (which would swallow every later row into one
field), a row with more or fewer fields than the header, or a line break inside a path or
prompt is an error naming the line.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from cleverward.train.datasets.records import (
    AnnotationError,
    DatasetRecords,
    PairItem,
    annotation_root,
    read_text,
    require_str,
    resolve_video,
)

DATASET = "videogen-rewardbench"
DIMENSIONS = ("VQ", "MQ", "TA", "Overall")
REQUIRED = ("path_A", "path_B", "prompt")
_TIES = ("same", "tie")


def _check_header(path: Path, fields: list[str] | None) -> tuple[str, ...]:
    fields = [f.strip() for f in fields or []]
    missing = [c for c in REQUIRED if c not in fields]
    if missing:
        raise AnnotationError(path, 1, f"header lacks column(s) {', '.join(missing)}")
    dims = tuple(d for d in DIMENSIONS if d in fields)
    if not dims:
        raise AnnotationError(path, 1, f"header has none of the label columns {DIMENSIONS}")
    return dims


def _pairs_of_row(row: dict, dims: tuple[str, ...], root: Path, where: tuple[Path, int]):
    path, line = where
    a = resolve_video(require_str(row, "path_A", path, line), root, path, line)
    b = resolve_video(require_str(row, "path_B", path, line), root, path, line)
    prompt = require_str(row, "prompt", path, line)
    if "\n" in prompt or "\r" in prompt:
        raise AnnotationError(path, line, "prompt holds a line break (an unbalanced quote?)")
    for dim in dims:
        label = (row.get(dim) or "").strip()
        if not label:
            continue
        low = label.lower()
        if low not in ("a", "b", *_TIES):
            raise AnnotationError(path, line, f"{dim} label {label!r} not one of A, B, same")
        chosen, rejected = (b, a) if low == "b" else (a, b)
        yield PairItem(DATASET, prompt, chosen, rejected, dim, low in _TIES, label,
                       f"{path}:{line}")


def _rows(path: Path, reader: csv.DictReader, width: int):
    """(line where the row starts, row) with each row's field count checked."""
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            why = "a quoted field opened here never closes" if "end of data" in str(exc) else exc
            raise AnnotationError(path, line, f"CSV: {why}") from None
        extra = row.pop(None, None) or []  # DictReader: surplus fields under None,
        short = [k for k, v in row.items() if v is None]  # missing ones as None values
        if extra or short:
            got = width + len(extra) - len(short)
            raise AnnotationError(path, line, f"expected {width} fields, got {got}")
        yield line, row
        line = reader.line_num + 1


def load(path: str | Path, videos_root: str | Path | None = None) -> DatasetRecords:
    path = Path(path)
    root = annotation_root(path, videos_root)
    pairs: list[PairItem] = []
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""), skipinitialspace=True,
                            strict=True)
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise AnnotationError(path, 1, f"CSV header: {exc}") from None
    dims = _check_header(path, header)
    for line, row in _rows(path, reader, len(header)):
        row = {(k or "").strip(): v for k, v in row.items()}
        pairs.extend(_pairs_of_row(row, dims, root, (path, line)))
    return DatasetRecords(path=str(path), pairs=tuple(pairs))
