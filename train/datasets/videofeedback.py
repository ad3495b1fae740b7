"""VideoFeedback (TIGER-Lab, the VideoScore training set): a JSON array (or JSONL) of records

    {"id": "1006309", "images": ["1006309_00.jpg", ...],
     "conversations": [{"from": "human", "value": "... the text prompt is \"<prompt>\",\n..."},
                       {"from": "gpt", "value": "visual quality: 3\ntemporal consistency: 2\n..."}]}

Five dimensions scored 1-4 (the declared range): visual quality, temporal consistency, dynamic
degree, text-to-video alignment, factual consistency. Scores are read from the answer turn only
(the question turn holds an *example* answer); the Hugging Face viewer layout, where the scores
and the prompt are top-level fields ("visual quality": 3, "text prompt": "..."), is read too.

The video is a folder of frames. VideoScore reads frames at `<frames dir>/<id>/<image>`: when the
image names carry no folder, the video is `<root>/<id>` (pass the frames folder, e.g.
`frames_annotated/`, as videos_root); otherwise it is the frames' common parent folder under the
root. A single image entry that is a video file is taken as the video itself. Without a
videos_root, the release's own layout is found: frames of `data_<split>.json` live in the sibling
folder `frames_<split>/` (data_annotated.json -> frames_annotated/).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cleverward.train.datasets.records import (
    AnnotationError,
    DatasetRecords,
    ScoredItem,
    annotation_root,
    check_keys,
    iter_json_records,
    parse_number,
    require_object,
    resolve_video,
)

DATASET = "videofeedback"
SCORE_RANGE = (1.0, 4.0)
ASPECTS = (
    "visual quality",
    "temporal consistency",
    "dynamic degree",
    "text-to-video alignment",
    "factual consistency",
)
_VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi", ".gif")
_SCORE_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 _\-]*?)\s*:\s*(-?\d+(?:\.\d+)?)\s*$", re.M)
_PROMPT_START = re.compile(r"text prompt is\s*\"", re.I)
_PROMPT_END = (
    re.compile(r"\"\s*,?\s*\n\s*all the frames", re.I),
    re.compile(r"\",?\s*\n"),
)
KEYS = ("id", "images", "conversations", "text prompt", "prompt", *ASPECTS)
_PROMPT_LINE = re.compile(r"^\s*(?:text\s+)?prompt\s*:\s*(.+?)\s*$", re.I | re.M)


def _turn(conversations: object, roles: tuple[str, ...]) -> str | None:
    if not isinstance(conversations, list):
        return None
    for turn in conversations:
        if isinstance(turn, dict) and str(turn.get("from", "")).lower() in roles:
            value = turn.get("value")
            return value if isinstance(value, str) else None
    return None


def prompt_from_question(text: str) -> str | None:
    """The prompt quoted after `the text prompt is "`; else a `prompt: ...` line."""
    m = _PROMPT_START.search(text)
    if m:
        rest = text[m.end():]
        for end in _PROMPT_END:
            e = end.search(rest)
            if e:
                return rest[: e.start()].strip() or None
        if '"' in rest:
            return rest[: rest.rindex('"')].strip() or None
    m = _PROMPT_LINE.search(text)
    if m is None:
        return None
    return m.group(1).strip().strip('"').strip() or None


def scores_from_answer(text: str) -> dict[str, float]:
    return {name.strip().lower(): float(value) for name, value in _SCORE_LINE.findall(text)}


def _video_of(record: dict, root: Path, path: Path, line: int) -> str:
    images = record.get("images")
    if not isinstance(images, list) or not images or not all(isinstance(i, str) for i in images):
        raise AnnotationError(path, line, "'images' must be a non-empty list of frame paths")
    if len(images) == 1 and images[0].lower().endswith(_VIDEO_SUFFIXES):
        return resolve_video(images[0], root, path, line)
    parents = {os.path.dirname(i) for i in images}
    if parents == {""}:
        vid = record.get("id")
        if isinstance(vid, bool) or not isinstance(vid, (str, int)) or not str(vid).strip():
            raise AnnotationError(path, line, "bare frame names need an 'id' (frames at <id>/)")
        return resolve_video(str(vid).strip(), root, path, line)
    if len({os.path.isabs(p) for p in parents}) > 1:
        raise AnnotationError(path, line, "'images' mixes absolute and relative frame paths")
    return resolve_video(os.path.commonpath(sorted(parents)), root, path, line)


def _scores(record: dict, path: Path, line: int) -> dict[str, float]:
    top = {a: parse_number(record[a]) for a in ASPECTS if a in record}
    if any(v is None for v in top.values()):
        raise AnnotationError(path, line, f"non-numeric scores: { {a: record[a] for a in top} }")
    if top:
        scores = dict(top)
    else:
        answer = _turn(record.get("conversations"), ("gpt", "assistant"))
        if answer is None:
            raise AnnotationError(path, line, "no gpt/assistant turn in conversations")
        scores = scores_from_answer(answer)
    if not scores:
        raise AnnotationError(path, line, "no 'dimension: score' lines in the answer")
    lo, hi = SCORE_RANGE
    bad = {k: v for k, v in scores.items() if not lo <= v <= hi}
    if bad:
        raise AnnotationError(path, line, f"scores outside {lo:g}-{hi:g}: {bad}")
    return scores


def _prompt(record: dict, path: Path, line: int) -> str:
    for key in ("text prompt", "prompt"):
        if isinstance(record.get(key), str) and record[key].strip():
            return record[key].strip()
    question = _turn(record.get("conversations"), ("human", "user"))
    prompt = prompt_from_question(question) if question else None
    if not prompt:
        raise AnnotationError(path, line, "no prompt found in the question turn")
    return prompt


def _root(path: Path, videos_root: str | Path | None) -> Path:
    if videos_root is None and path.stem.startswith("data_"):
        frames = path.parent / f"frames_{path.stem[len('data_'):]}"
        if frames.is_dir():
            return frames
    return annotation_root(path, videos_root)


def load(path: str | Path, videos_root: str | Path | None = None) -> DatasetRecords:
    path = Path(path)
    root = _root(path, videos_root)
    items = []
    for line, obj in iter_json_records(path):
        record = require_object(obj, path, line)
        check_keys(record, KEYS, path, line, strict=False)  # releases carry more fields
        if not isinstance(record.get("conversations", []), list):
            raise AnnotationError(path, line, "'conversations' must be a list of turns")
        items.append(ScoredItem(
            DATASET, _video_of(record, root, path, line), _prompt(record, path, line),
            _scores(record, path, line), f"{path}:{line}",
        ))
    return DatasetRecords(path=str(path), scored=tuple(items), score_range=SCORE_RANGE)
