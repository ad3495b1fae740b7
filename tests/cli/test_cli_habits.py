"""The CLI habits users bring from typer / rich tools (issue 13): choices with suggestions,
consistent option names, results on stdout, progress with a total and an ETA, messages that name
options and files, the synth task scored as printed, provenance in Parquet output."""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest

from tests.cli.run import run_cli

# -- 1. choices ------------------------------------------------------------------------------

TYPOS = [  # command, option, a typo, the value it should suggest
    (["score-dir", "d", "--prompts", "p"], "--decoder", "pyv", "pyav"),
    (["score-dir", "d", "--prompts", "p"], "--backend", "onx", "onnx"),
    (["score-dir", "d", "--prompts", "p"], "--format", "parquette", "parquet"),
    (["export", "--out", "o"], "--format", "tensort", "tensorrt"),
    (["index", "build", "d"], "--kind", "hsnw", "hnsw"),
    (["search", "x"], "--kind", "flt", "flat"),
    (["bulk", "m", "--out", "o"], "--executor", "locl", "local"),
    (["train", "--pairs", "p", "--out", "o"], "--objective", "bt-tie", "bt-ties"),
    (["train", "--pairs", "p", "--out", "o"], "--mode", "frozn", "frozen"),
    (["compare", "s"], "--ties", "hlf", "half"),
    (["compact", "s.jsonl"], "--format", "jsnl", "jsonl"),
    (["report", "s"], "--generator-from", "folders", "folder"),
    (["synth", "o"], "--codec", "vp8", "vp9"),
    (["eval", "--pairs", "p"], "--convention", "videoscor", "videoscore"),
]


@pytest.mark.parametrize(("command", "option", "typo", "meant"), TYPOS)
def test_a_typo_in_a_choice_suggests_the_value_and_help_lists_them(command, option, typo,
                                                                     meant):
    res = run_cli(*command, option, typo)
    assert res.exit_code == 2
    text = " ".join(res.output.replace("\u2502", " ").split())  # rich boxes and wraps errors
    assert f"did you mean '{meant}'?" in text and option in text
    help_text = run_cli(*command[:2 if command[0] in ("index",) else 1], "-h").output
    assert meant in help_text


def test_the_cli_choices_are_the_engines_own():
    from cleverward.cli import choices as c
    from cleverward.engine import config
    from cleverward.engine.bulk.run import EXECUTORS
    from cleverward.engine.export.api import FORMATS as EXPORT_FORMATS
    from cleverward.engine.video_index import INDEX_KINDS
    from cleverward.train.compare.rows import GENERATOR_FROM
    from cleverward.train.compare.winrate import TIES
    from cleverward.train.config import MODES, OBJECTIVES
    from cleverward.train.synth import CODECS

    def values(kind):
        return tuple(v.value for v in kind)

    assert values(c.Decoder) == config.DECODERS and values(c.Backend) == config.BACKENDS
    assert values(c.ScoreFormat) == config.FORMATS
    assert values(c.ExportFormat) == EXPORT_FORMATS and values(c.IndexKind) == INDEX_KINDS
    assert values(c.SearchKind) == INDEX_KINDS[1:] and values(c.Executor) == EXECUTORS
    assert values(c.Objective) == OBJECTIVES and values(c.Mode) == MODES
    assert values(c.Ties) == TIES and values(c.GeneratorFrom) == GENERATOR_FROM
    assert values(c.Codec) == tuple(CODECS)


# -- 2 and 8. synth --count; its output scored by the command the README gives ---------------

def test_synth_count_and_its_output_scores_with_the_printed_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = run_cli("synth", "synth", "--count", "2", "--videos-per-prompt", "2", "--frames", "6",
                  "--height", "64", "--width", "64")
    assert res.exit_code == 0, res.output
    assert "4 clips for 2 prompts" in res.stdout  # the result, on stdout
    assert "score-dir synth/videos --prompts synth/prompts.jsonl" in res.stderr
    res = run_cli("score-dir", "synth/videos", "--prompts", "synth/prompts.jsonl", "--out",
                  "s.jsonl", "--no-cache", "-q")
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(r["error"] is None for r in rows), rows


def test_synth_prompts_n_still_works_with_a_deprecation_warning(tmp_path):
    res = run_cli("synth", tmp_path / "s", "--prompts", "1", "--videos-per-prompt", "1",
                  "--frames", "4", "--height", "32", "--width", "32")
    assert res.exit_code == 0, res.output
    assert "--prompts N is deprecated; use --count N" in res.stderr
    assert "1 clips for 1 prompts" in res.stdout


