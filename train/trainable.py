"""What differs between the training modes, behind one small interface; train/trainer.py's loop
(epochs, validation, early stopping, resume, checkpoints) is shared.

A Trainable says how a batch of pair rows becomes the arguments of `module` (what DeepSpeed
wraps; it returns (loss, r_c - r_r) like PairObjective), which parameters train with which
settings, and how the best state is kept and written as an engine checkpoint.

    FrozenHead         (mode "frozen") the tables hold embeddings computed once; a batch gathers
                       rows of them; only the reward head trains.
    UnfrozenEncoders   (mode "unfrozen", train/unfrozen.py) a batch decodes its clips and
                       tokenises its prompts; the encoders (or their LoRA adapters) train with
                       the head.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Protocol

import torch
from torch import nn

from cleverward.engine.model import RewardModel
from cleverward.train.config import TrainConfig
from cleverward.train.distributed import is_main_process
from cleverward.train.features import PairTensors
from cleverward.train.objective import PairObjective


class Trainable(Protocol):
    module: nn.Module  # wrapped by deepspeed.initialize; forward(*inputs) -> (loss, diff)
    objective: PairObjective

    def inputs(self, data: PairTensors, idx: torch.Tensor) -> tuple: ...

    def param_groups(self, cfg: TrainConfig) -> list[dict]: ...

    def snapshot(self) -> dict | None:
        """The state to keep as "best" (in memory and in DeepSpeed's client state), or None
        when save() writes the current weights at once (the encoders are too big to copy)."""

    def save(self, model: RewardModel, best: dict | None, cfg: TrainConfig, provenance: dict,
             final: bool) -> None:
        """Write the best state to cfg.out (engine format); final: the run's last call."""


def head_param_groups(head, cfg: TrainConfig) -> list[dict]:
    # decay the projection matrices only: offsets, biases and the temperature are not weights
    decay = [head.video_proj.weight, head.text_proj.weight]
    rest = [p for p in head.parameters() if all(p is not d for d in decay)]
    return [{"params": decay, "weight_decay": cfg.weight_decay, "lr": cfg.lr},
            {"params": rest, "weight_decay": 0.0, "lr": cfg.lr}]


def save_head_checkpoint(model: RewardModel, head_state: dict, cfg: TrainConfig,
                         provenance: dict, **specs: str) -> None:
    """model's config (+ replaced encoder specs) and head_state -> cfg.out, on rank 0 only."""
    if not is_main_process():
        return
    model.head.load_state_dict(head_state)
    frames = cfg.frames or model.cfg.frames
    model.cfg = replace(model.cfg, frames=frames, provenance=provenance, **specs)
    model.save_pretrained(cfg.out)


class FrozenHead:
    def __init__(self, model: RewardModel, cfg: TrainConfig) -> None:
        self.head = copy.deepcopy(model.head).train()
        self.objective = PairObjective(self.head, cfg.objective, cfg.margin_weight, cfg.tie_tau)
        self.module = self.objective
        self.initial = self.snapshot()  # saved if no epoch ever improves (e.g. NaN losses)

    def inputs(self, data: PairTensors, idx: torch.Tensor) -> tuple:
        return (data.video[data.chosen[idx]], data.video[data.rejected[idx]],  # (B, Dv) x 2
                data.text[data.prompt[idx]], data.dim[idx], data.tie[idx], data.margin[idx],
                data.targets[idx])

    def param_groups(self, cfg: TrainConfig) -> list[dict]:
        return head_param_groups(self.head, cfg)

    def snapshot(self) -> dict:
        return copy.deepcopy(self.head.state_dict())

    def save(self, model, best, cfg, provenance, final) -> None:
        state = {k: torch.as_tensor(v) for k, v in (best or self.initial).items()}
        save_head_checkpoint(model, state, cfg, provenance)
