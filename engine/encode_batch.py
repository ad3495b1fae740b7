"""Encode a batch of decoded clips so that one bad clip fails only itself: the one encode step
score-dir, index build, training's embedding and the bulk stages share."""

from __future__ import annotations

import numpy as np


def encode_isolating(model, clips: list[np.ndarray]) -> list[tuple[np.ndarray | None, str]]:
    """clips: uint8 (N, H, W, 3) each -> (vector, "") or (None, why) per clip. The batch is
    encoded at once; if that fails it is retried clip by clip."""
    try:
        return [(vec, "") for vec in model.encode_videos(clips)]
    except Exception:  # noqa: BLE001 - isolated below; each failure is reported in its row
        pass
    out = []
    for clip in clips:
        try:
            out.append((model.encode_videos([clip])[0], ""))
        except Exception as exc:  # noqa: BLE001 - the row carries the reason
            out.append((None, f"encoder failed: {type(exc).__name__}: {exc}"))
    return out
