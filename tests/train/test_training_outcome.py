"""What training is for, checked on outcomes rather than on "it ran".

- Trained beats untrained: on the synthetic task's held-out prompts (colour x shape pairings no
  training clip shows), the trained head orders more pairs right than the starting head.
  Accuracy is computed here from scratch (decode -> encode -> head -> compare), not through the
  trainer's or evaluate's own code.
- The starting head is kept when no epoch beats it: the validation pairs compare each video with
  itself (margin 0), so every head gives them a reward difference of exactly 0 and a validation
  loss of exactly log 2 = 0.6931472: no epoch can beat the start (an epoch must improve on it by
  1e-6), while the train split still moves the head. The saved head must be the starting head,
  bit for bit, and the CLI must say so. (Reversing the validation labels instead is not enough:
  training can shrink the logit scale, which lowers the loss of any set the head gets wrong.)
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from cleverward.engine.decode import decode_clip
from cleverward.engine.dimensions import SCORE_NAMES
from cleverward.engine.model import RewardModel
from cleverward.train.config import TrainConfig
from cleverward.train.pairs import PairsConfig, build_pairs
from cleverward.train.pairs_io import read_pairs, write_pairs
from cleverward.train.trainer import split_by_prompt, train
from tests.cli.run import run_cli


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    """8 prompts x 4 clips (8 frames, 64x64): pairs for the train and held-out splits."""
    from cleverward.train.synth import generate_synthetic

    root = tmp_path_factory.mktemp("synth")
    generate_synthetic(root, n_prompts=8, videos_per_prompt=4, frames=8, size=(64, 64))
    for split in ("train", "heldout"):
        rows, _ = build_pairs(PairsConfig(datasets=(f"jsonl:{root}/labels_{split}.jsonl",),
                                          videos_root=str(root)))
        write_pairs(rows, root / f"pairs_{split}.jsonl")
    return root


def _pairwise_accuracy(model: RewardModel, root, rows: list[dict]) -> float:
    """Share of decided pairs whose chosen video gets the higher reward on the pair's
    dimension (ties skipped; an exactly equal reward counts as wrong)."""
    rows = [r for r in rows if not r["tie"]]
    videos = sorted({r[s] for r in rows for s in ("chosen", "rejected")})
    prompts = sorted({r["prompt"] for r in rows})
    decode = model.decode_config()
    clips = [decode_clip(str(root / v), decode) for v in videos]
    rewards = model.score(model.encode_videos(clips), model.encode_texts(prompts))  # (V, P, K)
    v_at, p_at = {v: i for i, v in enumerate(videos)}, {p: i for i, p in enumerate(prompts)}
    right = [rewards[v_at[r["chosen"]], p_at[r["prompt"]], SCORE_NAMES.index(r["dimension"])]
             > rewards[v_at[r["rejected"]], p_at[r["prompt"]], SCORE_NAMES.index(r["dimension"])]
             for r in rows]
    return float(np.mean(right))


@pytest.mark.slow
def test_the_trained_head_beats_the_starting_head_on_held_out_pairs(task, tmp_path):
    out = tmp_path / "run"
    train(TrainConfig(pairs=str(task / "pairs_train.jsonl"), videos_root=str(task), out=str(out),
                      epochs=8, batch_size=16, val_fraction=0.0, cache_dir=str(task / "cache")))
    heldout = read_pairs(task / "pairs_heldout.jsonl")
    assert len(heldout) >= 20
    before = _pairwise_accuracy(RewardModel.from_pretrained("default"), task, heldout)
    after = _pairwise_accuracy(RewardModel.from_pretrained(out), task, heldout)
    # a clear margin, not noise: 0.1 is several pairs on this set
    assert after >= before + 0.1, (before, after)


def _uninformative_validation_pairs(task, seed: int, val_fraction: float):
    rows = read_pairs(task / "pairs_train.jsonl")
    _, val_idx = split_by_prompt(rows, val_fraction, seed)
    assert val_idx  # the trainer will pick the same prompts (same rows, fraction and seed)
    for i in val_idx:
        rows[i] = dict(rows[i], rejected=rows[i]["chosen"], margin=0.0, tie=False)
    path = task / "pairs_self_val.jsonl"
    write_pairs(rows, path)
    return path


@pytest.mark.slow
def test_the_starting_head_is_saved_when_every_epoch_is_worse_on_validation(task, tmp_path):
    pairs = _uninformative_validation_pairs(task, seed=0, val_fraction=0.25)
    out, summary = tmp_path / "run", tmp_path / "summary.json"
    res = run_cli("train", "--pairs", pairs, "--videos-root", task, "--out", out,
                  "--epochs", "3", "--batch-size", "16", "--val-fraction", "0.25", "--seed", "0",
                  "--lr", "0.03", "--patience", "10", "--cache", task / "cache",
                  "--summary-json", summary)
    assert res.exit_code == 0, res.output
    result = json.loads(summary.read_text())
    assert result["epochs"] == 3 and result["best_epoch"] == -1
    assert result["before"]["loss"] == pytest.approx(np.log(2), abs=1e-6)
    assert [h["val_loss"] for h in result["history"]] == pytest.approx([np.log(2)] * 3, abs=1e-6)
    assert result["history"][-1]["train_loss"] < result["history"][0]["train_loss"]  # it trained
    assert result["best"] == result["before"]
    assert "the starting head was saved" in res.output
    saved = RewardModel.from_pretrained(out)
    assert saved.cfg.provenance["improved_on_init"] is False
    start = RewardModel.from_pretrained("default").head.state_dict()
    got = saved.head.state_dict()
    assert got.keys() == start.keys()
    for name, tensor in start.items():
        assert torch.equal(got[name], tensor), name  # bitwise, not merely close
