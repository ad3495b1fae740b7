"""The DeepSpeed trainer on CPU: a real engine, real clips, real default encoders, few steps."""

from __future__ import annotations

import json

import deepspeed  # noqa: F401  (a core dependency: a broken install fails collection, never skips)
import pytest
import torch

from cleverward.benchmarks.reliability_state import plant_pickle
from cleverward.engine.model import RewardModel
from cleverward.train.config import TrainConfig
from cleverward.train.deepspeed_config import deepspeed_config_for, generate_deepspeed_config
from cleverward.train.losses import bradley_terry_loss
from cleverward.train.objective import PairObjective
from cleverward.train.pairs import PairsConfig, build_pairs
from cleverward.train.pairs_io import write_pairs
from cleverward.train.resume_state import ResumeStateError, write_manifest
from cleverward.train.trainer import split_by_prompt, train


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    """A small synthetic task: 8 prompts x 4 clips, pairs for the train and held-out splits."""
    from cleverward.train.synth import generate_synthetic

    root = tmp_path_factory.mktemp("synth")
    generate_synthetic(root, n_prompts=8, videos_per_prompt=4, frames=8, size=(64, 64))
    for split in ("train", "heldout"):
        rows, _ = build_pairs(PairsConfig(datasets=(f"jsonl:{root}/labels_{split}.jsonl",),
                                          videos_root=str(root)))
        write_pairs(rows, root / f"pairs_{split}.jsonl")
    return root


def _cfg(task, out, **kw) -> TrainConfig:
    base = dict(pairs=str(task / "pairs_train.jsonl"), videos_root=str(task), out=str(out),
                epochs=3, batch_size=16, val_fraction=0.25, cache_dir=str(task / "cache"))
    return TrainConfig(**(base | kw))


def _head_moved(model: RewardModel) -> bool:
    start = RewardModel.from_pretrained("default").head.state_dict()
    return any(not torch.equal(v, start[k]) for k, v in model.head.state_dict().items())


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="TrainConfig.objective"):
        TrainConfig(pairs="p", out="o", objective="hinge")
    with pytest.raises(ValueError, match="TrainConfig.zero_stage"):
        TrainConfig(pairs="p", out="o", zero_stage=4)
    with pytest.raises(ValueError, match="TrainConfig.val_fraction"):
        TrainConfig(pairs="p", out="o", val_fraction=1.0)


def test_deepspeed_config_is_generated_from_the_train_config(tmp_path):
    ds = generate_deepspeed_config(TrainConfig(pairs="p", out="o", batch_size=32, zero_stage=2))
    assert ds["train_micro_batch_size_per_gpu"] == 32
    assert ds["zero_optimization"]["stage"] == 2
    user = tmp_path / "ds.json"
    user.write_text('{"train_micro_batch_size_per_gpu": 8, "zero_optimization": {"stage": 1}}')
    cfg = TrainConfig(pairs="p", out="o", deepspeed_config=str(user))
    assert deepspeed_config_for(cfg)["zero_optimization"]["stage"] == 1
    user.write_text('{"train_micro_batch_size_per_gpu": 8,\n  oops}')
    with pytest.raises(ValueError, match=r"ds.json:2: not valid JSON"):
        deepspeed_config_for(cfg)


def test_split_by_prompt_is_disjoint_and_deterministic():
    rows = [{"prompt": f"p{i % 10}"} for i in range(100)]
    train_idx, val_idx = split_by_prompt(rows, 0.2, seed=3)
    assert sorted(train_idx + val_idx) == list(range(100))
    assert not {rows[i]["prompt"] for i in train_idx} & {rows[i]["prompt"] for i in val_idx}
    assert len({rows[i]["prompt"] for i in val_idx}) == 2
    again = split_by_prompt(rows, 0.2, seed=3)
    assert again == (train_idx, val_idx)
    assert split_by_prompt(rows, 0.2, seed=4) != (train_idx, val_idx)


