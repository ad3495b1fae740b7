"""The run record's file layout: valid JSON with one model header or one video entry a line,
so that a run can stream a record of millions of videos instead of loading it (a record of 1M
videos is ~100 MB of JSON, ~760 MiB once parsed into dicts).

    {"version": 1, "models": {
    "default": {"identity": {...}, "videos": {
    "a.mp4": {"sig": [size, mtime_ns], "prompts": ["..."]},
    "b.mp4": {...}
    }},
    "other-model": {"identity": {...}, "videos": ["not a dict: one line"]}
    }}

A record is handled as items: ("top", {version...}), ("model", name, entry less its videos,
videos is a dict), ("video", name, video, entry). A file that does not follow the layout (a
one-line record of an earlier version, or edited by hand) is parsed whole instead.
"""

from __future__ import annotations

import json
from pathlib import Path

from cleverward.engine.decode.source import open_regular


def is_record(data) -> bool:
    return (isinstance(data, dict) and isinstance(data.get("models"), dict)
            and all(isinstance(m, dict) for m in data["models"].values()))


class NotARecord(ValueError):
    pass


class _Layout(ValueError):
    """A record not in save_run_record's line layout (an older one-line record, or edited)."""


_OPEN_VIDEOS = ', "videos": {'


def record_items(record: dict, check: bool = True):
    """A record dict as the items the layout holds: ("top", {...}), then per model ("model",
    name, its entry less videos, videos is a dict) and its ("video", name, video, entry).
    Without `check` whatever is given is written (json.dumps refuses what is not JSON)."""
    if check and not is_record(record):
        raise NotARecord("not a run record")
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


def merged(items, record: dict, name: str):
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


def write(tmp: Path, items) -> None:
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


def scan(path: Path, consume):
    """consume(items of the record at `path`): streamed when it is in the line layout, else
    (an older one-line record) from the whole file parsed at once."""
    try:
        return consume(_stream(path))
    except _Layout:
        with open_regular(path) as f:
            data = json.loads(f.read().decode("utf-8"))
        return consume(record_items(data))


def _stream(path: Path):
    with open_regular(path) as f:  # a FIFO would block, /dev/zero is one endless line
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
                    raise NotARecord(path)
                yield "model", model, entry, True
                name = model
                continue
            model, entry = _one("{" + line.removesuffix(",") + "}")
            if not isinstance(entry, dict):
                raise NotARecord(path)
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
