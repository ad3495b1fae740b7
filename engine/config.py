"""Typed, frozen configs for the inference stages, validated on construction."""

from __future__ import annotations

from dataclasses import dataclass

DECODERS = ("auto", "pyav", "dali")
BACKENDS = ("auto", "torch", "onnx", "tensorrt")
FORMATS = ("jsonl", "csv", "parquet")


def _check(cond: bool, field: str, message: str) -> None:
    if not cond:
        raise ValueError(f"{field}: {message}")


@dataclass(frozen=True)
class DecodeConfig:
    """How clips are turned into frames: N frames sampled uniformly, resized to (height, width).

    Frames are scaled so the shorter side matches and then centre-cropped (the ImageNet
    convention), so a wide clip is not squashed.
    """

    frames: int = 8
    height: int = 224
    width: int = 224
    decoder: str = "auto"

    def __post_init__(self) -> None:
        _check(1 <= self.frames <= 512, "frames", f"must be in 1..512, got {self.frames}")
        _check(self.height >= 8 and self.width >= 8, "height/width", "must be >= 8")
        _check(self.decoder in DECODERS, "decoder", f"must be one of {DECODERS}")

    def key(self) -> str:
        """The part of the decode config that changes pixels (keys the embedding cache)."""
        return f"frames={self.frames};size={self.height}x{self.width};crop=center"


@dataclass(frozen=True)
class ScoreConfig:
    """One `score-dir` run."""

    videos_dir: str
    prompts_file: str
    out: str
    model: str = "default"
    frames: int = 8
    decoder: str = "auto"
    backend: str = "auto"
    format: str = "jsonl"
    strict: bool = False
    batch_size: int = 8
    workers: int = 2
    cache_dir: str | None = None
    use_cache: bool = True
    resume: bool = True
    quiet: bool = False
    shard: tuple[int, int] = (0, 1)  # (K, N): score only the videos of shard K of N
    device: str = "auto"  # auto | cpu | cuda | cuda:N (engine/device.resolve_device)
    manifest: str | None = None  # instead of videos_dir + prompts_file
    top: int = 3  # best and worst videos per prompt kept for the ranking (0: counts only)

    def __post_init__(self) -> None:
        _check(self.decoder in DECODERS, "decoder", f"must be one of {DECODERS}")
        _check(self.backend in BACKENDS, "backend", f"must be one of {BACKENDS}")
        _check(self.format in FORMATS, "format", f"must be one of {FORMATS}")
        _check(self.batch_size >= 1, "batch_size", "must be >= 1")
        _check(self.workers >= 1, "workers", "must be >= 1")
        _check(1 <= self.frames <= 512, "frames", f"must be in 1..512, got {self.frames}")
        k, n = self.shard
        _check(n >= 1 and 0 <= k < n, "shard", f"need 0 <= K < N, got {k}/{n}")
        _check(self.top >= 0, "--top", f"must be >= 0, got {self.top}")
        folder = bool(self.videos_dir or self.prompts_file)
        _check(not (self.manifest and folder), "input",
               "give either VIDEOS_DIR with --prompts, or --manifest FILE, not both")
        _check(bool(self.manifest) or bool(self.videos_dir and self.prompts_file), "input",
               "give VIDEOS_DIR with --prompts FILE, or --manifest FILE")
