import json

import pytest

from cleverward.engine.output import RowWriter, make_row, read_rows
from cleverward.engine.prompts import PromptsError, parse_prompts


def test_parse_prompts_ok(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    p = tmp_path / "p.jsonl"
    p.write_text('{"prompt": "all videos"}\n\n# comment\n{"video": "a.mp4", "prompt": "one"}\n')
    entries = parse_prompts(p, tmp_path)
    assert [(e.prompt, e.video, e.line) for e in entries] == [
        ("all videos", None, 1), ("one", "a.mp4", 4)]


def test_parse_prompts_reports_every_bad_line(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text("\n".join([
        '{"prompt": "fine"}',
        "{not json",
        '{"video": "a.mp4"}',
        '{"prompt": "x", "video": "missing.mp4"}',
        '["a list"]',
        '{"prompt": ""}',
    ]) + "\n")
    with pytest.raises(PromptsError) as info:
        parse_prompts(p, tmp_path)
    problems = info.value.problems
    assert [pr.split(":")[1] for pr in problems] == ["2", "3", "4", "5", "6"]
    assert "not valid JSON" in problems[0] and 'missing "prompt"' in problems[1]
    assert "missing.mp4" in problems[2] and "does not exist" in problems[2]
    assert all(pr.startswith(str(p)) for pr in problems)


def test_empty_prompts_file(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text("\n")
    with pytest.raises(PromptsError, match="holds no prompts"):
        parse_prompts(p)


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_writers_round_trip(tmp_path, fmt):
    path = tmp_path / f"out.{fmt}"
    rows = [make_row("a.mp4", "p", [0.5, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6], "default"),
            make_row("b.mp4", "p", None, "default", "file is empty")]
    with RowWriter(path, fmt) as w:
        for r in rows:
            w.write(r)
    back = read_rows(path, fmt)
    assert back[0]["score"] == 0.5 and back[0]["dimensions"]["physical_realism"] == 0.6
    assert back[1]["score"] is None and back[1]["error"] == "file is empty"


def test_jsonl_torn_last_line_is_dropped(tmp_path):
    path = tmp_path / "out.jsonl"
    good = json.dumps(make_row("a.mp4", "p", [0.1] * 7, "m"))
    path.write_text(good + "\n" + good[:20])  # a crash mid-write
    assert len(read_rows(path, "jsonl")) == 1


def test_prompts_file_with_a_bom_is_read(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + b'{"prompt": "with a BOM"}\n')
    assert [e.prompt for e in parse_prompts(p)] == ["with a BOM"]


def test_prompts_file_not_utf8_names_the_file(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_bytes('{"prompt": "utf-16"}\n'.encode("utf-16"))
    with pytest.raises(PromptsError) as info:
        parse_prompts(p)
    assert str(p) in str(info.value) and "UTF-8" in str(info.value)


def test_prompt_video_paths_are_normalised_to_the_folder(tmp_path):
    root = tmp_path / "videos"
    (root / "sub dir" / "deeper").mkdir(parents=True)
    (root / "a.mp4").write_bytes(b"x")
    (root / "sub dir" / "deeper" / "b.webm").write_bytes(b"x")
    (tmp_path / "outside.mp4").write_bytes(b"x")
    p = tmp_path / "p.jsonl"
    p.write_text("\n".join(json.dumps({"video": v, "prompt": "x"}) for v in [
        "./a.mp4", "a.mp4", "sub dir//deeper/../deeper/b.webm", str(root / "a.mp4")]) + "\n")
    assert [e.video for e in parse_prompts(p, root)] == [
        "a.mp4", "a.mp4", "sub dir/deeper/b.webm", "a.mp4"]
    p.write_text('{"prompt": "x"}\n' + json.dumps({"video": "../outside.mp4", "prompt": "y"})
                 + "\n" + json.dumps({"video": str(tmp_path / "outside.mp4"), "prompt": "z"}))
    with pytest.raises(PromptsError) as info:
        parse_prompts(p, root)
    assert [pr.split(":")[1] for pr in info.value.problems] == ["2", "3"]
    assert all("outside the scored folder" in pr for pr in info.value.problems)


def test_unreadable_outputs_are_named_errors(tmp_path):
    """A bad line among good rows is dropped and counted (its pair is rescored); a file with no
    valid row at all is not a score file: an error naming it, so it is never rewritten."""
    from cleverward.engine.output import OutputError, read_output

    good = json.dumps(make_row("a.mp4", "p", [0.1] * 7, "m"))
    jsonl = tmp_path / "out.jsonl"
    other = json.dumps(make_row("b.mp4", "p", [0.2] * 7, "m"))
    jsonl.write_text(good + "\nnot json\n" + other + "\n")
    read = read_output(jsonl, "jsonl")
    assert len(read.rows) == 2 and read.dropped == 1
    assert read.problems == [f"{jsonl}:2: not valid JSON (Expecting value)"]
    assert read.places == [f"{jsonl}:1", f"{jsonl}:3"]
    jsonl.write_text(good + "\n")
    with pytest.raises(OutputError, match=rf"^{jsonl}: not a CSV score file \(no 'video' column"):
        read_rows(jsonl, "csv")
    with pytest.raises(OutputError, match=rf"^{jsonl}: not a Parquet score file"):
        read_rows(jsonl, "parquet")
    jsonl.write_text('["a list"]\n{"prompt": "p"}\n')
    with pytest.raises(OutputError, match=rf"^{jsonl}: not a JSONL score file \(no valid row; "
                       rf"{jsonl}:1: not a JSON object \(list\)"):
        read_rows(jsonl, "jsonl")


def test_unwritable_output_names_the_real_path(tmp_path, monkeypatch):
    import os

    from cleverward.engine.output import OutputError

    def refuse(src, dst):
        raise PermissionError(13, "Permission denied", str(src))

    monkeypatch.setattr(os, "replace", refuse)
    for fmt in ("jsonl", "parquet"):
        path = tmp_path / f"out.{fmt}"
        with pytest.raises(OutputError) as info:
            with RowWriter(path, fmt) as w:
                w.write(make_row("a.mp4", "p", [0.1] * 7, "m"))
        assert str(info.value) == f"{path}: cannot write it (Permission denied)"
        assert not (tmp_path / f"out.{fmt}.tmp").exists()
