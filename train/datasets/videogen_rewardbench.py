"""VideoGen-RewardBench: a CSV with a header

    path_A, path_B, A_model, B_model, prompt, VQ, MQ, TA, Overall,
    fps_A, num_frames_A, fps_B, num_frames_B

Each of VQ / MQ / TA / Overall holds "A", "B" or "same" (a tie); each becomes one direct pair on
that dimension. An empty label means the dimension was not judged for that row and is skipped.
"""

from __future__ import annotations

import csv
from pathlib import Path

from cleverward.train.datasets.records import (
    AnnotationError,
    DatasetRecords,
    PairItem,
    annotation_root,
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
    a = resolve_video(require_str(row, "path_A", path, line), root)
    b = resolve_video(require_str(row, "path_B", path, line), root)
    prompt = require_str(row, "prompt", path, line)
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


def load(path: str | Path, videos_root: str | Path | None = None) -> DatasetRecords:
    path = Path(path)
    root = annotation_root(path, videos_root)
    pairs: list[PairItem] = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, skipinitialspace=True)
        dims = _check_header(path, reader.fieldnames)
        line = reader.line_num + 1
        for row in reader:
            row = {(k or "").strip(): v for k, v in row.items()}
            pairs.extend(_pairs_of_row(row, dims, root, (path, line)))
            line = reader.line_num + 1
    return DatasetRecords(path=str(path), pairs=tuple(pairs))
