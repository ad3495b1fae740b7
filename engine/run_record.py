"""The run record beside a score-dir output, and the resume decision it makes possible.

`<out>.cwrun.json` says, per model name, which model identity (encoder fingerprint, head digest,
decode config) scored the rows, and per video the file signature (size, mtime_ns) it had and the
prompts scored for it. Resume trusts a row only when the record proves it fresh: same model
identity, same signature now, prompt listed. Anything it cannot prove is scored again, and the
summary says why:
- a missing, truncated or garbled record (the output has rows): every row of the plan's videos;
- a video whose file changed: every row of that video for this model, whatever the prompt (a
  run with another prompts file must not leave the old prompt's stale score behind);
- a row that is torn or not a valid score row (skipped by every reader).
Rows of videos outside the plan, and of other models, are kept untouched: never rewritten, never
held in memory (resume streams the output and keeps only the rows of this run's videos).

The output is only appended to, so a pair may have several rows: the last one counts (readers
return it). A stale score is withdrawn by appending an error row for its pair (SUPERSEDED)
before the record that says the video changed is saved, so a run killed before the rescore
leaves no stale score standing; the rescore's row supersedes that error row in turn.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cleverward.engine.decode.source import source_problem
from cleverward.engine.embedding_cache import file_signature
from cleverward.engine.output import ReadResult

RUN_RECORD_SUFFIX = ".cwrun.json"
SUPERSEDED = ("earlier score withdrawn: the video file or the model changed since it was "
              "scored; a later row for this pair replaces this one")
RECORD_VERSION = 1


def run_record_path(out: str | Path) -> Path:
    """The run record beside an output: which model identity and video files its rows came from."""
    return Path(str(out) + RUN_RECORD_SUFFIX)


def head_digest(model) -> str:
    """Hash of the reward head's weights: rows and indexes are valid only for the head that
    made them."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.head.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().float().numpy().tobytes())
    return h.hexdigest()[:16]


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
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"no run record {path.name} beside the output"
    except (OSError, ValueError, RecursionError) as exc:
        return None, f"run record {path.name} is unreadable ({type(exc).__name__})"
    if not _is_record(data):
        return None, f"run record {path.name} is not a run record"
    return data, None


def _is_record(data) -> bool:
    return (isinstance(data, dict) and isinstance(data.get("models"), dict)
            and all(isinstance(m, dict) for m in data["models"].values()))


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
        return _scan(path, consume), None
    except FileNotFoundError:
        return None, f"no run record {path.name} beside the output"
    except _NotARecord:
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
            _scan(path, lambda items: _write(tmp, _merged(items, record, carry)))
        else:
            _write(tmp, _items_of(record, check=False))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class _NotARecord(ValueError):
    pass


class _Layout(ValueError):
    """A record not in save_run_record's line layout (an older one-line record, or edited)."""


_OPEN_VIDEOS = ', "videos": {'


def _items_of(record: dict, check: bool = True):
    """A record dict as the items the layout holds: ("top", {...}), then per model ("model",
    name, its entry less videos, videos is a dict) and its ("video", name, video, entry).
    Without `check` whatever is given is written (json.dumps refuses what is not JSON)."""
    if check and not _is_record(record):
        raise _NotARecord("not a run record")
    yield "top", {k: v for k, v in record.items() if k != "models"}
    for name, entry in record["models"].items():
        if not isinstance(entry, dict):
            yield "model", name, entry, False
            continue
        videos = entry.get("videos")
        has = isinstance(videos, dict)
        yield "model", name, {k: v for k, v in entry.items() if k != "videos" or not has}, has
        for video, seen in (videos.items() if has else ()):
            yield "video", name, video, seen


