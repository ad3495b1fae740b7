"""score-dir at corpus scale: a manifest instead of a folder, the bounded ranking, and a run
killed after it withdrew a stale score (appending, never rewriting, must still leave no stale
score standing)."""

import json
import shutil

import pytest

from tests.cli.run import run_cli


@pytest.fixture()
def corpus(tmp_path, clips_dir):
    videos = tmp_path / "videos"
    (videos / "sub").mkdir(parents=True)
    shutil.copy(clips_dir / "h264_long.mp4", videos / "a.mp4")
    shutil.copy(clips_dir / "vp9.webm", videos / "sub" / "b.webm")
    shutil.copy(clips_dir / "h264_short.mp4", videos / "c.mp4")
    (videos / "broken.mp4").write_bytes(b"\x00garbage" * 40)
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "a square moving"}) + "\n"
                       + json.dumps({"video": "c.mp4", "prompt": "only c"}) + "\n")
    return videos, prompts


def _ok(*args):
    res = run_cli(*args)
    assert res.exit_code == 0, res.output
    return res


def _table(out, fmt="jsonl"):
    from cleverward.engine.output import read_rows

    return {(r["video"], r["prompt"]): (r["score"], r["dimensions"], r["error"] is None)
            for r in read_rows(out, fmt)}


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_manifest_gives_the_rows_of_the_folder_run(tmp_path, corpus, kind):
    """The manifest lists exactly the folder run's pairs (paths relative to the manifest's
    folder, which is the videos' folder): the same rows and errors, the same scores to 1e-5
    (the encoder's batches depend on decode timing, which moves the 6th decimal)."""
    videos, prompts = corpus
    folder_out = tmp_path / "folder.jsonl"
    _ok("score-dir", videos, "--prompts", prompts, "--out", folder_out, "-q", "--no-cache")
    want = _table(folder_out)
    assert len(want) == 5 and sum(not ok for _, _, ok in want.values()) == 1  # broken.mp4
    records = [{"video": v, "prompt": p} for v, p in sorted(want)]
    manifest = videos / f"manifest.{kind}"
    if kind == "jsonl":
        manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(records), manifest)
    out = tmp_path / "manifest.jsonl"
    _ok("score-dir", "--manifest", manifest, "--out", out, "-q", "--no-cache")
    got = _table(out)
    assert set(got) == set(want)
    for key, (score, dims, ok) in want.items():  # batches differ by timing: 1e-5, as bulk's
        assert got[key][2] == ok
        if ok:
            assert got[key][0] == pytest.approx(score, abs=1e-5)
            assert got[key][1] == pytest.approx(dims, abs=1e-5)


def test_manifest_or_folder_not_both_and_manifest_errors_name_the_line(tmp_path, corpus):
    videos, prompts = corpus
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"video": "videos/a.mp4", "prompt": "x"}) + "\n"
                        + json.dumps({"video": "videos/c.mp4"}) + "\n")
    res = run_cli("score-dir", videos, "--prompts", prompts, "--manifest", manifest)
    assert res.exit_code == 2 and "not both" in res.stderr and "--manifest" in res.stderr
    res = run_cli("score-dir", "--out", tmp_path / "s.jsonl")
    assert res.exit_code == 2 and "--manifest" in res.stderr and "--prompts" in res.stderr
    res = run_cli("score-dir", videos, "--out", tmp_path / "s.jsonl")
    assert res.exit_code == 2 and "--prompts" in res.stderr
    out = tmp_path / "s.jsonl"
    res = run_cli("score-dir", "--manifest", manifest, "--out", out, "-q")
    assert res.exit_code == 2 and f"{manifest}:2: missing 'prompt'" in res.stderr, res.output
    assert "Traceback" not in res.output and not out.exists()
    manifest.write_text(json.dumps({"video": "s3://bucket/a.mp4", "prompt": "x"}) + "\n")
    res = run_cli("score-dir", "--manifest", manifest, "--out", out, "-q")
    assert res.exit_code == 2 and f"{manifest}:1:" in res.stderr and "URL" in res.stderr


