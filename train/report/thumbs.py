"""Keyframe strips for the report: N frames sampled uniformly by the engine's decoder, side by
side in one small JPEG, as a data: URI (the report is one file with no server)."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cleverward.engine.config import DecodeConfig
from cleverward.engine.decode import decode_clip
from cleverward.engine.decode.errors import DecodeError


@dataclass(frozen=True)
class ThumbConfig:
    """frames per strip, each (height, width) pixels (centre-cropped, as the model sees it)."""

    frames: int = 4
    width: int = 96
    height: int = 72
    quality: int = 70  # JPEG quality: ~2-3 kB per 96x72 frame
    decoder: str = "pyav"

    def __post_init__(self) -> None:
        if not 1 <= self.frames <= 16:
            raise ValueError(f"ThumbConfig.frames must be in 1..16, got {self.frames}")
        if not (16 <= self.width <= 512 and 16 <= self.height <= 512):
            raise ValueError(f"ThumbConfig.width/height must be in 16..512, got "
                             f"{self.width}x{self.height}")
        if not 10 <= self.quality <= 95:
            raise ValueError(f"ThumbConfig.quality must be in 10..95, got {self.quality}")


@dataclass(frozen=True)
class Strip:
    uri: str | None  # data:image/jpeg;base64,... or None when the clip could not be decoded
    width: int
    height: int
    error: str | None = None


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """uint8 (H, W, 3) -> JPEG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def keyframe_strip(path: str | Path, cfg: ThumbConfig) -> Strip:
    """The strip of one clip; a clip that cannot be decoded gets error, not an exception."""
    dc = DecodeConfig(frames=cfg.frames, height=cfg.height, width=cfg.width,
                      decoder=cfg.decoder)
    try:
        frames = decode_clip(str(path), dc)  # (N, H, W, 3) uint8
    except DecodeError as exc:
        return Strip(None, 0, 0, exc.reason)
    strip = np.concatenate(list(frames), axis=1)  # (H, N*W, 3)
    data = base64.b64encode(encode_jpeg(np.ascontiguousarray(strip), cfg.quality)).decode()
    return Strip(f"data:image/jpeg;base64,{data}", strip.shape[1], strip.shape[0])


def strips(videos_dir: str | Path, videos: list[str], cfg: ThumbConfig,
           workers: int = 2, progress=None) -> dict[str, Strip]:
    """video (relative to videos_dir) -> its strip, decoded on a few threads (PyAV releases
    the GIL while decoding). progress(1) per strip made (engine/progress.py)."""
    from concurrent.futures import ThreadPoolExecutor

    from cleverward.engine.progress import report_total

    root = Path(videos_dir)
    report_total(progress, len(videos))

    def one(video: str) -> Strip:
        strip = keyframe_strip(root / video, cfg)
        if progress:
            progress(1)
        return strip

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return dict(zip(videos, pool.map(one, videos), strict=True))