def _merged(items, record: dict, name: str):
    """The items on disk with model `name`'s entry replaced by `record`'s (see
    save_run_record); every other item passes through as it is, in its place."""
    new = record["models"][name]
    videos = new["videos"] if isinstance(new.get("videos"), dict) else {}
    head = {k: v for k, v in new.items() if k != "videos"}
    mine = [("video", name, v, seen) for v, seen in videos.items()]
    state, keep_old = "before", False  # before / in (inside name's old entry) / done
    for item in items:
        kind = item[0]
        if state == "in" and not (kind == "video" and item[1] == name):
            yield from mine
            state = "done"
        if kind == "top":
            yield "top", {k: v for k, v in record.items() if k != "models"}
        elif kind == "model" and item[1] == name:
            keep_old = item[3] and item[2].get("identity") == new.get("identity")
            yield "model", name, head, True
            state = "in"
        elif kind == "video" and item[1] == name:
            if keep_old and item[2] not in videos:
                yield item
        else:
            yield item
    if state == "before":
        yield "model", name, head, True
    if state != "done":
        yield from mine


def _write(tmp: Path, items) -> None:
    dumps = json.dumps
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        model_open = False
        first_model = True
        for item in items:
            if item[0] == "top":
                head = dumps(item[1], ensure_ascii=False)
                f.write(head[:-1] + (", " if item[1] else "") + '"models": {')
            elif item[0] == "model":
                f.write("\n}}," if model_open else ("" if first_model else ","))
                first_model, model_open = False, item[3]
                line = dumps({item[1]: item[2]}, ensure_ascii=False)[1:-1]
                if item[3]:  # its videos follow, one a line
                    line = line[:-1] + (_OPEN_VIDEOS if item[2] else '"videos": {')
                f.write("\n" + line)
                first_video = True
            else:
                f.write(("\n" if first_video else ",\n")
                        + dumps({item[2]: item[3]}, ensure_ascii=False)[1:-1])
                first_video = False
        f.write("\n}}" if model_open else "")
        f.write("\n}}\n")


def _scan(path: Path, consume):
    """consume(items of the record at `path`): streamed when it is in the line layout, else
    (an older one-line record) from the whole file parsed at once."""
    try:
        return consume(_stream(path))
    except _Layout:
        data = json.loads(path.read_text(encoding="utf-8"))
        return consume(_items_of(data))


def _stream(path: Path):
    with open(path, "rb") as f:
        lines = (raw.rstrip(b"\n").decode("utf-8") for raw in f)
        top = next(lines, "")
        if not (top.startswith("{") and top.endswith('"models": {')):
            raise _Layout(path)
        yield "top", _obj(top[:-len('"models": {')].rstrip().rstrip(",") + "}")
        name = None  # the model whose videos are being read
        for line in lines:
            if name is not None:
                if line in ("}},", "}}"):
                    name = None
                    continue
                video, seen = _one("{" + line.removesuffix(",") + "}")
                yield "video", name, video, seen
                continue
            if line == "}}":
                if next(lines, None) is not None:
                    raise _Layout(path)
                return
            if line.endswith('"videos": {'):
                body = line[:-len('"videos": {')].rstrip().removesuffix(",")
                model, entry = _one("{" + body + "}}")
                if not isinstance(entry, dict):
                    raise _NotARecord(path)
                yield "model", model, entry, True
                name = model
                continue
            model, entry = _one("{" + line.removesuffix(",") + "}")
            if not isinstance(entry, dict):
                raise _NotARecord(path)
            yield "model", model, entry, False
        raise _Layout(path)  # cut short


def _obj(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        raise _Layout(text[:80]) from None
    if not isinstance(value, dict):
        raise _Layout(text[:80])
    return value


def _one(text: str) -> tuple:
    """The one (key, value) of a line of the layout; anything else is not the layout."""
    value = _obj(text)
    if len(value) != 1:
        raise _Layout(text[:80])
    return next(iter(value.items()))


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
    carry: str | None = None  # record holds only this model's part: save_run_record(carry=...)


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

    last: dict[tuple[str, str], float | None] = {}
    untouched = 0
    for row in read.rows:
        if row["model"] != model_name or row["video"] not in plan:
            untouched += 1
        else:
            last[row["video"], row["prompt"]] = row["score"]
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
                   read.dropped, reasons, superseded)


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