def test_top_and_no_ranking(tmp_path, corpus, clips_dir):
    """--top 1 on 4 ranked videos: the best, a gap, the worst, with their ranks (1 and 4) and
    the count; --no-ranking prints none of it but still the summary line."""
    videos, prompts = corpus
    (videos / "broken.mp4").unlink()
    shutil.copy(clips_dir / "h264_one.mp4", videos / "d.mp4")
    out = tmp_path / "s.jsonl"
    res = _ok("score-dir", videos, "--prompts", prompts, "--out", out, "--no-cache",
              "--top", "1")
    scores = sorted((r["score"], r["video"]) for r in map(json.loads, out.read_text()
                                                          .splitlines())
                    if r["prompt"] == "a square moving")
    block = res.stderr.split("'a square moving'  (4 videos)")[1].split("\n\n")[0].splitlines()
    assert len({s for s, _ in scores}) == 4  # no ties: the order is the scores'
    best, worst = scores[-1], scores[0]
    assert [line.strip() for line in block[1:4]] == [
        f"1. {best[0]:+.4f}  {best[1]}", "...", f"4. {worst[0]:+.4f}  {worst[1]}"]
    res = _ok("score-dir", videos, "--prompts", prompts, "--out", out, "--no-ranking")
    assert "'a square moving'" not in res.stderr and "kept from an earlier run" in res.stderr
    res = run_cli("score-dir", videos, "--prompts", prompts, "--out", out, "--top", "0")
    assert res.exit_code == 2 and "--top" in res.stderr


def test_killed_after_withdrawing_a_stale_score_leaves_none_standing(tmp_path, corpus,
                                                                     monkeypatch):
    """a.mp4 changes after a run. The next run is stopped right after it has withdrawn a.mp4's
    old score and saved the record (before scoring anything): readers then see no row for
    a.mp4 (its old score is withdrawn; the file still holds it), and the next run rescores it
    to the new clip's score. The earlier bytes of the file are never rewritten."""
    from cleverward.engine import scoring

    videos, prompts = corpus
    (videos / "broken.mp4").unlink()
    out = tmp_path / "s.jsonl"
    _ok("score-dir", videos, "--prompts", prompts, "--out", out, "-q", "--no-cache")
    first = _table(out)
    before = out.read_bytes()
    shutil.copy(videos / "sub" / "b.webm", videos / "a.mp4")

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(scoring, "_score_plan", stop)
        run_cli("score-dir", videos, "--prompts", prompts, "--out", out, "-q", "--no-cache")
    assert out.read_bytes().startswith(before)
    now = _table(out)
    assert ("a.mp4", "a square moving") not in now  # withdrawn: no stale score standing
    assert b"earlier score withdrawn" in out.read_bytes()[len(before):]
    assert now[("c.mp4", "only c")] == first[("c.mp4", "only c")]
    summary = tmp_path / "sum.json"
    _ok("score-dir", videos, "--prompts", prompts, "--out", out, "-q", "--no-cache",
        "--summary-json", summary)
    again = _table(out)
    score, _, ok = again[("a.mp4", "a square moving")]
    assert ok and score == pytest.approx(first[("sub/b.webm", "a square moving")][0], abs=1e-5)
    assert score != pytest.approx(first[("a.mp4", "a square moving")][0], abs=1e-3)  # not stale
    assert json.loads(summary.read_text())["scored"] == 1


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_resume_with_another_prompt_keeps_the_earlier_rows(tmp_path, corpus, fmt):
    """CSV appends in place (the earlier bytes are the file's prefix, one header); Parquet is
    copied into a new file with the new rows after the earlier ones. Either way the first run's
    rows come back unchanged and the new prompt's rows are added, nothing scored twice."""
    videos, _ = corpus
    (videos / "broken.mp4").unlink()
    pa, pb = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    pa.write_text(json.dumps({"prompt": "prompt A"}) + "\n")
    pb.write_text(json.dumps({"prompt": "prompt B"}) + "\n")
    out, summary = tmp_path / f"s.{fmt}", tmp_path / "sum.json"
    _ok("score-dir", videos, "--prompts", pa, "--out", out, "-q", "--no-cache")
    first, before = _table(out, fmt), out.read_bytes()
    _ok("score-dir", videos, "--prompts", pb, "--out", out, "-q", "--no-cache",
        "--summary-json", summary)
    now = _table(out, fmt)
    assert {k: v for k, v in now.items() if k[1] == "prompt A"} == first
    assert sorted(k for k in now if k[1] == "prompt B") == sorted(
        (v, "prompt B") for v, _ in first)
    s = json.loads(summary.read_text())
    assert (s["scored"], s["untouched"], s["rescored"]) == (3, 3, 0)
    if fmt == "csv":
        assert out.read_bytes().startswith(before) and out.read_text().count("video,prompt") == 1


