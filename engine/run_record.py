"""The run record beside a score-dir output, and the resume decision it makes possible.

`<out>.cwrun.json` says, per model name, which model identity (encoder fingerprint, head digest,
decode config) scored the rows, and per video the file signature (size, mtime_ns) it had and the
prompts scored for it. Resume trusts a row only when the record proves it fresh: same model
identity, same signature now, prompt listed. Anything it cannot prove is scored again, and the
summary says why:
- a missing, truncated or garbled record (the output has rows): every row of the plan's videos;
- a video whose file changed: every row of that video for this model, whatever the prompt (a
  run with another prompts file must not leave the old prompt's stale score behind);
- a row that is torn or not a valid score row (skipped by every reader);
- a row of the same model location with other weights (`runs/r1@<old digest>`: a checkpoint
  retrained in place): withdrawn (an error row under that old name) and scored again.
Rows of videos outside the plan, and of other models, are kept untouched: never rewritten, never
held in memory (resume streams the output and keeps only the rows of this run's videos; a row of
another video is counted without being parsed, output.stream_output with `videos`); so are
rows whose "model" is a bare name written before identities carried a digest.

The output is only appended to, so a pair may have several rows: the last one counts (readers
return it). A stale score is withdrawn by appending an error row for its pair (SUPERSEDED)
before the record that says the video changed is saved, so a run killed before the rescore
leaves no stale score standing; the rescore's row supersedes that error row in turn.

The record is streamed too (engine/run_record_layout.py: one video entry a line): a run reads
only its model's entries of its own videos and, saving, carries every other entry over from the
file as it streams past.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cleverward.engine.checkpoint import identity_place, weights_digest
from cleverward.engine.decode.source import open_regular, source_problem
from cleverward.engine.embedding_cache import file_signature
from cleverward.engine.output import WITHDRAWN, ReadResult
from cleverward.engine.run_record_layout import (
    NotARecord,
    is_record,
    merged,
    record_items,
    scan,
    write,
)

RUN_RECORD_SUFFIX = ".cwrun.json"
SUPERSEDED = WITHDRAWN  # the tombstone row's error (engine/output.py)
RECORD_VERSION = 1


def run_record_path(out: str | Path) -> Path:
    """The run record beside an output: which model identity and video files its rows came from."""
    return Path(str(out) + RUN_RECORD_SUFFIX)


def head_digest(model) -> str:
    """Hash of the reward head's weights: rows and indexes are valid only for the head that
    made them."""
    return weights_digest(model.head.state_dict())


def model_identity(model, decode_cfg) -> dict:
    """What a score depends on besides the pair: the video encoder, the head's weights (a
    checkpoint retrained in place keeps its path) and the frames sampled (decode_cfg.key(), as
    the embedding cache: the decoders return the same frames, so --decoder is not part)."""
    return {"encoder": model.fingerprint(), "head": head_digest(model),
            "decode": decode_cfg.key()}


def read_run_record(out: str | Path) -> tuple[dict | None, str | None]:
    """(record, None), or (None, why it cannot be used). The whole record, in memory."""
    path = run_record_path(out)
    try:
        with open_regular(path) as f:  # a FIFO would block, /dev/zero is one endless line
            data = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        return None, f"no run record {path.name} beside the output"
    except (OSError, ValueError, RecursionError) as exc:
        return None, f"run record {path.name} is unreadable ({type(exc).__name__})"
    if not is_record(data):
        return None, f"run record {path.name} is not a run record"
    return data, None


def read_run_record_for(out: str | Path, model_name: str,
                        videos) -> tuple[dict | None, str | None]:
    """read_run_record, holding only what one run can use: the entry of `model_name` with the
    entries of `videos` (this run's plan). The record is streamed line by line (the layout
    save_run_record writes); save it back with `carry=True` to keep the rest as it is."""
    path = run_record_path(out)

    def consume(items) -> dict:
        record: dict = {"models": {}}
        for item in items:
            if item[0] == "top":
                record = {**item[1], "models": {}}
            elif item[0] == "model" and item[1] == model_name:
                record["models"][model_name] = dict(item[2])
                if item[3]:
                    record["models"][model_name]["videos"] = {}
            elif item[0] == "video" and item[1] == model_name and item[2] in videos:
                record["models"][model_name]["videos"][item[2]] = item[3]
        return record

    try:
        return scan(path, consume), None
    except FileNotFoundError:
        return None, f"no run record {path.name} beside the output"
    except NotARecord:
        return None, f"run record {path.name} is not a run record"
    except (OSError, ValueError, RecursionError) as exc:
        return None, f"run record {path.name} is unreadable ({type(exc).__name__})"


def load_run_record(out: str | Path) -> dict | None:
    """The run record of `out`; None when there is none or it is unreadable."""
    return read_run_record(out)[0]


def save_run_record(out: str | Path, record: dict, carry: str | None = None) -> None:
    """Write `record` beside `out` (a temporary file, then one rename). With `carry` (a model
    name), `record` holds only that model's entries of one run's videos (read_run_record_for):
    every other entry of the record on disk is streamed over into the new one, unless that
    model's identity changed (its old entries then prove nothing and are left out).

    Layout: valid JSON, one model header or one video entry a line, so that a run can stream
    it instead of loading every entry (a record of 1M videos is ~100 MB)."""
    path = run_record_path(out)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if carry is not None and path.exists():
            scan(path, lambda items: write(tmp, merged(items, record, carry)))
        else:
            write(tmp, record_items(record, check=False))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def signature(path: Path) -> list[int] | None:
    """The file signature the record keeps; None for what cannot be read (never proven fresh)."""
    if source_problem(path) is not None:
        return None
    try:
        return list(file_signature(path))
    except OSError:
        return None


@dataclass
class Resumed:
    kept: list[tuple[str, str, float]]  # (video, prompt, score) of this plan's pairs, not redone
    record: dict  # the run record once this run's rows are in
    untouched: int = 0  # rows left as they are that are not this run's pairs
    stale: int = 0  # good rows scored again because nothing proved them fresh
    dropped: int = 0  # torn or invalid rows the reader left out
    reasons: list[str] = field(default_factory=list)  # why rows are scored again (summary)
    superseded: list[tuple[str, str]] = field(default_factory=list)  # (video, prompt) whose
    # last row holds a score that is stale: an error row withdraws it before the record is saved
    withdrawn: list[tuple[str, str, str]] = field(default_factory=list)  # (video, prompt, model)
    # scored under this location's older weights (runs/r1@<old digest>): withdrawn the same way
    carry: str | None = None  # record holds only this model's part: save_run_record(carry=...)
    unchanged: bool = False  # the record on disk says this already: no need to save it


def resume(model_name: str, plan: dict[str, list[str]], root, identity: dict,
           read: ReadResult, record: dict | None, record_problem: str | None) -> Resumed:
    """Split an earlier output's rows (`read.rows`, any iterable, read once in file order)
    against this run's plan, which is edited in place: pairs proven fresh leave it, stale rows
    of other prompts join it. `root`: the videos' folder, or a function from a row's video to
    its path.

    Memory: only the rows of this model and of the plan's videos are looked at past their
    model and video, and they are held as (video, prompt) -> score of the last such row (a
    later row supersedes an earlier one); every other row is counted and let go."""
    locate = root if callable(root) else Path(root).__truediv__
    models = dict(record["models"]) if record else {}
    mine = models.get(model_name) or {}
    same = mine.get("identity") == identity and isinstance(mine.get("videos"), dict)
    before = mine["videos"] if same else {}
    sigs = {v: signature(locate(v)) for v in plan}

    def proven(video: str) -> list:
        seen = before.get(video)
        ok = isinstance(seen, dict) and sigs[video] is not None and seen.get("sig") == sigs[video]
        return list(seen.get("prompts") or []) if ok else []

    place = identity_place(model_name)
    last: dict[tuple[str, str], float | None] = {}
    others: dict[tuple[str, str, str], float | None] = {}  # same location, older weights
    untouched = 0
    for row in read.rows:
        model = row["model"]
        if row["video"] not in plan:
            untouched += 1
        elif model == model_name:
            last[row["video"], row["prompt"]] = row["score"]
        elif place is not None and identity_place(model) == place:
            others[row["video"], row["prompt"], model] = row["score"]
        else:
            untouched += 1
    untouched += read.passed  # rows of other videos the reader counted without parsing them
    fresh = {v: set(proven(v)) for v in plan}
    kept, done, stale, superseded = [], [], 0, []
    for (video, prompt), score in last.items():
        if score is not None and prompt in fresh[video]:
            done.append((video, prompt))
            if prompt in plan[video]:
                kept.append((video, prompt, score))
            else:
                untouched += 1
            continue
        if score is not None:
            stale += 1
            superseded.append((video, prompt))
        if prompt not in plan[video]:
            plan[video].append(prompt)  # its video changed (or is unproven): score it again
    withdrawn, redone = [], set(done)
    for (video, prompt, model), score in others.items():
        if score is None:
            continue  # withdrawn already (or never scored): nothing stands under that name
        stale += 1
        withdrawn.append((video, prompt, model))
        if (video, prompt) not in redone and prompt not in plan[video]:
            plan[video].append(prompt)
    reasons = _reasons(read, record_problem, stale)
    videos = {v: seen for v, seen in before.items() if v not in plan}
    for v, ps in plan.items():
        old = proven(v)
        videos[v] = {"sig": sigs[v], "prompts": old + [p for p in ps if p not in old]}
    models[model_name] = {"identity": identity, "videos": videos}
    for video, prompt in done:
        if prompt in plan[video]:
            plan[video].remove(prompt)
    for video in [v for v, ps in plan.items() if not ps]:
        del plan[video]
    return Resumed(kept, {"version": RECORD_VERSION, "models": models}, untouched, stale,
                   read.dropped, reasons, superseded, withdrawn)


def _reasons(read: ReadResult, record_problem: str | None, stale: int) -> list[str]:
    reasons = []
    if read.dropped:
        reasons.append(f"{read.dropped} torn or invalid row(s) in the output skipped (readers "
                       f"skip them; a pair with no valid row is scored again; first: "
                       f"{read.problems[0]})")
    if stale and record_problem:
        reasons.append(f"{record_problem}: {stale} earlier row(s) could not be proven fresh "
                       "and were scored again")
    elif stale:
        reasons.append(f"{stale} earlier row(s) scored again: their video file changed or the "
                       "model identity differs")
    return reasons
