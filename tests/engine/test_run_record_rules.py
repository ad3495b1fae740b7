"""The run record's rules, called directly: small in-memory rows, tiny temp files, no model.

Each expected value is derived by hand in the test's docstring from the rules in
engine/run_record.py's module docstring (a row is kept only when the record proves it fresh:
same model identity, same file signature now, prompt listed).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import struct
from pathlib import Path

import pytest
import torch

from cleverward.engine.output import ReadResult
from cleverward.engine.run_record import (
    head_digest,
    load_run_record,
    model_identity,
    read_run_record,
    resume,
    run_record_path,
    save_run_record,
    signature,
)

ID = {"encoder": "enc-1", "head": "h-1", "decode": "frames=8"}
CHANGED = "1 earlier row(s) scored again: their video file changed or the model identity differs"


class _Model:
    """A head with distinct weights (so the name order and values matter) and a fingerprint."""

    def __init__(self, dtype=torch.float32) -> None:
        self.head = torch.nn.Linear(2, 2)
        with torch.no_grad():
            self.head.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
            self.head.bias.copy_(torch.tensor([5.0, 6.0]))
        self.head.to(dtype)

    def fingerprint(self) -> str:
        return "enc-1"


class _Decode:
    def key(self) -> str:
        return "frames=8"


def _row(video, prompt, score=1.0, model="m"):
    return {"model": model, "video": video, "prompt": prompt, "score": score}


@pytest.fixture
def root(tmp_path):
    """videos/a.mp4 (4 bytes) and videos/b.mp4 (2 bytes): real files with real signatures."""
    d = tmp_path / "videos"
    d.mkdir()
    (d / "a.mp4").write_bytes(b"aaaa")
    (d / "b.mp4").write_bytes(b"bb")
    return d


def _sig(path):
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def _record(videos, identity=ID, model="m", **others):
    return {"version": 1, "models": {model: {"identity": identity, "videos": videos}, **others}}


# --- path, head digest, identity -------------------------------------------------------------

def test_record_path_is_the_output_name_plus_suffix(tmp_path):
    """'<out>' + '.cwrun.json', for a str and a Path alike, in the output's folder."""
    assert run_record_path("d/s.csv") == Path("d/s.csv.cwrun.json")
    assert run_record_path(tmp_path / "s.jsonl") == tmp_path / "s.jsonl.cwrun.json"


def test_head_digest_matches_an_independent_hash():
    """sha256 over the state_dict sorted by name ('bias' before 'weight'), each name's bytes then
    its float32 little-endian values, first 16 hex digits; a float16 head holding the same
    (exactly representable) values is cast to float32 first, so it digests the same."""
    h = hashlib.sha256()
    h.update(b"bias" + struct.pack("<2f", 5.0, 6.0))
    h.update(b"weight" + struct.pack("<4f", 1.0, 2.0, 3.0, 4.0))
    want = h.hexdigest()[:16]
    assert head_digest(_Model()) == want
    assert head_digest(_Model(torch.float16)) == want


def test_model_identity_is_encoder_head_and_decode_key():
    """Exactly the three parts: fingerprint(), head_digest(), decode_cfg.key()."""
    model = _Model()
    assert model_identity(model, _Decode()) == {
        "encoder": "enc-1", "head": head_digest(model), "decode": "frames=8"}


# --- reading and saving the record -----------------------------------------------------------

def test_read_reports_why_a_record_cannot_be_used(tmp_path):
    """Missing -> 'no run record NAME beside the output'; bad JSON -> 'unreadable
    (JSONDecodeError)'; JSON that is not {'models': {name: dict}} -> 'is not a run record'."""
    out = tmp_path / "s.jsonl"
    name = "s.jsonl.cwrun.json"
    assert read_run_record(out) == (None, f"no run record {name} beside the output")
    rec = run_record_path(out)
    rec.write_text("{torn")
    assert read_run_record(out) == (None, f"run record {name} is unreadable (JSONDecodeError)")
    rec.write_bytes(b"\xff\xfe{}")
    assert read_run_record(out) == (None, f"run record {name} is unreadable (UnicodeDecodeError)")
    for bad in ([], {"version": 1}, {"models": []}, {"models": {"m": 3}}, {"models": {"m": {},
                                                                             "n": None}}):
        rec.write_text(json.dumps(bad))
        assert read_run_record(out) == (None, f"run record {name} is not a run record"), bad
        assert load_run_record(out) is None
    good = {"models": {"m": {}, "n": {"identity": {}}}}
    rec.write_text(json.dumps(good), encoding="utf-8")
    assert read_run_record(out) == (good, None)
    assert load_run_record(out) == good


