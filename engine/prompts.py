"""prompts.jsonl: one JSON object a line.

    {"video": "a.mp4", "prompt": "..."}   scores that pair (video relative to the scored folder)
    {"prompt": "..."}                     scores the prompt against every video in the folder
    {"video": "a.mp4", "prompt": "...", "generator": "model-x"}   which model made the video
                                          (optional; carried into JSONL rows, for compare)

Every problem is reported with file name and line number, all at once, before any decoding.
Blank lines and lines starting with `#` are skipped. The file is UTF-8 (a BOM is fine). A `video`
is normalised to its posix path relative to the folder ("./a.mp4" is "a.mp4"); one outside the
folder (`../../etc/passwd`, an absolute path elsewhere) is an error. Keys other than "video",
"prompt" and "generator" are errors, with the key they most likely meant ("Video" -> "video"):
a misspelt key silently ignored would score the prompt against every video. A line nested too
deeply for the JSON parser and a string holding a lone surrogate ("\\ud800", not writable as
UTF-8) are errors of their line, as are a key given twice (JSON keeps the last silently),
`"video": null` (leave the key out to mean every video) and a video name holding a NUL.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from cleverward.engine.decode.source import file_problem


@dataclass(frozen=True)
class PromptEntry:
    prompt: str
    video: str | None  # relative to the scored folder; None = every video
    line: int
    missing: str | None = None  # `file:line: ...` when the named video is not there (missing_ok)
    generator: str | None = None  # which model made `video` (needs a video)


class PromptsError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        shown = problems[:20]
        more = f"\n... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__("invalid prompts file:\n" + "\n".join(shown) + more)
        self.problems = problems


KEYS = ("video", "prompt", "generator")


def _unknown_key(obj: dict, where: str) -> str | None:
    import difflib

    for key in obj:
        if key in KEYS:
            continue
        shown = key.encode("utf-8", "backslashreplace").decode("utf-8")
        near = [k for k in KEYS if k == key.strip().lower()] or difflib.get_close_matches(
            key.lower(), KEYS, n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]!r}?" if near else f"; the keys are {', '.join(KEYS)}"
        return f"{where}: unknown key {shown!r}{hint}"
    return None


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key.encode("utf-8", "backslashreplace").decode("utf-8")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return obj


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_line(obj, where: str, videos_dir: Path | None,
                missing_ok: bool = False) -> tuple[PromptEntry | None, str | None]:
    if not isinstance(obj, dict):
        return None, f"{where}: expected a JSON object, got {type(obj).__name__}"
    unknown = _unknown_key(obj, where)
    if unknown:
        return None, unknown
    for key in KEYS:
        if isinstance(obj.get(key), str) and _has_surrogate(obj[key]):
            return None, f"{where}: {key!r} holds a lone surrogate (not valid Unicode text)"
    prompt = obj.get("prompt")
    if prompt is None:
        return None, f"{where}: missing \"prompt\""
    if not isinstance(prompt, str) or not prompt.strip():
        return None, f"{where}: \"prompt\" must be a non-empty string"
    video, generator = obj.get("video"), obj.get("generator")
    if generator is not None:
        if not isinstance(generator, str) or not generator.strip():
            return None, f"{where}: \"generator\" must be a non-empty string"
        if "video" not in obj:
            return None, f"{where}: \"generator\" needs a \"video\" (the clip it made)"
        generator = generator.strip()
    if "video" in obj:  # "video": null is not "every video": leave the key out for that
        if not isinstance(video, str) or not video.strip():
            return None, (f"{where}: \"video\" must be a non-empty string (leave the key out "
                          "to score the prompt against every video)")
        if "\0" in video:
            return None, f"{where}: \"video\" holds a NUL character (not a file name)"
        if videos_dir is not None:
            rel = normalise_video(video, videos_dir)
            if rel is None:
                return None, f"{where}: video {video!r} is outside the scored folder {videos_dir}"
            if not os.path.lexists(videos_dir / rel):
                missing = f"{where}: video {video!r} does not exist in {videos_dir}"
                if not missing_ok:
                    return None, missing
                return PromptEntry(prompt=prompt, video=rel, line=0, missing=missing,
                                   generator=generator), None
            video = rel
    return PromptEntry(prompt=prompt, video=video, line=0, generator=generator), None


def normalise_video(video: str, videos_dir: str | Path) -> str | None:
    """`video` as a posix path relative to the scored folder ("./a.mp4", "d//e/../e/b.mp4" and
    an absolute path inside the folder name the same video as the folder walk does); None if it
    lies outside the folder."""
    root = os.path.normpath(os.path.abspath(videos_dir))
    full = os.path.normpath(os.path.join(root, os.path.expanduser(video)))
    rel = os.path.relpath(full, root)
    if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return None
    return Path(rel).as_posix()


def parse_prompts(path: str | Path, videos_dir: str | Path | None = None,
                  missing_ok: bool = False) -> list[PromptEntry]:
    """Read and validate; raises PromptsError listing every bad line as `file:line: what`.
    missing_ok: a line naming a video that is not in `videos_dir` is kept, with `missing` saying
    so (score-dir writes an error row for it and goes on, as for a corrupt video)."""
    path = Path(path)
    problem = file_problem(path)  # a FIFO or a device is never opened: it would block
    if problem is not None:
        raise PromptsError([f"{path}: {problem}"])
    root = Path(videos_dir) if videos_dir is not None else None
    entries, problems = [], []
    try:
        lines = path.read_bytes().decode("utf-8-sig").replace("\r\n", "\n").split("\n")
    except UnicodeDecodeError as exc:
        raise PromptsError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                            "save it as UTF-8"]) from None
    for lineno, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(text, object_pairs_hook=_unique_keys)
        except _DuplicateKey as exc:
            problems.append(f"{where}: key {exc.key!r} appears twice (JSON would keep the "
                            "last silently)")
            continue
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        except RecursionError:
            problems.append(f"{where}: nested too deeply to be a prompt line")
            continue
        entry, problem = _check_line(obj, where, root, missing_ok)
        if problem:
            problems.append(problem)
        else:
            entries.append(PromptEntry(entry.prompt, entry.video, lineno, entry.missing,
                                       entry.generator))
    if problems:
        raise PromptsError(problems)
    if not entries:
        raise PromptsError([f"{path}: holds no prompts"])
    return entries
