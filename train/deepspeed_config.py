"""The DeepSpeed JSON, generated from a TrainConfig (or read from the user's file instead).

One place decides what DeepSpeed runs: the micro batch, ZeRO stage, clipping and precision come
from TrainConfig; the optimizer is the trainer's torch AdamW (a client optimizer, which ZeRO
wraps), so no CUDA-only fused op is needed on CPU. A user file (`--deepspeed-config`) replaces
the generated config whole; if it has an "optimizer" section DeepSpeed builds that one instead.
"""

from __future__ import annotations

import json
from pathlib import Path

from cleverward.train.config import TrainConfig


def generate_deepspeed_config(cfg: TrainConfig, cuda: bool = False) -> dict:
    zero: dict = {"stage": cfg.zero_stage}
    if cfg.zero_stage >= 2:
        zero.update(overlap_comm=cuda, contiguous_gradients=True)
    return {
        "train_micro_batch_size_per_gpu": cfg.batch_size,
        "gradient_accumulation_steps": 1,
        "gradient_clipping": 1.0,
        "zero_optimization": zero,
        # the head is a few MB: bf16 saves nothing worth its rounding on cosines; fp32 throughout
        "bf16": {"enabled": False},
        "fp16": {"enabled": False},
        "steps_per_print": 10**9,  # the trainer's own progress bar reports
        "wall_clock_breakdown": False,
    }


def load_deepspeed_config(path: str | Path) -> dict:
    """A user's DeepSpeed JSON; errors name the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"{path}: cannot read DeepSpeed config ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a DeepSpeed config is a JSON object, got {type(data).__name__}")
    return data


def deepspeed_config_for(cfg: TrainConfig, cuda: bool = False) -> dict:
    if cfg.deepspeed_config:
        return load_deepspeed_config(cfg.deepspeed_config)
    return generate_deepspeed_config(cfg, cuda)