def test_objective_bt_is_the_bradley_terry_loss_of_the_head_rewards():
    head = RewardModel.from_pretrained("default").head
    obj = PairObjective(head, "bt")
    g = torch.Generator().manual_seed(0)
    vc, vr = torch.randn(5, head.cfg.video_dim, generator=g), torch.randn(5, head.cfg.video_dim,
                                                                          generator=g)
    t = torch.randn(5, head.cfg.text_dim, generator=g)
    dim = torch.tensor([0, 5, 5, 1, 3])
    tie = torch.tensor([False, False, True, False, False])
    loss, diff = obj(vc, vr, t, dim, tie, torch.zeros(5))
    r_c = head.score_pairs(vc, t)[torch.arange(5), dim]
    r_r = head.score_pairs(vr, t)[torch.arange(5), dim]
    keep = ~tie
    want = bradley_terry_loss(r_c[keep], r_r[keep], head.logit_scale.exp())
    torch.testing.assert_close(loss, want)
    torch.testing.assert_close(diff, (r_c - r_r).detach())


def test_training_improves_the_objective_and_saves_an_engine_checkpoint(task, tmp_path):
    out = tmp_path / "run"
    # no validation split: the best epoch is chosen on the training loss, which must fall
    result = train(_cfg(task, out, epochs=4, val_fraction=0.0))
    assert result.steps > 0 and result.train_pairs > 0 and result.val_pairs == 0
    train_losses = [h["train_loss"] for h in result.history]
    assert train_losses[-1] < train_losses[0]
    model = RewardModel.from_pretrained(out)
    prov = model.cfg.provenance
    assert prov["trained"] is True and prov["trainer"].startswith("deepspeed ")
    assert prov["zero_stage"] == 0 and list(prov["datasets"]) == ["synth"]
    assert prov["datasets"]["synth"] >= result.train_pairs + result.val_pairs  # + skipped ties
    assert prov["pairs"]["train"] == result.train_pairs and prov["steps"] == result.steps
    default = RewardModel.from_pretrained("default")
    moved = (model.head.video_proj.weight - default.head.video_proj.weight).abs().max()
    assert float(moved) > 0
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == list(range(result.epochs))
    # the shareable folder holds no pickle: DeepSpeed's state lives beside it, in run.state/
    assert not list(out.rglob("*.pt")) and not (out / "deepspeed").exists()
    assert list((tmp_path / "run.state" / "deepspeed").rglob("*.pt"))
    card = (out / "README.md").read_text()
    assert "library_name: cleverward" in card and str(task / "pairs_train.jsonl") in card
    assert f"{result.train_pairs} train" in card and "cleverward" in json.loads(
        (out / "config.json").read_text())["model_type"]


def test_interrupted_run_resumes_from_its_deepspeed_checkpoint(task, tmp_path):
    out = tmp_path / "run"
    first = train(_cfg(task, out, epochs=2, patience=10))
    assert first.epochs == 2
    second = train(_cfg(task, out, epochs=3, patience=10))
    assert second.resumed_from == 1
    assert second.steps > first.steps
    assert [h["epoch"] for h in second.history] == [0, 1, 2]
    with pytest.raises(ValueError, match="other settings"):
        train(_cfg(task, out, epochs=4, lr=0.1))
    # the state may live anywhere (--state-dir): a run there resumes from there
    elsewhere = tmp_path / "state-elsewhere"
    train(_cfg(task, out, epochs=1, patience=10, state_dir=str(elsewhere), resume=False))
    assert (elsewhere / "deepspeed" / "manifest.json").is_file()
    again = train(_cfg(task, out, epochs=2, patience=10, state_dir=str(elsewhere)))
    assert again.resumed_from == 0


@pytest.mark.slow
def test_resume_refuses_planted_state_and_runs_none_of_it(task, tmp_path):
    """A pickle planted in run.state/deepspeed/ would run under DeepSpeed's own torch.load
    (weights_only=False). Planted after the save, its digest differs from the run's manifest:
    refused by name before anything is read. With the manifest forged to match, DeepSpeed's
    read goes through weights_only and refuses it. The marker never appears; the run's own
    state resumes (test_interrupted_run_resumes_from_its_deepspeed_checkpoint)."""
    out = tmp_path / "run"
    train(_cfg(task, out, epochs=1, patience=10))
    state = tmp_path / "run.state" / "deepspeed" / "epoch0" / "mp_rank_00_model_states.pt"
    marker = tmp_path / "EXECUTED"
    plant_pickle(state, marker)
    with pytest.raises(ResumeStateError, match=rf"^{state}: changed since the run saved it"):
        train(_cfg(task, out, epochs=2, patience=10))
    write_manifest(tmp_path / "run.state" / "deepspeed", "epoch0")
    with pytest.raises(ResumeStateError, match=rf"^{state}: holds objects .* refused unread"):
        train(_cfg(task, out, epochs=2, patience=10))
    assert not marker.exists()
    (tmp_path / "run.state" / "deepspeed" / "manifest.json").unlink()
    with pytest.raises(ResumeStateError, match="manifest.json: missing"):
        train(_cfg(task, out, epochs=2, patience=10))
    assert not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize("stage", [2, 3])