def test_read_takes_utf8_record(tmp_path):
    """A prompt with non-ASCII text saved is read back identical (utf-8 both ways, not escaped).
    The layout is one JSON document with one model header or video entry a line (so a run can
    stream it): the top line, the model line, one line per video, the model's close, the end."""
    out = tmp_path / "s.jsonl"
    record = _record({"é.mp4": {"sig": [1, 2], "prompts": ["caffè ☕"]},
                      "b\u2028.mp4": {"sig": [3, 4], "prompts": ["two\nlines"]}})
    save_run_record(out, record)
    text = run_record_path(out).read_bytes().decode("utf-8")
    assert text.split("\n") == [
        '{"version": 1, "models": {',
        '"m": {"identity": ' + json.dumps(ID) + ', "videos": {',
        '"é.mp4": {"sig": [1, 2], "prompts": ["caffè ☕"]},',
        '"b\u2028.mp4": {"sig": [3, 4], "prompts": ["two\\nlines"]}',
        "}}", "}}", ""]
    assert load_run_record(out) == record and json.loads(text) == record


def test_save_replaces_and_leaves_no_temp_file(tmp_path):
    """A second save replaces the first; a record that is not JSON raises TypeError (from
    json.dumps) and leaves the earlier record and no temp file."""
    out = tmp_path / "s.jsonl"
    save_run_record(out, {"models": {"a": {}}})
    save_run_record(out, {"models": {"b": {}}})
    assert load_run_record(out) == {"models": {"b": {}}}
    with pytest.raises(TypeError):
        save_run_record(out, {"models": {"c": {1, 2}}})
    assert load_run_record(out) == {"models": {"b": {}}}
    assert [p.name for p in tmp_path.iterdir()] == ["s.jsonl.cwrun.json"]


def test_signature_of_file_folder_and_unreadable(root):
    """A file: [size, mtime_ns] as a list (JSON keeps lists); a folder of frames: [total size,
    latest mtime]; missing path or a FIFO: None (never proven fresh)."""
    a = root / "a.mp4"
    assert signature(a) == _sig(a) and isinstance(signature(a), list)
    frames = root / "clip"
    frames.mkdir()
    (frames / "0001.png").write_bytes(b"123")
    (frames / "0002.png").write_bytes(b"45")
    got = signature(frames)
    assert isinstance(got, list) and got[0] == 5
    assert signature(root / "gone.mp4") is None
    fifo = root / "pipe.mp4"
    os.mkfifo(fifo)
    assert signature(fifo) is None


# --- resume ----------------------------------------------------------------------------------

def test_fresh_rows_are_kept_and_leave_the_plan(root):
    """Same identity, same signature, prompt listed: the row is kept (its pair and score in
    kept, nothing withdrawn), its pair leaves the plan (a.mp4 then has no prompts: removed),
    nothing is stale, no reasons; the record keeps a.mp4 with its signature now and prompts
    ['p1']."""
    rec = _record({"a.mp4": {"sig": _sig(root / "a.mp4"), "prompts": ["p1"]}})
    plan = {"a.mp4": ["p1"]}
    r = resume("m", plan, root, ID, ReadResult(rows=[_row("a.mp4", "p1")]), rec, None)
    assert plan == {}
    assert r.kept == [("a.mp4", "p1", 1.0)] and (r.untouched, r.superseded) == (0, [])
    assert (r.stale, r.dropped, r.reasons) == (0, 0, [])
    assert r.record == {"version": 1, "models": {"m": {"identity": ID, "videos": {
        "a.mp4": {"sig": _sig(root / "a.mp4"), "prompts": ["p1"]}}}}}


