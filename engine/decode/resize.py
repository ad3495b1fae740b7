"""Scale + centre-crop geometry shared by the decoders.

Frames are scaled (by the decoder, in C: swscale for PyAV, DALI's resize on GPU) so the shorter
side matches the target, then centre-cropped: a wide clip is cropped, not squashed.
"""

from __future__ import annotations

import numpy as np


def scaled_size(height: int, width: int, out_h: int, out_w: int) -> tuple[int, int]:
    """Size that covers (out_h, out_w) with the source aspect kept (shorter side matched)."""
    scale = max(out_h / height, out_w / width)
    return max(out_h, round(height * scale)), max(out_w, round(width * scale))


def center_crop(frame: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """(H, W, C) -> (out_h, out_w, C) from the centre; needs H >= out_h and W >= out_w."""
    h, w = frame.shape[:2]
    top, left = (h - out_h) // 2, (w - out_w) // 2
    return frame[top : top + out_h, left : left + out_w]
