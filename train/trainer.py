"""The training loop: a pairs file -> a reward-model checkpoint, with DeepSpeed as the engine.

    result = train(TrainConfig(pairs="pairs.jsonl", videos_root="data/", out="runs/r1"))

1. Rows are split by prompt (whole prompts held out, so validation measures prompts the head
   never saw), deterministically from the seed.
2. The mode's Trainable (train/trainable.py) turns rows into batches. frozen: the encoders embed
   every video and prompt once (train/features.py, through the engine's cache) and the reward
   head of `init_model` trains. unfrozen (train/unfrozen.py): batches decode their clips and
   tokenise their prompts, and the encoders train with the head.
3. deepspeed.initialize wraps the Trainable's module (the objective, train/objective.py) with the
   config generated from TrainConfig (train/deepspeed_config.py); a plain process is a one-rank
   gloo world, the `deepspeed` launcher's ranks each take a shard of every epoch's batches.
4. Each epoch: shuffled batches -> engine(batch) -> engine.backward -> engine.step; then the
   validation loss and pairwise accuracy (ties excluded). The best model by validation loss is
   written to `out` (engine format, loadable by score-dir) whenever it improves; training stops
   after `patience` epochs without improvement.
5. After every epoch DeepSpeed's own checkpoint (optimizer state included) goes to
   <state>/deepspeed/ (TrainConfig.state_folder: `<out>.state/` beside the checkpoint unless
   --state-dir says otherwise; never inside `out`, which stays shareable), so an interrupted
   run resumes where it stopped. That state is DeepSpeed's
   torch.save format: a resume reads it only when the digests the run recorded at save match
   (train/resume_state.py), and then without running code (weights_only); the model checkpoint
   is safetensors.
The checkpoint's provenance records datasets, pair counts, steps, the trainer engine and ZeRO
stage, the objective and the validation figures before and after training.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from cleverward.engine.checkpoint import CheckpointConfig
from cleverward.engine.device import resolve_device
from cleverward.engine.embedding_cache import open_cache
from cleverward.engine.model import RewardModel
from cleverward.train.config import TrainConfig
from cleverward.train.deepspeed_config import deepspeed_config_for
from cleverward.train.distributed import (
    ensure_process_group_env,
    init_distributed,
    is_main_process,
    sum_across_ranks,
)
from cleverward.train.features import PairTensors, embed_pair_rows
from cleverward.train.metrics import pairwise_accuracy
from cleverward.train.pairs_io import read_pairs
from cleverward.train.resume_state import guard_loads, verify_state, write_manifest
from cleverward.train.trainable import FrozenHead, Trainable

DS_DIR = "deepspeed"
LOG_FILE = "train_log.jsonl"
Progress = Callable[[dict], None]


@dataclass
class TrainResult:
    out: str
    epochs: int = 0
    steps: int = 0
    best_epoch: int = -1
    train_pairs: int = 0
    val_pairs: int = 0
    resumed_from: int | None = None
    before: dict = field(default_factory=dict)  # validation figures of the initial head
    best: dict = field(default_factory=dict)  # of the saved head
    history: list[dict] = field(default_factory=list)
    dropped: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# -- data -------------------------------------------------------------------------------------

def split_by_prompt(rows: list[dict], val_fraction: float, seed: int) -> tuple[list, list]:
    """Row indices (train, val): each prompt goes wholly to one side, chosen by a seeded hash
    of its text, so the split is stable when rows are added or reordered."""
    if val_fraction <= 0:
        return list(range(len(rows))), []
    prompts = sorted({str(r["prompt"]) for r in rows})

    def u(p: str) -> float:
        digest = hashlib.sha256(f"{seed}\0{p}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    n_val = max(1, round(len(prompts) * val_fraction)) if len(prompts) > 1 else 0
    val_prompts = set(sorted(prompts, key=u)[:n_val])
    train = [i for i, r in enumerate(rows) if str(r["prompt"]) not in val_prompts]
    val = [i for i, r in enumerate(rows) if str(r["prompt"]) in val_prompts]
    return train, val


def _usable(data: PairTensors, objective: str) -> list[int]:
    """Rows the objective learns from: sft needs score targets; bt skips ties."""
    if objective == "sft":
        keep = ~torch.isnan(data.targets).all(dim=1)
    elif objective == "bt":
        keep = ~data.tie
    else:
        keep = torch.ones(len(data), dtype=torch.bool)
    return torch.nonzero(keep).flatten().tolist()


def _on(device, args: tuple) -> tuple:
    return tuple(a.to(device) if isinstance(a, torch.Tensor) else a for a in args)


# -- validation -------------------------------------------------------------------------------

@torch.no_grad()
def validate(trainable: Trainable, data: PairTensors, batch_size: int = 4096) -> dict:
    """Loss under the objective, and pairwise accuracy with ties excluded, on every row."""
    if len(data) == 0:
        return {}
    module = trainable.module
    was_training = module.training
    device = next(module.parameters()).device
    module.eval()
    losses, diffs, sizes = [], [], []
    for idx in torch.arange(len(data)).split(batch_size):
        loss, diff = module(*_on(device, trainable.inputs(data, idx)))
        losses.append(float(loss))
        diffs.append(diff.cpu())
        sizes.append(len(idx))
    module.train(was_training)
    d = torch.cat(diffs).numpy()
    labels = np.where(data.tie.numpy(), 0, 1)
    return {"loss": float(np.average(losses, weights=sizes)),
            "acc": pairwise_accuracy(labels, d), "pairs": len(data)}


# -- DeepSpeed --------------------------------------------------------------------------------

def start_engine(trainable: Trainable, cfg: TrainConfig):
    """deepspeed.initialize on this process's world: one gloo rank unless launched."""
    ensure_process_group_env()
    import deepspeed

    ds_config = deepspeed_config_for(cfg, cuda=torch.cuda.is_available())
    if int(ds_config.get("zero_optimization", {}).get("stage", 0)) == 3:
        # keep every parameter whole on each rank (optimizer states and gradients are still
        # partitioned), so the gather-free calls in score_pairs and validation see full tensors
        # and a saved tower is whole: unfrozen towers then cost their full size per rank
        ds_config["zero_optimization"].setdefault("stage3_param_persistence_threshold", 10**12)
    optimizer = None
    module = trainable.module
    if "optimizer" not in ds_config:
        optimizer = torch.optim.AdamW(trainable.param_groups(cfg), lr=cfg.lr)
    engine, *_ = deepspeed.initialize(model=module, optimizer=optimizer, config=ds_config,
                                      model_parameters=None if optimizer else
                                      [p for p in module.parameters() if p.requires_grad])
    guard_loads(engine)  # its reads of saved state cannot run code
    return engine, ds_config


