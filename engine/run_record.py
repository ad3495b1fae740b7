"""The run record beside a score-dir output, and the resume decision it makes possible.

`<out>.cwrun.json` says, per model name, which model identity (encoder fingerprint, head digest,
decode config) scored the rows, and per video the file signature (size, mtime_ns) it had and the
prompts scored for it. Resume trusts a row only when the record proves it fresh: same model
identity, same signature now, prompt listed. Anything it cannot prove is scored again, and the
summary says why:
- a missing, truncated or garbled record (the output has rows): every row of the plan's videos;
- a video whose file changed: every row of that video for this model, whatever the prompt (a
  run with another prompts file must not leave the old prompt's stale score behind);
- a row that is torn or not a valid score row (dropped by the reader);
- a row of the same model location with other weights (`runs/r1@<old digest>`: a checkpoint
  retrained in place), which this run's rows replace.
Rows of videos outside the plan, and of other models, are kept untouched; so are rows whose
"model" is a bare name written before identities carried a digest.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cleverward.engine.checkpoint import identity_place, weights_digest
from cleverward.engine.decode.source import source_problem
from cleverward.engine.embedding_cache import file_signature
from cleverward.engine.output import ReadResult

RUN_RECORD_SUFFIX = ".cwrun.json"
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
    """(record, None), or (None, why it cannot be used)."""
    path = run_record_path(out)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"no run record {path.name} beside the output"
    except (OSError, ValueError, RecursionError) as exc:
        return None, f"run record {path.name} is unreadable ({type(exc).__name__})"
    if not (isinstance(data, dict) and isinstance(data.get("models"), dict)
            and all(isinstance(m, dict) for m in data["models"].values())):
        return None, f"run record {path.name} is not a run record"
    return data, None


def load_run_record(out: str | Path) -> dict | None:
    """The run record of `out`; None when there is none or it is unreadable."""
    return read_run_record(out)[0]


def save_run_record(out: str | Path, record: dict) -> None:
    path = run_record_path(out)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
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
    rows: list[dict]  # every row the output keeps, in file order
    kept: list[dict]  # of those, the rows of this run's plan (not scored again)
    record: dict  # the run record once this run's rows are in
    stale: int = 0  # good rows scored again because nothing proved them fresh
    dropped: int = 0  # torn or invalid rows the reader left out
    reasons: list[str] = field(default_factory=list)  # why rows are scored again (summary)


def resume(model_name: str, plan: dict[str, list[str]], root: Path, identity: dict,
           read: ReadResult, record: dict | None, record_problem: str | None) -> Resumed:
    """Split an earlier output's rows (`read`) against this run's plan, which is edited in place:
    pairs proven fresh leave it, stale rows of other prompts join it."""
    models = dict(record["models"]) if record else {}
    mine = models.get(model_name) or {}
    same = mine.get("identity") == identity and isinstance(mine.get("videos"), dict)
    before = mine["videos"] if same else {}
    sigs = {v: signature(root / v) for v in plan}

    def proven(video: str) -> list:
        seen = before.get(video)
        ok = isinstance(seen, dict) and sigs[video] is not None and seen.get("sig") == sigs[video]
        return list(seen.get("prompts") or []) if ok else []

    fresh = {v: set(proven(v)) for v in plan}
    place = identity_place(model_name)

    def ours(row: dict) -> bool:  # this model's rows, or its own location's older weights'
        return row["model"] == model_name or (place is not None
                                              and identity_place(row["model"]) == place)

    out, kept, done, stale = [], [], set(), 0
    for row in read.rows:
        video, prompt = row["video"], row["prompt"]
        if not ours(row) or video not in plan:
            out.append(row)
        elif (video, prompt) in done:
            continue  # a duplicate of a row kept already
        elif row["score"] is not None and prompt in fresh[video]:
            out.append(row)
            done.add((video, prompt))
            if prompt in plan[video]:
                kept.append(row)
        else:
            stale += row["score"] is not None
            if prompt not in plan[video]:
                plan[video].append(prompt)  # its video changed (or is unproven): score it again
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
    return Resumed(out, kept, {"version": RECORD_VERSION, "models": models}, stale,
                   read.dropped, reasons)


def _reasons(read: ReadResult, record_problem: str | None, stale: int) -> list[str]:
    reasons = []
    if read.dropped:
        reasons.append(f"{read.dropped} torn or invalid row(s) dropped from the output and "
                       f"scored again (first: {read.problems[0]})")
    if stale and record_problem and read.rows:
        reasons.append(f"{record_problem}: {stale} earlier row(s) could not be proven fresh "
                       "and were scored again")
    elif stale:
        reasons.append(f"{stale} earlier row(s) scored again: their video file changed or the "
                       "model identity differs")
    return reasons