# -- 4. progress ------------------------------------------------------------------------------

@pytest.fixture()
def videos(tmp_path, clips_dir):
    folder = tmp_path / "videos"
    folder.mkdir()
    for i, name in enumerate(("h264_long.mp4", "vp9.webm", "h264_long.mp4")):
        shutil.copy(clips_dir / name, folder / f"c{i}{os.path.splitext(name)[1]}")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "a white square moving right"}) + "\n")
    return folder, prompts


def test_progress_off_a_terminal_is_a_plain_line_with_total_rate_and_eta(tmp_path, videos,
                                                                          monkeypatch):
    monkeypatch.setenv("CLEVERWARD_PROGRESS_EVERY", "0")  # a line at every update
    folder, prompts = videos
    res = run_cli("score-dir", folder, "--prompts", prompts, "--out", tmp_path / "s.jsonl",
                  "--no-cache")
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stderr.splitlines() if line.startswith("scoring: ")]
    assert lines and lines[-1].startswith("scoring: 3/3 videos, "), res.stderr
    assert all("/3 videos" in line and "videos/s" in line and " ETA " in line for line in lines)
    quiet = run_cli("score-dir", folder, "--prompts", prompts, "--out", tmp_path / "q.jsonl",
                    "--no-cache", "-q")
    assert "scoring: " not in quiet.stderr
    built = run_cli("index", "build", folder, "--cache", tmp_path / "cache")
    assert built.exit_code == 0, built.output
    lines = [line for line in built.stderr.splitlines() if line.startswith("embedding: ")]
    assert lines and lines[-1].startswith("embedding: 3/3 videos, ") and " ETA " in lines[-1]


def test_a_progress_line_counts_against_the_total_it_is_given(monkeypatch, capsys):
    from cleverward.cli.common import Progress

    monkeypatch.setenv("CLEVERWARD_PROGRESS_EVERY", "0")
    bar = Progress("embedding", "video")
    bar(2)
    bar.set_total(8)
    bar(2)
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("embedding: 2 videos, ") and "ETA -:--:--" in lines[0]
    assert lines[1].startswith("embedding: 4/8 videos, ") and "ETA -" not in lines[1]


# -- 5. DeepSpeed's op cache ------------------------------------------------------------------

def test_the_op_cache_defaults_to_the_environment_and_the_build_is_announced(tmp_path,
                                                                            monkeypatch, capsys):
    from cleverward.cli.common import announce_op_build

    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    assert run_cli("synth", "-h").exit_code == 0
    assert os.environ["TORCH_EXTENSIONS_DIR"] == os.path.join(sys.prefix, "torch_extensions")
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    assert announce_op_build("deepspeed_shm_comm", "shm comm", "a while")
    assert f"cached in {tmp_path}" in capsys.readouterr().err
    (tmp_path / "deepspeed_shm_comm").mkdir()  # a build begun, not finished: still announced
    assert announce_op_build("deepspeed_shm_comm", "shm comm", "a while")
    capsys.readouterr()
    (tmp_path / "deepspeed_shm_comm" / "deepspeed_shm_comm.so").write_bytes(b"\x7fELF")
    assert not announce_op_build("deepspeed_shm_comm", "shm comm", "a while")
    assert capsys.readouterr().err == ""


# -- 6. empty folder, missing video -----------------------------------------------------------

def test_an_empty_folder_warns_and_exits_1_with_no_output(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no videos here")
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"prompt": "x"}\n')
    res = run_cli("score-dir", empty, "--prompts", prompts, "--out", tmp_path / "s.jsonl")
    assert res.exit_code == 1
    assert f"warning: {empty} holds no videos (1 other file(s) skipped" in res.stderr
    assert not (tmp_path / "s.jsonl").exists()