def _run_fingerprint(cfg: TrainConfig, n_rows: int) -> str:
    """What a resumed run must share with the one it continues."""
    keys = ("pairs", "videos_root", "init_model", "objective", "batch_size", "lr", "seed",
            "val_fraction", "zero_stage", "margin_weight", "tie_tau", "mode", "lora_rank",
            "encoder_lr")
    blob = json.dumps({k: getattr(cfg, k) for k in keys} | {"rows": n_rows}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _try_resume(engine, cfg: TrainConfig, fingerprint: str) -> dict | None:
    folder = cfg.state_folder / DS_DIR
    if not cfg.resume or not (folder / "latest").is_file():
        return None
    tag = verify_state(folder)  # refuses state the run cannot show it wrote, before reading it
    _, state = engine.load_checkpoint(str(folder), tag=tag)
    if state is None or state.get("fingerprint") != fingerprint:
        raise ValueError(f"{folder}: holds a run with other settings or data; "
                         f"use another --out or --no-resume")
    return state


# -- the loop ---------------------------------------------------------------------------------

def _epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed * 100_003 + epoch)  # resumable: no carried state
    return torch.randperm(n, generator=gen)


def _shard(batches: list[torch.Tensor]) -> list[torch.Tensor]:
    """This rank's share of the epoch's batches under the launcher (all of them alone). Every
    rank must take the same number of steps, or the gradient all-reduce waits forever: the
    remainder is dropped (this epoch's order is reshuffled next epoch), and with fewer batches
    than ranks they are reused."""
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if world > 1:
        even = len(batches) - len(batches) % world
        batches = batches[:even] if even else (batches * world)[:world]
    return batches[rank::world]


