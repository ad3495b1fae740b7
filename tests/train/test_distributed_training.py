"""Training under a launcher, 2 CPU ranks on gloo: the ranks split the embedding work (each
video decoded once in total), and the checkpoint equals a 1-process run's.

Why the two runs must agree: each rank takes every other batch of B pairs (trainer._shard) and
DeepSpeed averages the two ranks' gradients, so step j sees the mean gradient of batches 2j and
2j+1; one process with batches of 2B sees the mean over the same 2B pairs (the epoch order is
seeded, and a 2B batch is exactly those two B batches). Same gradients, same clipping, same AdamW
steps: equal weights up to float summation order."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest
from safetensors.numpy import load_file

from cleverward.train.distributed import free_port
from tests.cli.run import run_cli

B = 8


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("dist")
    synth = root / "synth"
    res = run_cli("synth", synth, "--count", "4", "--videos-per-prompt", "4", "--frames", "6",
                  "--height", "48", "--width", "48")
    assert res.exit_code == 0, res.output
    pairs = root / "pairs.jsonl"
    res = run_cli("build-pairs", "--dataset", f"jsonl:{synth}/labels.jsonl", "--videos-root",
                  synth, "--out", pairs, "-q")
    assert res.exit_code == 0, res.output
    return root, synth, pairs


def _train_args(synth, pairs, out, batch: int) -> list[str]:
    return ["train", "--pairs", str(pairs), "--videos-root", str(synth), "--out", str(out),
            "--epochs", "3", "--batch-size", str(batch), "--no-cache", "--val-fraction", "0.25",
            "-q"]


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _weights(run) -> dict:
    return load_file(str(run / "model.safetensors"))


def _check(run, reference, videos: int) -> None:
    cfg = json.loads((run / "config.json").read_text())
    prov = cfg["provenance"]
    assert prov["world_size"] == 2
    per_rank = prov["embedding"]["decoded_per_rank"]
    assert sum(per_rank) == videos and min(per_rank) >= videos // 2  # each video once in all
    ref = _weights(reference)
    got = _weights(run)
    assert got.keys() == ref.keys()
    for name in ref:
        diff = abs(got[name].astype("float64") - ref[name]).max()
        assert diff <= 1e-4, f"{name}: {diff:.2e} from the 1-process run"


@pytest.fixture(scope="module")
def reference(task):
    root, synth, pairs = task
    out = root / "one"
    res = run_cli(*_train_args(synth, pairs, out, 2 * B))
    assert res.exit_code == 0, res.output
    return out


def _videos(synth) -> int:
    return len(list((synth / "videos").iterdir()))


@pytest.mark.slow
def test_torchrun_two_ranks_split_the_embedding_and_match_one_process(task, reference):
    root, synth, pairs = task
    out = root / "torchrun"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", str(free_port()), "-m", "cleverward.cli.app",
           *_train_args(synth, pairs, out, B)]
    subprocess.run(cmd, check=True, env=_env(), timeout=600, capture_output=True)
    _check(out, reference, _videos(synth))


@pytest.mark.slow
def test_deepspeed_launcher_two_ranks_match_one_process(task, reference):
    """The launcher appends --local_rank=N to the command, which train must accept."""
    root, synth, pairs = task
    out = root / "deepspeed"
    world = base64.urlsafe_b64encode(json.dumps({"localhost": [0, 1]}).encode()).decode()
    cmd = [sys.executable, "-m", "deepspeed.launcher.launch", f"--world_info={world}",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}", "--module",
           "cleverward.cli.app", *_train_args(synth, pairs, out, B)]
    res = subprocess.run(cmd, env=_env(), timeout=600, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    _check(out, reference, _videos(synth))