def test_manifest_generator_column_reaches_the_rows_and_compare(tmp_path, corpus):
    """A flat folder whose manifest names each clip's generator: score-dir's JSONL rows carry
    it (a failed clip's error row too; a row without one gets no key), so compare tells the
    generators apart with no sub-folders."""
    videos, _ = corpus
    records = [{"video": "a.mp4", "prompt": "p1", "generator": "g1"},
               {"video": "c.mp4", "prompt": "p1", "generator": "g2"},
               {"video": "broken.mp4", "prompt": "p1", "generator": "g2"},
               {"video": "sub/b.webm", "prompt": "p1"}]
    manifest = videos / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "s.jsonl"
    _ok("score-dir", "--manifest", manifest, "--out", out, "-q", "--no-cache")
    rows = {r["video"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert {v: r.get("generator") for v, r in rows.items()} == {
        "a.mp4": "g1", "c.mp4": "g2", "broken.mp4": "g2", "sub/b.webm": None}
    assert "generator" not in rows["sub/b.webm"] and rows["broken.mp4"]["error"]
    res = _ok("compare", out, "--json", "--bootstrap", "10")
    assert json.loads(res.stdout)["generators"] == ["g1", "g2", "sub"]
    res = _ok("score-dir", "--manifest", manifest, "--out", tmp_path / "s.csv", "--no-cache")
    assert "generator column is not in csv rows" in res.stderr


def test_prompts_file_generator_reaches_the_rows(tmp_path, corpus):
    """prompts.jsonl lines may name the video's generator (a flat folder); a generator on a
    line without a video, or not a non-empty string, is an error of its line."""
    videos, _ = corpus
    prompts = tmp_path / "gp.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in (
        {"video": "a.mp4", "prompt": "p1", "generator": "g1"},
        {"video": "c.mp4", "prompt": "p1", "generator": "g2"},
        {"video": "sub/b.webm", "prompt": "p1"})))
    out = tmp_path / "s.jsonl"
    _ok("score-dir", videos, "--prompts", prompts, "--out", out, "-q", "--no-cache")
    rows = {r["video"]: r.get("generator") for r in map(json.loads, out.read_text().splitlines())}
    assert rows == {"a.mp4": "g1", "c.mp4": "g2", "sub/b.webm": None}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "p", "generator": "g"}) + "\n"
                   + json.dumps({"video": "a.mp4", "prompt": "p", "generator": 3}) + "\n")
    res = run_cli("score-dir", videos, "--prompts", bad, "--out", tmp_path / "x.jsonl")
    assert res.exit_code == 2
    assert f"{bad}:1: \"generator\" needs a \"video\"" in res.stderr
    assert f"{bad}:2: \"generator\" must be a non-empty string" in res.stderr
