"""Encode a batch of decoded clips so that one bad clip fails only itself: the one encode step
score-dir, index build, training's embedding and the bulk stages share."""

from __future__ import annotations

import numpy as np


def embed_isolating(model, clips: list) -> list[tuple[object | None, str]]:
    """clips: uint8 (N, H, W, 3) each (host arrays or device tensors) -> (vector on the model's
    device, "") or (None, why) per clip. The batch is encoded at once; if that fails it is
    retried clip by clip."""
    try:
        return [(vec, "") for vec in model.embed_clips(clips)]
    except Exception:  # noqa: BLE001 - isolated below; each failure is reported in its row
        pass
    out = []
    for clip in clips:
        try:
            out.append((model.embed_clips([clip])[0], ""))
        except Exception as exc:  # noqa: BLE001 - the row carries the reason
            out.append((None, f"encoder failed: {type(exc).__name__}: {exc}"))
    return out


def encode_isolating(model, clips: list) -> list[tuple[np.ndarray | None, str]]:
    """As embed_isolating, the vectors as float32 host arrays (what caches and indexes store)."""
    results = embed_isolating(model, clips)
    good = [vec for vec, _ in results if vec is not None]
    host = iter(_host_rows(good))
    return [(next(host) if vec is not None else None, why) for vec, why in results]


def _host_rows(vectors: list) -> list[np.ndarray]:
    """Device rows -> host arrays in one copy."""
    if not vectors:
        return []
    if all(isinstance(v, np.ndarray) for v in vectors):
        return [np.asarray(v, np.float32) for v in vectors]
    import torch

    return list(torch.stack([torch.as_tensor(v) for v in vectors]).float().cpu().numpy())