def test_changed_video_rescores_every_prompt_of_it(root):
    """a.mp4's recorded signature [999, 1] is not its signature now: its p0 row (another prompt
    than this run's p1) is stale: withdrawn (superseded) and p0 joins the plan after p1; b.mp4
    is still fresh. stale 1, the 'video file changed' reason; the record lists a.mp4 with the new
    signature and prompts ['p1', 'p0'] (nothing proven before: just the plan's)."""
    rec = _record({"a.mp4": {"sig": [999, 1], "prompts": ["p0"]},
                   "b.mp4": {"sig": _sig(root / "b.mp4"), "prompts": ["p1"]}})
    plan = {"a.mp4": ["p1"], "b.mp4": ["p1"]}
    rows = [_row("a.mp4", "p0", 2.0), _row("b.mp4", "p1", 3.0)]
    r = resume("m", plan, root, ID, ReadResult(rows=rows), rec, None)
    assert plan == {"a.mp4": ["p1", "p0"]}
    assert r.kept == [("b.mp4", "p1", 3.0)] and r.superseded == [("a.mp4", "p0")]
    assert (r.stale, r.reasons, r.untouched) == (1, [CHANGED], 0)
    assert r.record["models"]["m"]["videos"] == {
        "a.mp4": {"sig": _sig(root / "a.mp4"), "prompts": ["p1", "p0"]},
        "b.mp4": {"sig": _sig(root / "b.mp4"), "prompts": ["p1"]}}


@pytest.mark.parametrize("mine", [
    {"identity": dict(ID, head="h-0"), "videos": "VIDEOS"},  # another head
    {"identity": ID, "videos": ["a.mp4"]},  # videos not a dict
    {"identity": ID},  # no videos
    {"videos": "VIDEOS"},  # no identity
])
def test_other_identity_or_bad_entry_proves_nothing(root, mine):
    """The record's entry for 'm' is for another identity or malformed: nothing is proven, the
    p1 row is stale (stale 1, 'identity differs' reason), p1 stays in the plan, and the record
    entry is rewritten with this identity and a.mp4 only."""
    sig = _sig(root / "a.mp4")
    mine = {k: ({"a.mp4": {"sig": sig, "prompts": ["p1"]}, "old.mp4": {}} if v == "VIDEOS"
                else v) for k, v in mine.items()}
    plan = {"a.mp4": ["p1"]}
    r = resume("m", plan, root, ID, ReadResult(rows=[_row("a.mp4", "p1")]),
               {"models": {"m": mine}}, None)
    assert plan == {"a.mp4": ["p1"]}
    assert (r.kept, r.superseded, r.stale, r.reasons) == ([], [("a.mp4", "p1")], 1, [CHANGED])
    assert r.record["models"]["m"] == {"identity": ID,
                                       "videos": {"a.mp4": {"sig": sig, "prompts": ["p1"]}}}


def test_no_record_names_the_problem(root):
    """No record and rows present: every row of the plan is stale; the reason starts with the
    record problem. A row with no score (a failure) is rescored but not counted stale, and has
    no score to withdraw."""
    plan = {"a.mp4": ["p1"], "b.mp4": ["p1"]}
    rows = [_row("a.mp4", "p1"), _row("b.mp4", "p1", None)]
    problem = "no run record s.jsonl.cwrun.json beside the output"
    r = resume("m", plan, root, ID, ReadResult(rows=rows), None, problem)
    assert plan == {"a.mp4": ["p1"], "b.mp4": ["p1"]}
    assert (r.kept, r.superseded, r.stale) == ([], [("a.mp4", "p1")], 1)
    assert r.reasons == [f"{problem}: 1 earlier row(s) could not be proven fresh and were "
                         "scored again"]
    assert r.record == {"version": 1, "models": {"m": {"identity": ID, "videos": {
        "a.mp4": {"sig": _sig(root / "a.mp4"), "prompts": ["p1"]},
        "b.mp4": {"sig": _sig(root / "b.mp4"), "prompts": ["p1"]}}}}}