def test_a_line_naming_a_missing_video_is_an_error_row_and_the_run_goes_on(tmp_path, videos):
    folder, _ = videos
    prompts = tmp_path / "named.jsonl"
    prompts.write_text('{"video": "c0.mp4", "prompt": "first"}\n'
                       '{"video": "ghost.mp4", "prompt": "second"}\n')
    out = tmp_path / "s.jsonl"
    res = run_cli("score-dir", folder, "--prompts", prompts, "--out", out, "--no-cache", "-q")
    assert res.exit_code == 0, res.output
    rows = {r["video"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["c0.mp4"]["error"] is None and rows["c0.mp4"]["score"] is not None
    assert rows["ghost.mp4"]["score"] is None
    assert rows["ghost.mp4"]["error"] == (
        f"{prompts}:2: video 'ghost.mp4' does not exist in {folder}")
    strict = run_cli("score-dir", folder, "--prompts", prompts, "--out", tmp_path / "t.jsonl",
                     "--no-cache", "-q", "--strict")
    assert strict.exit_code == 1


# -- 7. messages name options and files, never classes or fields ------------------------------

LEAKS = ("Config", "batch_size", "n_prompts", "margin_frac", "max_batch", "negatives:",
         "heldout_fraction")


@pytest.mark.parametrize(("args", "expected"), [
    (["train", "--pairs", "p.jsonl", "--out", "o", "--batch-size", "0"], "--batch-size"),
    (["score-dir", ".", "--prompts", "p.jsonl", "--batch-size", "0"], "--batch-size"),
    (["synth", "o", "--count", "0"], "--count"),
    (["synth", "o", "--frames", "1"], "--frames"),
    (["synth", "o", "--heldout-fraction", "2"], "--heldout-fraction"),
    (["build-pairs", "--dataset", "jsonl:x.jsonl", "--out", "o.jsonl", "--margin", "3"],
     "--margin"),
    (["serve", "--max-batch", "0"], "--max-batch"),
    (["report", "s.jsonl", "--out", "r.txt"], "--out"),
    (["report", "s.jsonl", "--workers", "0"], "--workers"),
])
def test_config_errors_name_the_option(args, expected):
    res = run_cli(*args)
    assert res.exit_code == 2
    assert f"error: {expected}" in res.stderr, res.stderr
    assert not any(leak in res.stderr for leak in LEAKS), res.stderr


@pytest.mark.parametrize(("args", "option"), [
    (["train", "--pairs", "{dir}", "--out", "{dir}/o"], "--pairs"),
    (["eval", "--pairs", "{dir}"], "--pairs"),
    (["score-dir", "{dir}", "--prompts", "{dir}"], "--prompts"),
])
def test_a_folder_given_for_a_file_says_so(tmp_path, clips_dir, args, option):
    (tmp_path / "a.mp4").write_bytes((clips_dir / "h264_long.mp4").read_bytes())
    res = run_cli(*(a.format(dir=tmp_path) for a in args))
    assert res.exit_code == 2
    assert f"error: {option} {tmp_path}: is a folder, give a" in res.stderr, res.stderr


# -- 9. provenance ----------------------------------------------------------------------------

def test_parquet_output_carries_its_provenance(tmp_path, videos):
    import pyarrow.parquet as pq

    folder, prompts = videos
    out = tmp_path / "s.parquet"
    res = run_cli("score-dir", folder, "--prompts", prompts, "--out", out, "--no-cache", "-q")
    assert res.exit_code == 0, res.output
    meta = json.loads(pq.read_schema(out).metadata[b"cleverward"])
    from importlib.metadata import version

    assert meta["cleverward_version"] == version("cleverward") and meta["model"] == "default"
    assert set(meta["model_identity"]) == {"encoder", "head", "decode"}
    assert meta["config"]["prompts_file"] == str(prompts) and meta["config"]["format"] == "parquet"
    assert meta["created"].endswith("+00:00")
    assert len(pq.read_table(out)) == 3  # the rows are unchanged


def test_shell_completion_offers_a_choice_options_values():
    from typer.testing import CliRunner

    from cleverward.cli.app import app

    env = {"_CLEVERWARD_COMPLETE": "complete_bash",
           "COMP_WORDS": "cleverward index build d --kind ", "COMP_CWORD": "5"}
    res = CliRunner().invoke(app, [], env=env, prog_name="cleverward")
    assert res.stdout.split() == ["auto", "flat", "ivf", "hnsw"], res.output


# -- 2. renamed options keep their old spelling, with a warning -------------------------------

@pytest.mark.parametrize(("args", "old", "new"), [
    (["bulk", "{tmp}/none.jsonl", "--out", "{tmp}/o", "--root", "{tmp}"], "bulk --root",
     "--videos-root"),
    (["report", "{tmp}/none.jsonl", "--videos", "{tmp}"], "report --videos", "--videos-root"),
])
def test_a_deprecated_spelling_warns_and_names_the_new_one(tmp_path, args, old, new):
    res = run_cli(*(a.format(tmp=tmp_path) for a in args))
    assert f"warning: {old} is deprecated; use {new}" in res.stderr
    assert res.exit_code == 2 and "none.jsonl" in res.stderr  # then the real error, named


# -- 3. results on stdout, everything else on stderr ------------------------------------------

def test_build_pairs_prints_its_summary_on_stdout_and_quiet_the_path(tmp_path):
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps({"video": f"v{i}.mp4", "prompt": "p",
                                          "scores": {"overall": i / 4}}) + "\n"
                              for i in range(3)))
    out = tmp_path / "pairs.jsonl"
    res = run_cli("build-pairs", "--dataset", f"jsonl:{labels}", "--out", out, "--no-dedup")
    assert res.exit_code == 0, res.output
    assert f"pairs -> {out}" in res.stdout and "pairs -> " not in res.stderr
    quiet = run_cli("build-pairs", "--dataset", f"jsonl:{labels}", "--out", out, "--no-dedup",
                    "-q")
    assert quiet.exit_code == 0 and quiet.stdout == f"{out}\n"
    as_json = run_cli("build-pairs", "--dataset", f"jsonl:{labels}", "--out", out, "--no-dedup",
                      "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["total"] >= 1


# -- 4. on a terminal: a rich bar with its total and ETA ---------------------------------------

def test_on_a_terminal_the_bar_shows_total_rate_and_eta(tmp_path, videos):
    import pty
    import subprocess

    folder, prompts = videos
    main, child = pty.openpty()
    cmd = [sys.executable, "-m", "cleverward.cli.app", "score-dir", str(folder), "--prompts",
           str(prompts), "--out", str(tmp_path / "s.jsonl"), "--no-cache"]
    proc = subprocess.Popen(cmd, stdin=child, stdout=subprocess.PIPE, stderr=child,
                            env={**os.environ, "COLUMNS": "120"})
    os.close(child)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=300) == 0
    os.close(main)
    text = seen.decode("utf-8", "replace")
    assert "3/3" in text and "videos/s" in text and "ETA" in text, text[-800:]