def _provenance(cfg, data, train_n, val_n, result, ds_config, init_cfg: CheckpointConfig) -> dict:
    import deepspeed

    datasets = Counter(str(r["dataset"]) for r in data.rows)
    return {
        "trained": True, "init": cfg.init_model, "objective": cfg.objective, "mode": cfg.mode,
        "lora_rank": cfg.lora_rank if cfg.mode == "unfrozen" else None,
        "pairs_file": os.path.abspath(cfg.pairs), "datasets": dict(sorted(datasets.items())),
        "pairs": {"train": train_n, "val": val_n, "dropped": dict(data.dropped)},
        "epochs": result.epochs, "steps": result.steps, "best_epoch": result.best_epoch,
        "trainer": f"deepspeed {deepspeed.__version__}",
        "zero_stage": int(ds_config.get("zero_optimization", {}).get("stage", 0)),
        "world_size": int(os.environ.get("WORLD_SIZE", 1)), "seed": cfg.seed,
        "embedding": {"decoded": data.decoded, "cache_hits": data.cache_hits,
                      "decoded_per_rank": data.decoded_per_rank},
        "val_before": result.before, "val_best": result.best,
        "improved_on_init": result.best_epoch >= 0,
        "init_provenance": init_cfg.provenance,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else None,
        "cleverward": _cleverward_version(),
    }


def _cleverward_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cleverward")
    except PackageNotFoundError:
        return "unknown"


def _prepare(cfg: TrainConfig, rows: list[dict], model: RewardModel,
             embed_progress: Callable[[int], None] | None) -> tuple[Trainable, PairTensors]:
    """The mode's Trainable and the row tables it batches from."""
    decode_cfg = model.decode_config(cfg.frames, cfg.decoder)
    pairs_dir = str(Path(cfg.pairs).resolve().parent)
    if cfg.mode == "unfrozen":
        from cleverward.train.unfrozen import UnfrozenEncoders

        trainable = UnfrozenEncoders(model, cfg, decode_cfg)
        return trainable, trainable.tables(rows, cfg.videos_root, pairs_dir, embed_progress)
    cache = open_cache(replace(cfg, frames=cfg.frames or model.cfg.frames), model)
    try:
        data = embed_pair_rows(rows, model, cache, decode_cfg, cfg.videos_root, pairs_dir,
                               workers=cfg.workers, progress=embed_progress)
    finally:
        cache.close()
    return FrozenHead(model, cfg), data


def _split(cfg: TrainConfig, data: PairTensors) -> tuple[PairTensors, PairTensors]:
    train_idx, val_idx = split_by_prompt(data.rows, cfg.val_fraction, cfg.seed)
    train_data = data.subset(train_idx)
    usable = _usable(train_data, cfg.objective)
    if not usable:
        raise ValueError(f"{cfg.pairs}: no training rows the {cfg.objective!r} objective can "
                         f"use ({len(data)} rows read, {len(train_idx)} in the train split)")
    val_data = data.subset(val_idx)
    return train_data.subset(usable), val_data.subset(_usable(val_data, cfg.objective))


def train(cfg: TrainConfig, progress: Progress | None = None,
          embed_progress: Callable[[int], None] | None = None,
          before_engine: Callable[[], None] | None = None) -> TrainResult:
    """Run TrainConfig to the end (or early stop); the best model is in cfg.out.
    `before_engine` is called once the pairs are read and embedded, just before
    deepspeed.initialize (the CLI announces a first JIT op build there, so a bad pairs file is
    one error line, not an announcement and then the error)."""
    start = time.perf_counter()
    rows = read_pairs(cfg.pairs)
    if not rows:
        raise ValueError(f"{cfg.pairs}: no pairs to train on")
    model = RewardModel.from_pretrained(cfg.init_model, device=resolve_device(cfg.device))
    init_cfg = model.cfg
    torch.manual_seed(cfg.seed)
    if ensure_process_group_env():
        init_distributed()  # the ranks share the embedding work (features.embed_pair_rows)
    trainable, data = _prepare(cfg, rows, model, embed_progress)
    train_data, val_data = _split(cfg, data)
    if before_engine is not None:
        before_engine()
    engine, ds_config = start_engine(trainable, cfg)
    val_batch = cfg.batch_size if cfg.mode == "unfrozen" else 4096
    result = TrainResult(out=cfg.out, train_pairs=len(train_data), val_pairs=len(val_data),
                         dropped=dict(data.dropped))
    result.before = validate(trainable, val_data, val_batch) or \
        validate(trainable, train_data, val_batch)
    fingerprint = _run_fingerprint(cfg, len(rows))
    loop = _LoopState.resumed(_try_resume(engine, cfg, fingerprint), result)
    if loop.first_epoch == 0 and len(val_data) and hasattr(trainable, "initial"):
        # the starting head is a candidate too: an epoch is kept only if it beats it
        loop.best_loss, result.best = result.before["loss"], dict(result.before)

    def provenance() -> dict:
        return _provenance(cfg, data, len(train_data), len(val_data), result, ds_config,
                           init_cfg)

    for epoch in range(loop.first_epoch, cfg.epochs):
        if loop.bad > cfg.patience:
            break
        stats = _train_epoch(engine, trainable, train_data, cfg, epoch, progress)
        result.steps += stats.pop("steps")
        val = validate(trainable, val_data, val_batch) if len(val_data) else {}
        score = val.get("loss", stats["loss"])
        record = {"epoch": epoch, "train_loss": stats["loss"], "train_acc": stats["acc"],
                  **{f"val_{k}": v for k, v in val.items()}}
        result.history.append(record)
        if progress:
            progress({"event": "epoch", **record})
        result.epochs = epoch + 1
        if score < loop.best_loss - 1e-6:
            loop.best_loss, loop.bad, result.best_epoch = score, 0, epoch
            loop.best_state = trainable.snapshot()
            result.best = val or {"loss": stats["loss"], "acc": stats["acc"]}
            trainable.save(model, loop.best_state, cfg, provenance(), final=False)
        else:
            loop.bad += 1
        _append_log(cfg.out, record)
        _save_state(engine, cfg.state_folder / DS_DIR, f"epoch{epoch}",
                    loop.client_state(fingerprint, epoch, result))
    result.epochs = max(result.epochs, len(result.history))  # a rerun of a finished run
    result.seconds = time.perf_counter() - start
    trainable.save(model, loop.best_state, cfg, provenance(), final=True)
    return result