def test_problem_without_stale_rows_gives_no_reason(root):
    """A record problem but no earlier good row of the plan (only a failure row): stale 0, so
    no reason at all; an empty read with a problem likewise."""
    plan = {"a.mp4": ["p1"]}
    r = resume("m", plan, root, ID, ReadResult(rows=[_row("a.mp4", "p1", None)]), None, "bad")
    assert (r.stale, r.reasons) == (0, [])
    r = resume("m", {"a.mp4": ["p1"]}, root, ID, ReadResult(), None, "bad")
    assert (r.stale, r.reasons, r.untouched, r.superseded) == (0, [], 0, [])


def test_rows_outside_the_plan_and_other_models_are_kept_untouched(root):
    """Other model's row, and this model's row of c.mp4 (not in the plan), are counted as
    untouched (2) and let go; they are not 'kept' (not this run's pairs) and the record keeps
    model 'n' and c.mp4's earlier entry as they were; the input record itself is not edited."""
    c_entry = {"sig": [7, 7], "prompts": ["p9"]}
    rec = _record({"c.mp4": c_entry}, n={"identity": {"x": 1}, "videos": {}})
    before = copy.deepcopy(rec)
    plan = {"a.mp4": ["p1"]}
    rows = [_row("a.mp4", "p1", 1.0, model="n"), _row("c.mp4", "p9", 4.0)]
    r = resume("m", plan, root, ID, ReadResult(rows=rows), rec, None)
    assert rec == before
    assert (r.untouched, r.kept, r.stale, r.reasons, plan) == (2, [], 0, [], {"a.mp4": ["p1"]})
    assert r.superseded == []
    assert r.record["models"]["n"] == {"identity": {"x": 1}, "videos": {}}
    assert r.record["models"]["m"]["videos"] == {
        "c.mp4": c_entry, "a.mp4": {"sig": _sig(root / "a.mp4"), "prompts": ["p1"]}}


def test_duplicates_and_fresh_prompts_outside_this_run(root):
    """Record proves p0 and p1 for a.mp4; the plan asks p1 and p2. The p0 row stays in the
    output but is not one of this run's pairs (untouched, not in kept); of the two p1 rows the
    last one (9.0) is the pair's score (a later row supersedes), and the reading goes on past it
    (model n's row after it is untouched too); p2 has no row and stays in the plan; the record
    lists ['p0', 'p1', 'p2']."""
    sig = _sig(root / "a.mp4")
    rec = _record({"a.mp4": {"sig": sig, "prompts": ["p0", "p1"]}})
    plan = {"a.mp4": ["p1", "p2"]}
    rows = [_row("a.mp4", "p0", 0.5), _row("a.mp4", "p1", 1.0), _row("a.mp4", "p1", 9.0),
            _row("a.mp4", "p1", 2.0, model="n")]
    r = resume("m", plan, root, ID, ReadResult(rows=rows), rec, None)
    assert r.kept == [("a.mp4", "p1", 9.0)] and (r.untouched, r.superseded) == (2, [])
    assert (plan, r.stale) == ({"a.mp4": ["p2"]}, 0)
    assert r.record["models"]["m"]["videos"] == {"a.mp4": {"sig": sig,
                                                           "prompts": ["p0", "p1", "p2"]}}


def test_failure_row_of_a_proven_prompt_is_rescored(root):
    """A row with score None for a prompt the record lists is not kept: with the prompt not in
    this run's plan, it joins the plan (scored again), not counted stale."""
    sig = _sig(root / "a.mp4")
    rec = _record({"a.mp4": {"sig": sig, "prompts": ["p0"]}})
    plan = {"a.mp4": ["p1"]}
    r = resume("m", plan, root, ID, ReadResult(rows=[_row("a.mp4", "p0", None)]), rec, None)
    assert (r.untouched, r.kept, r.stale, plan) == (0, [], 0, {"a.mp4": ["p1", "p0"]})
    assert r.superseded == []
    assert r.record["models"]["m"]["videos"]["a.mp4"]["prompts"] == ["p0", "p1"]


@pytest.mark.parametrize("seen", [["sig"], {"sig": None, "prompts": ["p1"]},
                                  {"prompts": ["p1"]}])