def test_train_puts_its_result_on_stdout_and_quiet_prints_the_checkpoint_path(tmp_path):
    synth, pairs = tmp_path / "synth", tmp_path / "pairs.jsonl"
    assert run_cli("synth", synth, "--count", "2", "--videos-per-prompt", "2", "--frames", "4",
                   "--height", "32", "--width", "32").exit_code == 0
    assert run_cli("build-pairs", "--dataset", f"jsonl:{synth}/labels.jsonl", "--videos-root",
                   synth, "--out", pairs, "-q").exit_code == 0
    common = ("--pairs", pairs, "--videos-root", synth, "--epochs", "1", "--val-fraction", "0",
              "--no-cache")
    quiet = run_cli("train", *common, "--out", tmp_path / "q", "-q")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout == f"{tmp_path / 'q'}\n"  # nothing else: DeepSpeed's logs are on stderr
    loud = run_cli("train", *common, "--out", tmp_path / "r")
    assert loud.exit_code == 0, loud.output
    assert loud.stdout.startswith("trained 1 epochs") and f"-> {tmp_path / 'r'}" in loud.stdout
    assert "[WARNING]" not in loud.stdout and "DeepSpeed" not in loud.stdout
    as_json = run_cli("train", *common, "--out", tmp_path / "j", "--json", "-q")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["epochs"] == 1


def test_a_message_that_starts_with_a_file_named_like_a_field_is_left_alone(tmp_path,
                                                                           monkeypatch):
    from cleverward.cli.common import config_error
    from cleverward.train.evaluate import EvalConfig

    assert config_error("EvalConfig.pairs: must be a file", config=EvalConfig) == (
        "--pairs: must be a file")
    assert config_error("pairs.jsonl: none of the 3 pairs could be scored",
                        config=EvalConfig) == "pairs.jsonl: none of the 3 pairs could be scored"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pairs").write_text("")
    assert config_error("pairs: holds no pairs", config=EvalConfig) == "pairs: holds no pairs"


def test_a_misspelt_dataset_format_gets_a_suggestion():
    res = run_cli("build-pairs", "--dataset", "t2vq:info.txt", "--out", "o.jsonl")
    assert res.exit_code == 2
    assert "unknown format 't2vq'" in res.stderr and "did you mean 't2vqa'?" in res.stderr