def test_zero_stages_train_save_and_resume(task, tmp_path, stage):
    out = tmp_path / f"zero{stage}"
    result = train(_cfg(task, out, epochs=1, zero_stage=stage, patience=10))
    assert result.steps == -(-result.train_pairs // 16) > 0  # one rank: every batch of the epoch
    saved = RewardModel.from_pretrained(out)
    assert _head_moved(saved) == (result.best_epoch >= 0)  # a kept epoch, or the start itself
    assert saved.cfg.provenance["zero_stage"] == stage
    # the partitioned optimizer state (loss scaler, stage enum inside) reads back through the
    # weights_only loader's allow-list
    again = train(_cfg(task, out, epochs=2, zero_stage=stage, patience=10))
    assert again.resumed_from == 0 and again.steps == 2 * result.steps


@pytest.mark.parametrize("objective", ["bt-ties", "sft"])
def test_other_objectives_run(task, tmp_path, objective):
    result = train(_cfg(task, tmp_path / objective, epochs=2, objective=objective, patience=10))
    assert result.steps == 2 * -(-result.train_pairs // 16) > 0  # 2 epochs of ceil(n / 16)
    saved = RewardModel.from_pretrained(tmp_path / objective)
    assert _head_moved(saved) == (result.best_epoch >= 0)  # a kept epoch, or the start itself
    assert RewardModel.from_pretrained(tmp_path / objective).cfg.provenance["objective"] == \
        objective


def test_unreadable_videos_are_dropped_and_counted(task, tmp_path):
    rows = [json.loads(line) for line in (task / "pairs_train.jsonl").read_text().splitlines()]
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    rows.append({**rows[0], "chosen": str(bad)})
    write_pairs(rows, tmp_path / "pairs.jsonl")
    result = train(_cfg(task, tmp_path / "run", pairs=str(tmp_path / "pairs.jsonl"), epochs=1))
    assert sum(result.dropped.values()) == 1


@pytest.mark.parametrize(("n", "world", "each"), [(7, 2, 3), (8, 2, 4), (1, 2, 1), (5, 1, 5)])
def test_every_rank_takes_the_same_number_of_steps(monkeypatch, n, world, each):
    from cleverward.train.trainer import _shard

    batches = [torch.tensor([i]) for i in range(n)]
    taken = []
    for rank in range(world):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", str(world))
        taken.append(_shard(batches))
    assert [len(t) for t in taken] == [each] * world
    if n >= world:  # no batch is given to two ranks
        seen = [int(b) for t in taken for b in t]
        assert len(seen) == len(set(seen))


def test_old_deepspeed_tags_are_pruned_and_a_finished_rerun_keeps_its_figures(task, tmp_path):
    out = tmp_path / "run"
    first = train(_cfg(task, out, epochs=3, patience=10))
    tags = sorted(p.name for p in (tmp_path / "run.state" / "deepspeed").iterdir() if p.is_dir())
    assert tags == ["epoch2"]
    again = train(_cfg(task, out, epochs=3, patience=10))  # nothing left to do
    assert again.epochs == first.epochs == 3 and again.steps == first.steps
    assert RewardModel.from_pretrained(out).cfg.provenance["epochs"] == 3


def test_the_starting_head_is_kept_when_no_epoch_beats_it(task, tmp_path):
    out = tmp_path / "run"
    result = train(_cfg(task, out, epochs=2, lr=5.0))  # steps this large only make it worse
    start = RewardModel.from_pretrained("default").head.state_dict()
    saved = RewardModel.from_pretrained(out)
    if result.best_epoch < 0:
        assert saved.cfg.provenance["improved_on_init"] is False
        for k, v in start.items():
            torch.testing.assert_close(saved.head.state_dict()[k], v)
    assert result.best["loss"] <= result.before["loss"] + 1e-9


def test_checkpoint_files_are_readable_by_others(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        RewardModel.from_pretrained("default").save_pretrained(tmp_path / "ck")
    finally:
        os.umask(old)
    for name in ("model.safetensors", "config.json"):
        assert stat.S_IMODE((tmp_path / "ck" / name).stat().st_mode) == 0o644