def test_unreadable_video_or_bad_entry_is_never_fresh(root, seen):
    """gone.mp4 does not exist: its signature now is None, which never proves a row, even if
    the record holds None too; a non-dict entry proves nothing either. The row is stale and
    the record stores sig None."""
    plan = {"gone.mp4": ["p1"]}
    r = resume("m", plan, root, ID, ReadResult(rows=[_row("gone.mp4", "p1")]),
               _record({"gone.mp4": seen}), None)
    assert (r.superseded, r.stale, plan) == ([("gone.mp4", "p1")], 1, {"gone.mp4": ["p1"]})
    assert r.record["models"]["m"]["videos"] == {"gone.mp4": {"sig": None, "prompts": ["p1"]}}


def test_entry_without_prompts_proves_none(root):
    """A matching signature with prompts null proves no prompt: the row is stale."""
    rec = _record({"a.mp4": {"sig": _sig(root / "a.mp4"), "prompts": None}})
    plan = {"a.mp4": ["p1"]}
    r = resume("m", plan, root, ID, ReadResult(rows=[_row("a.mp4", "p1")]), rec, None)
    assert (r.superseded, r.stale, plan) == ([("a.mp4", "p1")], 1, {"a.mp4": ["p1"]})


def test_dropped_rows_are_reported_with_the_first_problem(root):
    """read.dropped 2 with problems ['s.jsonl:3: torn', ...] -> Resumed.dropped 2 and the reason
    naming the count and the first problem, before the stale reason."""
    read = ReadResult(rows=[_row("a.mp4", "p1")], dropped=2,
                      problems=["s.jsonl:3: torn", "s.jsonl:5: bad"])
    r = resume("m", {"a.mp4": ["p1"]}, root, ID, read, None, None)
    assert r.dropped == 2
    assert r.reasons == ["2 torn or invalid row(s) in the output skipped (readers skip them; a "
                         "pair with no valid row is scored again; first: s.jsonl:3: torn)",
                         CHANGED]


def test_a_later_error_row_withdraws_an_earlier_score(root):
    """rows arrive as a one-pass iterator (as stream_output gives them): a.mp4/p1 scored 1.0,
    then an error row for it (a withdrawal, or a failed rescore). The last row counts: the pair
    is not done, p1 stays in the plan, nothing is stale (no score stands) and nothing is
    withdrawn again. b.mp4's score after its error row is fresh and kept."""
    sig_a, sig_b = _sig(root / "a.mp4"), _sig(root / "b.mp4")
    rec = _record({"a.mp4": {"sig": sig_a, "prompts": ["p1"]},
                   "b.mp4": {"sig": sig_b, "prompts": ["p1"]}})
    rows = iter([_row("a.mp4", "p1", 1.0), _row("b.mp4", "p1", None), _row("a.mp4", "p1", None),
                 _row("b.mp4", "p1", 2.0)])
    plan = {"a.mp4": ["p1"], "b.mp4": ["p1"]}
    r = resume("m", plan, root, ID, ReadResult(rows=rows), rec, None)
    assert plan == {"a.mp4": ["p1"]} and r.kept == [("b.mp4", "p1", 2.0)]
    assert (r.stale, r.superseded, r.untouched, r.reasons) == (0, [], 0, [])


NEW = "runs/r1@" + "a" * 12  # this run's model: runs/r1 with its weights now
OLD = "runs/r1@" + "b" * 12  # the same location with the weights it had before a retrain


