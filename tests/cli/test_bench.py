"""`cleverward bench --quick --out`: the whole suite on a tiny corpus; the JSON's shape, no timings
asserted (figures on a shared CI machine are not reproducible)."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from cleverward.benchmarks import corpus as corpus_mod
from cleverward.benchmarks import suite
from cleverward.cli.app import app

TINY = corpus_mod.CorpusProfile("tiny", height=64, width=96, fps=8, seconds=2.0)


@pytest.mark.slow
def test_bench_quick_writes_every_figure(tmp_path, monkeypatch):
    import cleverward.engine.backends as backends

    monkeypatch.setitem(corpus_mod.PROFILES, "tiny", TINY)
    monkeypatch.setattr(suite, "QUICK_CORPUS", {"tiny": 2})
    monkeypatch.setitem(suite.SIZES, "quick", {"head_b": 64, "faiss_n": 1000, "train_steps": 2,
                                               "torch_clips": 1})
    # torch for text + head: an ONNX export into the test's empty cache would only add time
    monkeypatch.setattr(backends, "choose_backend", lambda choice, model: ("torch", "test"))
    monkeypatch.setenv("CLEVERWARD_PROGRESS_EVERY", "0")  # a progress line at every step
    out = tmp_path / "results.json"
    res = CliRunner().invoke(app, ["bench", "--quick", "--out", str(out), "--work-dir",
                                   str(tmp_path / "work"), "--corpus-dir",
                                   str(tmp_path / "corpus")])
    assert res.exit_code == 0, res.output
    steps = [x for x in res.stderr.splitlines() if x.startswith("bench: ")]
    assert steps[0].startswith("bench: 1/6 steps, ") and steps[0].endswith("corpus done")
    assert steps[-1].startswith("bench: 6/6 steps, ") and all(" ETA " in x for x in steps)
    assert "e2e_vs_naive" in res.output and "naive reference" in res.output
    data = json.loads(out.read_text())
    assert set(suite.TARGETS) <= set(data["ratios"])
    assert {"e2e_vs_naive", "e2e_vs_slowest_stage", "cached_vs_first"} <= set(data["targets"])
    for value in data["ratios"].values():
        assert math.isfinite(value) and value > 0
    assert data["corpus"]["videos"] == 2 and data["corpus"]["profiles"] == {"tiny": 2}
    assert data["engine"]["scored"] == 2 and data["cached_pass"]["decoded"] == 0
    assert data["cached_pass"]["cache_hits"] == 2
    assert {"decode_wait", "encode", "score"} <= set(data["engine"]["timings"])
    for key in ("gemm", "decode", "video_encoder", "text_encoder", "scoring", "faiss",
                "training", "naive", "limits", "by_profile", "environment", "one_off"):
        assert key in data, key
    assert {"ort_b1", "torch_b1"} <= set(data["video_encoder"])
    assert data["environment"]["versions"]["torch"]
