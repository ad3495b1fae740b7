"""T2VQA-DB: text lines `filename|prompt|MOS`, one video a line, MOS -> the `MOS` dimension.

A header line (a first line whose last field is not a number and whose first is not a video file
name) and blank lines are skipped. A
prompt may itself hold `|`: the first field is the file name, the last the MOS, the rest the
prompt. The MOS scale is taken from the data (no declared range).
"""

from __future__ import annotations

from pathlib import Path

from cleverward.train.datasets.records import (
    AnnotationError,
    DatasetRecords,
    ScoredItem,
    annotation_root,
    iter_lines,
    parse_number,
    read_text,
    resolve_video,
)

VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi", ".gif", ".m4v", ".mpg", ".mpeg")
DATASET = "t2vqa"
DIMENSION = "MOS"


def _parse_line(path: Path, lineno: int, text: str) -> tuple[str, str, float | None]:
    parts = text.split("|")
    if len(parts) < 3:
        raise AnnotationError(
            path, lineno, f"expected 'filename|prompt|MOS', got {len(parts)} field(s)"
        )
    name, prompt = parts[0].strip(), "|".join(parts[1:-1]).strip()
    return name, prompt, parse_number(parts[-1].strip())


def _looks_like_video(name: str) -> bool:
    return Path(name).suffix.lower() in VIDEO_SUFFIXES


def load(path: str | Path, videos_root: str | Path | None = None) -> DatasetRecords:
    path = Path(path)
    root = annotation_root(path, videos_root)
    items: list[ScoredItem] = []
    seen_record = False
    for lineno, raw in iter_lines(read_text(path)):  # UTF-8 or an error naming the line
        text = raw.strip()
        if not text:
            continue
        name, prompt, mos = _parse_line(path, lineno, text)
        if mos is None:
            if not seen_record and not _looks_like_video(name):  # a header line
                seen_record = True
                continue
            raise AnnotationError(path, lineno, f"MOS {text.split('|')[-1]!r} is not a number")
        seen_record = True
        if not name or not prompt:
            raise AnnotationError(path, lineno, "empty file name or prompt")
        video = resolve_video(name, root, path, lineno)
        items.append(ScoredItem(DATASET, video, prompt, {DIMENSION: mos}, f"{path}:{lineno}"))
    return DatasetRecords(path=str(path), scored=tuple(items))
