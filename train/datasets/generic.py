"""The generic layout: JSONL, one record a line, either a scored record

    {"video": "a.mp4", "prompt": "...", "scores": {"<dimension>": 3.5, ...}, "dataset": "mine"}

or a pair record

    {"prompt": "...", "chosen": "a.mp4", "rejected": "b.mp4", "dimension": "overall",
     "tie": false, "dataset": "mine"}

`dataset` is optional (default: the file's stem); so are a pair's `dimension` (default overall),
`tie` (default false) and `vote` (a free-form raw label kept in the output). Dimension names go
through the taxonomy like every other dataset's. The synthetic task (`cleverward synth`) writes
this layout. A JSON array of the same records is read too. The layout is the project's own, so a
key it does not define (a misspelt "Video") is an error, as is a value of the wrong type.
"""

from __future__ import annotations

import math
from pathlib import Path

from cleverward.engine.dimensions import OVERALL
from cleverward.train.datasets.records import (
    AnnotationError,
    DatasetRecords,
    PairItem,
    ScoredItem,
    annotation_root,
    check_keys,
    iter_json_records,
    require_object,
    require_str,
    resolve_video,
)


def _dataset(record: dict, default: str, path: Path, line: int) -> str:
    if "dataset" not in record:
        return default
    return require_str(record, "dataset", path, line)


SCORED_KEYS = ("video", "prompt", "scores", "dataset")
PAIR_KEYS = ("prompt", "chosen", "rejected", "dimension", "tie", "vote", "dataset")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _scored(record: dict, root: Path, default: str, path: Path, line: int) -> ScoredItem:
    check_keys(record, SCORED_KEYS, path, line, strict=True)
    raw = record["scores"]
    if not isinstance(raw, dict) or not raw:
        raise AnnotationError(path, line, "'scores' must be a non-empty object")
    if not all(k.strip() for k in raw):
        raise AnnotationError(path, line, "'scores' has an empty dimension name")
    bad = [k for k, v in raw.items() if not _is_number(v)]
    if bad:
        raise AnnotationError(path, line, f"non-numeric score(s) for {', '.join(bad)} (scores "
                                          f"are finite JSON numbers)")
    return ScoredItem(
        _dataset(record, default, path, line),
        resolve_video(require_str(record, "video", path, line), root, path, line),
        require_str(record, "prompt", path, line), {k: float(v) for k, v in raw.items()},
        f"{path}:{line}",
    )


def _pair(record: dict, root: Path, default: str, path: Path, line: int) -> PairItem:
    check_keys(record, PAIR_KEYS, path, line, strict=True)
    tie = record.get("tie", False)
    if not isinstance(tie, bool):
        raise AnnotationError(path, line, f"'tie' must be true or false, got {tie!r}")
    dimension = require_str(record, "dimension", path, line) if "dimension" in record else OVERALL
    vote = record.get("vote")
    if vote is not None and not isinstance(vote, str):
        raise AnnotationError(path, line, f"'vote' must be a string or null, got {vote!r}")
    return PairItem(
        _dataset(record, default, path, line),
        require_str(record, "prompt", path, line),
        resolve_video(require_str(record, "chosen", path, line), root, path, line),
        resolve_video(require_str(record, "rejected", path, line), root, path, line),
        dimension, tie, vote, f"{path}:{line}",
    )


def load(path: str | Path, videos_root: str | Path | None = None) -> DatasetRecords:
    path = Path(path)
    root = annotation_root(path, videos_root)
    scored: list[ScoredItem] = []
    pairs: list[PairItem] = []
    for line, obj in iter_json_records(path):
        record = require_object(obj, path, line)
        if "scores" in record:
            scored.append(_scored(record, root, path.stem, path, line))
        elif "chosen" in record or "rejected" in record:
            pairs.append(_pair(record, root, path.stem, path, line))
        else:
            raise AnnotationError(
                path, line, "expected a scored record (video, prompt, scores) "
                "or a pair record (prompt, chosen, rejected)",
            )
    return DatasetRecords(path=str(path), scored=tuple(scored), pairs=tuple(pairs))