def test_rows_of_the_same_location_with_older_weights_are_withdrawn(root):
    """runs/r1 was retrained in place, so rows under OLD are not this model's scores any more.
    Rows, in file order:
      c/p1 NEW, c/p2 OLD -- c.mp4 is not in this run's plan: untouched, whatever the model
      a/p5 OLD None  -- an error row: nothing stands under OLD, skipped (and the loop goes on)
      a/p0 OLD None, then a/p0 OLD 2.0 -- one key (video, prompt, model): the last value, a
                        score, counts: withdrawn, p0 joins a's plan after the NEW prompts
      a/p1 OLD 3.0   -- withdrawn; p1 is already in a's plan: not added twice
      b/p1 OLD 4.0   -- withdrawn; b/p1 is proven fresh under NEW (last row below): not replanned
      a/p2 runs/r2@... 5.0 -- another location: untouched
      a/p3 plain 6.0 -- a name with no digest (an older tool's row): another model, untouched
      a/p9 NEW 7.0, a/p8 NEW 8.0 -- unproven (the record has no p8/p9 for a): both stale,
                        superseded, replanned
      b/p1 NEW 9.0   -- proven: kept, leaves the plan
    stale = 2 (superseded) + 3 (withdrawn) = 5; untouched = 2 (c.mp4) + 2 (p2, p3) + 3 counted
    by the reader without parsing (read.passed) = 7."""
    sig_a, sig_b = _sig(root / "a.mp4"), _sig(root / "b.mp4")
    rec = _record({"a.mp4": {"sig": sig_a, "prompts": []},
                   "b.mp4": {"sig": sig_b, "prompts": ["p1"]}}, model=NEW)
    rows = [_row("c.mp4", "p1", 1.0, NEW), _row("c.mp4", "p2", 1.0, OLD),
            _row("a.mp4", "p5", None, OLD),
            _row("a.mp4", "p0", None, OLD), _row("a.mp4", "p0", 2.0, OLD),
            _row("a.mp4", "p1", 3.0, OLD), _row("b.mp4", "p1", 4.0, OLD),
            _row("a.mp4", "p2", 5.0, "runs/r2@" + "c" * 12), _row("a.mp4", "p3", 6.0, "plain"),
            _row("a.mp4", "p9", 7.0, NEW), _row("a.mp4", "p8", 8.0, NEW),
            _row("b.mp4", "p1", 9.0, NEW)]
    plan = {"a.mp4": ["p1"], "b.mp4": ["p1"]}
    r = resume(NEW, plan, root, ID, ReadResult(rows=iter(rows), passed=3), rec, None)
    assert plan == {"a.mp4": ["p1", "p9", "p8", "p0"]}
    assert r.kept == [("b.mp4", "p1", 9.0)]
    assert r.superseded == [("a.mp4", "p9"), ("a.mp4", "p8")]
    assert r.withdrawn == [("a.mp4", "p0", OLD), ("a.mp4", "p1", OLD), ("b.mp4", "p1", OLD)]
    assert (r.stale, r.untouched) == (5, 7)
    assert r.reasons == ["5 earlier row(s) scored again: their video file changed or the model "
                         "identity differs"]


def test_without_a_digest_in_its_name_a_model_withdraws_nothing(root):
    """A model named without a digest ('m') has no location: a row of 'm@bbbbbbbbbbbb' is
    another model's (untouched), never withdrawn, and a.mp4's plan is as it was."""
    plan = {"a.mp4": ["p1"]}
    rows = [_row("a.mp4", "p1", 1.0, "m@" + "b" * 12)]
    r = resume("m", plan, root, ID, ReadResult(rows=rows), None, None)
    assert (r.withdrawn, r.untouched, r.stale, plan) == ([], 1, 0, {"a.mp4": ["p1"]})


def test_root_may_be_a_function_from_video_to_path(root, tmp_path):
    """A manifest run locates videos by a function: the signature is taken where it says."""
    sig = _sig(root / "a.mp4")
    rec = _record({"clip": {"sig": sig, "prompts": ["p1"]}})
    plan = {"clip": ["p1"]}
    r = resume("m", plan, {"clip": root / "a.mp4"}.__getitem__, ID,
               ReadResult(rows=[_row("clip", "p1", 0.5)]), rec, None)
    assert plan == {} and r.kept == [("clip", "p1", 0.5)]


# --- streaming the record: one run's part in memory, the rest carried over ------------------

def _big_record():
    return {"version": 1, "models": {
        "m": {"identity": ID, "videos": {f"v{i}.mp4": {"sig": [i, i], "prompts": [f"p{i}"]}
                                         for i in range(50)}},
        "n": {"identity": {"x": 1}, "videos": {"v1.mp4": {"sig": [1, 1], "prompts": ["q"]}}},
        "odd": {"identity": ID, "videos": ["not", "a", "dict"]}}}


