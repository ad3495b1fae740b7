"""Write small real clips with PyAV (H.264, VP9, VP8, MJPEG) for tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def frame_pattern(i: int, size: tuple[int, int]) -> np.ndarray:
    """Frame i: a gradient with a bright square moving right, and the index in the red level, so
    tests can tell which frame was decoded. -> uint8 (H, W, 3)."""
    h, w = size
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 1] = np.linspace(0, 200, w, dtype=np.uint8)[None, :]
    img[..., 2] = np.linspace(0, 200, h, dtype=np.uint8)[:, None]
    img[..., 0] = min(255, 4 * i)
    x = (i * 3) % max(1, w - 16)
    img[h // 3 : h // 3 + 16, x : x + 16] = 255
    return img


def write_clip(
    path: Path, codec: str = "h264", frames: int = 24, size: tuple[int, int] = (64, 64),
    fps: int = 8, pattern=frame_pattern, gop: int | None = None,
) -> Path:
    import av

    h, w = size
    codec_name = {"h264": "libx264", "vp9": "libvpx-vp9", "vp8": "libvpx", "mjpeg": "mjpeg"}[codec]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec_name, rate=fps)
        stream.width, stream.height = w, h
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        if codec == "h264":
            stream.options = {"preset": "ultrafast", "crf": "18"}
        if gop is not None:
            stream.codec_context.gop_size = gop
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(i, size), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_prompts(path: Path, prompts, video: str | None = None) -> Path:
    """A prompts file of one {"prompt": ...} line per prompt (with "video" when given)."""
    extra = {"video": video} if video else {}
    path.write_text("".join(json.dumps({**extra, "prompt": p}) + "\n" for p in prompts))
    return path
