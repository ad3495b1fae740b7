"""Bad state through the CLI: each command exits 2 with one line `error: <file>[:line]: why`,
no traceback, and writes nothing (the corpus itself: tests/test_untrusted_state.py)."""

from __future__ import annotations

import json
import shutil

from cleverward.engine.checkpoint import NAMED_MODELS
from tests.cli.run import run_cli


def _one_error_line(res, starts: str, fragment: str) -> None:
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {starts}"), res.output
    assert fragment in lines[0]


def test_build_pairs_refuses_an_unterminated_quote_by_line(tmp_path):
    """Before: the quoted field swallowed the two rows after it and build-pairs exited 0."""
    f = tmp_path / "vg.csv"
    f.write_text("path_A,path_B,prompt,VQ\na.mp4,b.mp4,p,A\n"
                 'c.mp4,d.mp4,"a cat,A\ne.mp4,f.mp4,p,B\ng.mp4,h.mp4,p,A\n')
    out = tmp_path / "pairs.jsonl"
    res = run_cli("build-pairs", "--dataset", f"videogen-rewardbench:{f}", "--out", out)
    _one_error_line(res, f"{f}:3: ", "a quoted field opened here never closes")
    assert not out.exists()


def test_build_pairs_refuses_a_latin1_t2vqa_file_by_line(tmp_path):
    f = tmp_path / "info.txt"
    f.write_bytes(b"a.mp4|a cat|3.1\nb.mp4|caf\xe9|2.0\n")
    res = run_cli("build-pairs", "--dataset", f"t2vqa:{f}", "--out", tmp_path / "p.jsonl")
    _one_error_line(res, f"{f}:2: ", "not UTF-8 text (byte 0xe9 at column 10)")


def test_score_dir_refuses_a_nan_checkpoint_before_any_output(tmp_path, clips_dir):
    from safetensors.torch import load_file, save_file

    ckpt = tmp_path / "ckpt"
    shutil.copytree(NAMED_MODELS["default"], ckpt)
    state = load_file(str(ckpt / "model.safetensors"))
    state["video_proj.bias"][7] = float("nan")
    save_file(state, str(ckpt / "model.safetensors"))
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "a cat"}) + "\n")
    out = tmp_path / "scores.jsonl"
    res = run_cli("score-dir", clips_dir, "--prompts", prompts, "--model", ckpt, "--out", out,
                  "--no-cache", "-q")
    _one_error_line(res, f"{ckpt / 'model.safetensors'}: ",
                    "tensor 'video_proj.bias' holds 1 NaN or Inf value(s)")
    assert not out.exists()


def test_score_dir_refuses_frames_eight(tmp_path, clips_dir):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(NAMED_MODELS["default"], ckpt)
    cfg = json.loads((ckpt / "config.json").read_text())
    (ckpt / "config.json").write_text(json.dumps({**cfg, "frames": "eight"}))
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "a cat"}) + "\n")
    res = run_cli("score-dir", clips_dir, "--prompts", prompts, "--model", ckpt, "--out",
                  tmp_path / "s.jsonl", "--no-cache", "-q")
    _one_error_line(res, f"{ckpt / 'config.json'}: ", "frames: must be an integer in 1..512")


def test_train_refuses_a_bad_pairs_row_by_line(tmp_path, monkeypatch):
    """One line even on a machine where DeepSpeed's op is not built yet (an empty extensions
    folder): the build is announced only once the pairs have been read, just before the
    engine starts, so a bad pairs file never prints the announcement first."""
    from cleverward.train.pairs_io import make_row

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "no-ops-built"))

    good = make_row("d", "overall", "a cat", "a.mp4", "b.mp4", kind="vote")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(json.dumps(good) + "\n" + json.dumps({**good, "margin": "big"}) + "\n")
    res = run_cli("train", "--pairs", pairs, "--out", tmp_path / "run", "-q")
    _one_error_line(res, f"{pairs}:2: ", "'margin' must be a finite number >= 0, got 'big'")
    assert not (tmp_path / "run").exists()