def test_read_for_holds_only_this_models_entries_of_the_plan(tmp_path):
    """Of 50 videos of m, two other models: only m's identity and its entries of v3 and v7
    (v99 is in no entry); a model absent from the record gives an empty models table."""
    from cleverward.engine.run_record import read_run_record_for

    out = tmp_path / "s.jsonl"
    save_run_record(out, _big_record())
    got, problem = read_run_record_for(out, "m", {"v3.mp4", "v7.mp4", "v99.mp4"})
    assert problem is None
    assert got == {"version": 1, "models": {"m": {"identity": ID, "videos": {
        "v3.mp4": {"sig": [3, 3], "prompts": ["p3"]},
        "v7.mp4": {"sig": [7, 7], "prompts": ["p7"]}}}}}
    assert read_run_record_for(out, "zz", {"v3.mp4"}) == ({"version": 1, "models": {}}, None)


def test_save_with_carry_replaces_this_models_part_and_keeps_the_rest(tmp_path):
    """m's part (v3 changed, v50 new) is saved with carry='m': m's other 49 entries, n and odd
    stay as they were, in their places; the result is what the full-dict path would give."""
    from cleverward.engine.run_record import read_run_record_for

    out = tmp_path / "s.jsonl"
    full = _big_record()
    save_run_record(out, full)
    part, _ = read_run_record_for(out, "m", {"v3.mp4", "v50.mp4"})
    part["models"]["m"]["videos"]["v3.mp4"] = {"sig": [9, 9], "prompts": ["p3", "new"]}
    part["models"]["m"]["videos"]["v50.mp4"] = {"sig": [5, 0], "prompts": ["p"]}
    save_run_record(out, part, carry="m")
    want = copy.deepcopy(full)
    videos = want["models"]["m"]["videos"]
    del videos["v3.mp4"]
    videos.update(part["models"]["m"]["videos"])
    assert load_run_record(out) == want
    assert list(load_run_record(out)["models"]) == ["m", "n", "odd"]


def test_save_with_carry_drops_the_entries_of_another_identity(tmp_path):
    """m's identity changed: its old entries prove nothing and are not carried; n is."""
    out = tmp_path / "s.jsonl"
    save_run_record(out, _big_record())
    other = dict(ID, head="h-2")
    save_run_record(out, {"version": 1, "models": {"m": {"identity": other, "videos": {
        "v1.mp4": {"sig": [1, 1], "prompts": ["p1"]}}}}}, carry="m")
    got = load_run_record(out)
    assert got["models"]["m"] == {"identity": other, "videos": {
        "v1.mp4": {"sig": [1, 1], "prompts": ["p1"]}}}
    assert got["models"]["n"] == _big_record()["models"]["n"]


def test_an_older_one_line_record_is_read_and_saved_in_the_line_layout(tmp_path):
    from cleverward.engine.run_record import read_run_record_for

    out = tmp_path / "s.jsonl"
    run_record_path(out).write_text(json.dumps(_big_record()) + "\n")
    got, problem = read_run_record_for(out, "n", {"v1.mp4"})
    assert problem is None and got["models"] == {"n": _big_record()["models"]["n"]}
    save_run_record(out, got, carry="n")
    assert load_run_record(out) == _big_record()
    assert run_record_path(out).read_text().count("\n") > 50  # one entry a line now


@pytest.mark.parametrize("damage, why", [
    (lambda text: text[: len(text) // 2], "is unreadable (JSONDecodeError)"),
    (lambda text: '{"models": [1, 2]}', "is not a run record"),
    (lambda text: text.replace('"n": {', '"n": 7, "x": {', 1), "is not a run record"),
])
def test_read_for_reports_damage_like_read(tmp_path, damage, why):
    from cleverward.engine.run_record import read_run_record_for

    out = tmp_path / "s.jsonl"
    save_run_record(out, _big_record())
    path = run_record_path(out)
    path.write_text(damage(path.read_text()))
    record, problem = read_run_record_for(out, "m", {"v1.mp4"})
    assert record is None and problem.startswith("run record s.jsonl.cwrun.json ")
    assert why in problem
