"""TrainConfig: one training run, validated field by field. The DeepSpeed JSON is generated from
it (train/deepspeed_config.py); the trainer reads nothing else.

Objectives (one flag, `objective`, runs the paper's SFT-vs-contrastive comparison):
    bt        Bradley-Terry on decided pairs: -log sigmoid(s (r_c - r_r) - margin_weight * m);
              tie rows are skipped.
    bt-ties   Rao-Kupper Bradley-Terry: decided pairs as above with a tie threshold, tie rows
              pull the two rewards together (train/losses.py tie_aware_bt_loss).
    sft       the supervised baseline: regress (r + 1) / 2 onto each video's score normalised
              to [0, 1] per dataset+dimension; uses score rows only (votes and negatives carry
              no score).
Modes (one loop, train/trainer.py; what differs is train/trainable.py's interface):
    frozen    (the default) the reward head trains on embeddings computed once through the
              engine and its cache.
    unfrozen  the encoders train with the head (train/unfrozen.py): each batch decodes its clips
              at the model's decode config and tokenises its prompts. Needs torch tower encoders
              (clip:, siglip:, xclip:); the default's ConSE video encoder is refused. The towers
              learn at `encoder_lr` (the head at `lr`); `lora_rank` > 0 trains rank-r LoRA
              adapters (peft) on their attention projections instead of all weights. Decoded
              clips stay in memory up to `frame_cache_mb`. The checkpoint holds the fine-tuned
              towers as safetensors sub-folders (LoRA merged), named in its config.json.
              Same DeepSpeed JSON; on CPU tiny towers only, on GPUs under `deepspeed`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

OBJECTIVES = ("bt", "bt-ties", "sft")
MODES = ("frozen", "unfrozen")
ZERO_STAGES = (0, 1, 2, 3)


def _check(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise ValueError(f"TrainConfig.{name}: {message}")


@dataclass(frozen=True)
class TrainConfig:
    pairs: str  # the VideoCross pairs file (JSONL or Parquet)
    out: str  # checkpoint folder written at the end (engine format)
    videos_root: str | None = None  # relative paths in the pairs file are joined onto it
    init_model: str = "default"  # the checkpoint whose encoders and head training starts from
    objective: str = "bt"
    mode: str = "frozen"
    lora_rank: int = 0  # unfrozen: 0 fine-tunes all tower weights, r > 0 rank-r LoRA adapters
    encoder_lr: float = 1e-5  # unfrozen: the towers' learning rate (pretrained weights move slowly)
    frame_cache_mb: int = 1024  # unfrozen: decoded clips kept in memory between batches
    epochs: int = 40
    batch_size: int = 256
    lr: float = 3e-3
    weight_decay: float = 1e-4
    margin_weight: float = 0.0  # extra reward gap asked per unit of the pairs file's margin
    tie_tau: float = 0.5  # bt-ties: the tie threshold on the scaled reward difference
    val_fraction: float = 0.1  # prompts held out for validation / early stopping
    patience: int = 6  # epochs without a better validation loss before stopping
    seed: int = 0
    zero_stage: int = 0
    deepspeed_config: str | None = None  # a user JSON used instead of the generated one
    frames: int | None = None  # None: the init model's own setting
    decoder: str = "auto"
    cache_dir: str | None = None
    use_cache: bool = True
    workers: int = 2
    resume: bool = True  # continue from <state_dir>/deepspeed/ when a run stopped midway
    state_dir: str | None = None  # training state (DeepSpeed's pickles); None: <out>.state
    quiet: bool = False
    device: str = "auto"  # the embedding step's (engine/device.resolve_device; LOCAL_RANK's GPU)

    def __post_init__(self) -> None:
        _check(bool(self.pairs), "pairs", "name a pairs file")
        _check(bool(self.out), "out", "name an output folder")
        _check(self.objective in OBJECTIVES, "objective",
               f"expected one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        _check(self.mode in MODES, "mode", f"expected one of {', '.join(MODES)}, got "
               f"{self.mode!r}")
        _check(isinstance(self.lora_rank, int) and self.lora_rank >= 0, "lora_rank",
               f"must be an int >= 0, got {self.lora_rank!r}")
        _check(self.lora_rank == 0 or self.mode == "unfrozen", "lora_rank",
               "LoRA adapts the encoders: it needs mode 'unfrozen'")
        _check(self.encoder_lr > 0, "encoder_lr", f"must be > 0, got {self.encoder_lr}")
        _check(self.frame_cache_mb >= 0, "frame_cache_mb",
               f"must be >= 0, got {self.frame_cache_mb}")
        for name in ("epochs", "batch_size", "workers"):
            value = getattr(self, name)
            _check(isinstance(value, int) and value >= 1, name, f"must be >= 1, got {value!r}")
        _check(self.patience >= 0, "patience", f"must be >= 0, got {self.patience}")
        _check(self.lr > 0, "lr", f"must be > 0, got {self.lr}")
        _check(self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}")
        _check(self.margin_weight >= 0, "margin_weight", f"must be >= 0, got {self.margin_weight}")
        _check(self.tie_tau > 0, "tie_tau", f"must be > 0, got {self.tie_tau}")
        _check(0 <= self.val_fraction < 1, "val_fraction",
               f"must be in [0, 1), got {self.val_fraction}")
        _check(self.zero_stage in ZERO_STAGES, "zero_stage",
               f"expected one of {ZERO_STAGES}, got {self.zero_stage!r}")
        _check(self.frames is None or 1 <= self.frames <= 512, "frames",
               f"must be in 1..512, got {self.frames}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def state_folder(self) -> Path:
        """Where the training state lives: outside the checkpoint folder, so sharing `out`
        never shares DeepSpeed's pickles (loading a checkpoint never reads them)."""
        out = Path(self.out)
        return Path(self.state_dir) if self.state_dir else out.with_name(out.name + ".state")
