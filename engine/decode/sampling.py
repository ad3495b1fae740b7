"""Which frames to take from a clip: N indices spread uniformly over its length."""

from __future__ import annotations

import numpy as np


def uniform_indices(num_frames: int, n: int) -> np.ndarray:
    """Centres of n equal segments of [0, num_frames), as int64 (n,).

    A clip shorter than n repeats frames (indices are non-decreasing), a 1-frame clip yields
    all zeros. The centre rule avoids always taking the very first and last frames, which are
    often fades or black.
    """
    if num_frames < 1:
        raise ValueError(f"clip has no frames (num_frames={num_frames})")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    idx = np.floor((np.arange(n) + 0.5) * num_frames / n).astype(np.int64)
    return np.minimum(idx, num_frames - 1)
