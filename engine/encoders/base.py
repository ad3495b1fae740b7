"""What every encoder provides.

A video encoder maps a batch of decoded clips, each uint8 ``(N, H, W, 3)``, to one float32 vector
per clip. Its first ``aligned_dim`` components live in the same space as its paired text encoder
(for zero-shot scoring); any further components are extra features the reward head may learn to use.
A text encoder maps strings to float32 vectors.

``fingerprint`` identifies the weights and preprocessing: it keys the embedding cache, so vectors
of different models never mix.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np


class VideoEncoder(ABC):
    name: str
    dim: int  # length of the vector returned per clip
    aligned_dim: int  # leading components that share the text encoder's space
    frame_size: tuple[int, int]  # (H, W) the decoder should deliver

    @abstractmethod
    def encode(self, clips: list[np.ndarray]) -> np.ndarray:
        """clips: list of uint8 (N, H, W, 3) -> float32 (B, dim)."""

    @abstractmethod
    def fingerprint(self) -> str:
        """Stable hex id of weights + preprocessing + output definition."""


class TextEncoder(ABC):
    name: str
    dim: int
    device: str = "cpu"  # where encode runs (RewardModel.to sets it); vectors return to the host

    def to(self, device) -> TextEncoder:
        """Run encode on `device` from the next call on."""
        self.device = str(device)
        return self

    @abstractmethod
    def encode(self, texts: list[str]) -> np.ndarray:
        """texts -> float32 (B, dim)."""

    @abstractmethod
    def fingerprint(self) -> str:
        """Stable hex id of weights + tokenizer + pooling."""


def hash_files(paths: list[Path], extra: str = "") -> str:
    """sha256 over the bytes of `paths` (in order) and an `extra` string; 16 hex chars."""
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    h.update(extra.encode())
    return h.hexdigest()[:16]
