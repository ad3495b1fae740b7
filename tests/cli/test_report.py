"""`cleverward report`: one self-contained HTML file, checked as text and in headless Chromium."""

from __future__ import annotations

import json
import re

import pytest

from cleverward.train.compare.corpus import build_corpus
from tests.browser import CHROMIUM, inspect_report
from tests.cli.run import run_cli

EVAL = [{"dataset": "synth", "dimension": "overall", "metric": "acc_no_ties",
         "convention": "ties excluded", "value": 0.724, "ci_low": 0.68, "ci_high": 0.77, "n": 432}]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """3 generators x 4 prompts of real clips, plus one row whose clip is corrupt on disk
    (scored, then damaged): the report must show it without a preview and go on."""
    root = tmp_path_factory.mktemp("report-corpus")
    build_corpus(root, n_prompts=4, frames=8, size=(48, 64))
    (root / "videos" / "alpha" / "broken.mp4").write_bytes(b"\x00not a video" * 50)
    rows = (root / "labels_scores.jsonl").read_text().splitlines()
    first = json.loads(rows[0])
    rows.append(json.dumps(first | {"video": "alpha/broken.mp4", "score": 0.1}))
    (root / "scores.jsonl").write_text("\n".join(rows) + "\n")
    (root / "eval.json").write_text(json.dumps(EVAL))
    return root


def _report(corpus, out, *extra):
    return run_cli("report", corpus / "scores.jsonl", "--videos-root", corpus / "videos",
                   "--out", out, "--bootstrap", "50", "--eval", corpus / "eval.json", *extra)


@pytest.mark.slow
def test_report_is_one_self_contained_file(corpus, tmp_path):
    out = tmp_path / "r.html"
    r = _report(corpus, out)
    assert r.exit_code == 0, r.output
    assert "4 prompts, 13 clips, 12 keyframe strips, 1 without preview" in r.output
    html = out.read_text(encoding="utf-8")
    assert html.count("<details class=prompt") == 4
    assert html.count("<img ") == 12 and html.count('loading="lazy"') == 12
    assert html.count("data:image/jpeg;base64,") == 12
    assert "no preview: " in html
    # Nothing fetched from anywhere: no external src/href, no stylesheet or script links.
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
    assert "<link" not in html and "<script src" not in html
    assert "Content-Security-Policy" in html and "img-src data:" in html
    assert html.count("<svg") >= 4  # ratings, win matrix, per-metric bars, histograms
    assert "acc_no_ties" in html and "0.724" in html  # the eval table
    assert list(tmp_path.iterdir()) == [out]  # no temporary left beside it


def test_report_error_keeps_the_old_file(corpus, tmp_path):
    out = tmp_path / "r.html"
    out.write_text("the previous report")
    bad = tmp_path / "eval.json"
    bad.write_text(json.dumps([{"dataset": "x"}]))
    r = run_cli("report", corpus / "scores.jsonl", "--out", out, "--eval", bad)
    assert r.exit_code == 2
    assert f"{bad}: record 0: missing dimension" in r.output
    assert out.read_text() == "the previous report"
    r = run_cli("report", corpus / "scores.jsonl", "--out", tmp_path / "r.txt")
    assert r.exit_code == 2 and "must end in .html" in r.output


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} absent (make browser installs "
                                                   "Debian's chromium)")
def test_report_renders_in_chromium(corpus, tmp_path):
    """Opened from disk: every thumbnail decodes (naturalWidth > 0), the per-prompt tables hold
    every clip, nothing but the file itself and data: URIs is requested, no console error."""
    out = tmp_path / "r.html"
    assert _report(corpus, out).exit_code == 0
    facts = inspect_report(out, tmp_path / "shots")
    assert facts["prompts"] == 4 and sum(facts["clip_rows"]) == 13
    assert facts["images"] == 12 and facts["loaded"] == 12
    assert facts["no_preview"] == 1 and facts["svgs"] >= 4
    assert facts["console_errors"] == []
    assert facts["urls"][0] == out.resolve().as_uri()
    assert all(u.startswith("data:") for u in facts["urls"][1:])
    shot = tmp_path / "shots" / "report-overview.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    assert (tmp_path / "shots" / "report-prompts.png").stat().st_size > 10_000


def test_eval_json_output_is_read_as_its_records(tmp_path):
    """`cleverward eval --json` writes {"records": [...], "models": ..., ...}: the report reads
    the records and ignores the run details beside them."""
    from cleverward.train.report.evals import EvalFileError, read_eval

    path = tmp_path / "eval.json"
    path.write_text(json.dumps({"records": [EVAL[0] | {"model": "default"}], "models": [],
                                "pairs_read": 432}))
    assert read_eval(path) == EVAL
    path.write_text(json.dumps({"figures": EVAL}))
    with pytest.raises(EvalFileError, match="expected `cleverward eval --json` output"):
        read_eval(path)


def test_report_shows_keyframe_progress_and_prints_its_summary_on_stdout(corpus, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setenv("CLEVERWARD_PROGRESS_EVERY", "0")
    res = _report(corpus, tmp_path / "r.html")
    assert res.exit_code == 0, res.output
    lines = [x for x in res.stderr.splitlines() if x.startswith("keyframes: ")]
    total = lines[-1].split()[1].split("/")[1]
    assert lines[-1].startswith(f"keyframes: {total}/{total} videos, ") and " ETA " in lines[-1]
    assert f"-> {tmp_path / 'r.html'}" in res.stdout


def test_report_shows_a_dash_for_a_rating_no_game_defines(corpus, tmp_path):
    """Every clip of a prompt matches it (textual_alignment 1.0 throughout): with --ties drop
    that metric has no game, its ratings are undefined: '-' in the ratings table, never nan."""
    out = tmp_path / "r.html"
    r = _report(corpus, out, "--ties", "drop")
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    row = re.search(r"<td class=t>alignment</td>(.*?)</tr>", html).group(1)
    assert row == "<td>(1) -</td>" * 3
    text = re.sub(r"data:[^\"' )]+", "", html)  # base64 may spell anything
    assert not re.search(r"\bnan\b", text, re.IGNORECASE)