def _save_state(engine, folder: Path, tag: str, client_state: dict) -> None:
    """DeepSpeed's save (every rank; it ends on a barrier), then on the main rank the digest
    manifest of the new tag, then the older tags. In that order a kill at any point leaves the
    manifest naming a complete tag that is still on disk."""
    engine.save_checkpoint(str(folder), tag=tag, client_state=client_state)
    if is_main_process():
        write_manifest(folder, tag)
        _prune_deepspeed_tags(folder, tag)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()  # no rank goes on (or returns) before the manifest is down


def _prune_deepspeed_tags(folder: Path, keep: str) -> None:
    """Only the tag the manifest names is needed to resume; older ones (a full optimizer state
    each) are removed."""
    for old in folder.iterdir():
        if old.is_dir() and old.name.startswith("epoch") and old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


@dataclass
class _LoopState:
    """What early stopping carries from epoch to epoch, and through a resume."""

    first_epoch: int = 0
    best_loss: float = float("inf")
    best_state: dict | None = None  # the trainable's snapshot of the best epoch
    bad: int = 0  # epochs since the best

    @classmethod
    def resumed(cls, state: dict | None, result: TrainResult) -> _LoopState:
        if state is None:
            return cls()
        result.steps, result.history = state["steps"], state["history"]
        result.best, result.best_epoch = state["best"], state["best_epoch"]
        result.resumed_from = state["epoch"]
        return cls(state["epoch"] + 1, state["best_loss"], state["best_state"], state["bad"])

    def client_state(self, fingerprint: str, epoch: int, result: TrainResult) -> dict:
        return {"fingerprint": fingerprint, "epoch": epoch, "steps": result.steps,
                "history": result.history, "best": result.best,
                "best_epoch": result.best_epoch, "best_loss": self.best_loss, "bad": self.bad,
                "best_state": self.best_state}


def _train_epoch(engine, trainable: Trainable, data: PairTensors, cfg: TrainConfig, epoch: int,
                 progress: Progress | None) -> dict:
    engine.train()
    order = _epoch_order(len(data), cfg.seed, epoch)
    batches = _shard(list(order.split(cfg.batch_size)))
    total, correct, decided, n, steps = 0.0, 0, 0, 0, 0
    for idx in batches:
        loss, diff = engine(*_on(engine.device, trainable.inputs(data, idx)))
        engine.backward(loss)
        engine.step()
        steps += 1
        total += float(loss.detach()) * len(idx)
        n += len(idx)
        mask = ~data.tie[idx]
        correct += int((diff.cpu()[mask] > 0).sum())
        decided += int(mask.sum())
        if progress:
            progress({"event": "step", "epoch": epoch, "loss": float(loss.detach()),
                      "acc": correct / max(decided, 1)})
    # every rank's share, not rank 0's alone
    total, n, correct, decided = sum_across_ranks([total, n, correct, decided])
    return {"loss": total / max(n, 1), "acc": correct / decided if decided else float("nan"),
            "steps": steps}


def _append_log(out: str, record: dict) -> None:
    if not is_main_process():
        return
    Path(out).mkdir(parents=True, exist_ok=True)
    with open(Path(out) / LOG_FILE, "a") as f:
        f.write(json.dumps(record) + "\n")
