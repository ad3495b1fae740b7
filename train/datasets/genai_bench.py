"""GenAI-Bench video_generation: JSON array or JSONL records

    {"id": ..., "prompt": "...", "video_left": "a.mp4", "video_right": "b.mp4",
     "vote_type": "leftvote" | "rightvote" | "tievote" | "bothbad_vote"}

The Hugging Face release names the video fields `left_video` / `right_video` (and holds URLs):
both spellings are read, and a URL resolves to its file name under the root. Every record is a
direct pair on the `vote` dimension; tievote and bothbad_vote are ties (the vote is kept).
"""

from __future__ import annotations

from pathlib import Path

from cleverward.train.datasets.records import (
    AnnotationError,
    DatasetRecords,
    PairItem,
    annotation_root,
    check_keys,
    iter_json_records,
    require_object,
    require_str,
    resolve_video,
)

DATASET = "genai-bench"
DIMENSION = "vote"
VOTES = {"leftvote": False, "rightvote": False, "tievote": True, "bothbad_vote": True}
KEYS = ("id", "prompt", "video_left", "video_right", "left_video", "right_video", "vote_type")


def _video(record: dict, side: str, path: Path, line: int) -> str:
    for key in (f"video_{side}", f"{side}_video"):
        if key in record:
            return require_str(record, key, path, line)
    raise AnnotationError(path, line, f"missing 'video_{side}' (or '{side}_video')")


def _pair(record: dict, root: Path, path: Path, line: int) -> PairItem:
    check_keys(record, KEYS, path, line, strict=False)  # the release has more fields
    prompt = require_str(record, "prompt", path, line)
    left = resolve_video(_video(record, "left", path, line), root, path, line)
    right = resolve_video(_video(record, "right", path, line), root, path, line)
    raw_vote = record.get("vote_type")
    vote = raw_vote.strip().lower() if isinstance(raw_vote, str) else ""
    if vote not in VOTES:
        raise AnnotationError(
            path, line, f"vote_type {record.get('vote_type')!r} not one of {', '.join(VOTES)}"
        )
    chosen, rejected = (right, left) if vote == "rightvote" else (left, right)
    return PairItem(DATASET, prompt, chosen, rejected, DIMENSION, VOTES[vote], vote,
                    f"{path}:{line}")


def load(path: str | Path, videos_root: str | Path | None = None) -> DatasetRecords:
    path = Path(path)
    root = annotation_root(path, videos_root)
    pairs = tuple(
        _pair(require_object(obj, path, line), root, path, line)
        for line, obj in iter_json_records(path)
    )
    return DatasetRecords(path=str(path), pairs=pairs)
