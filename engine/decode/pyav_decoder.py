"""CPU decoding with PyAV (FFmpeg): every codec FFmpeg knows.

Decoding no more than the sampled frames need: one demux pass (packets only, no decoding) lists
every frame's timestamp and which frames are keyframes. Each sampled frame needs its GOP decoded
from the keyframe up to it, so we seek to the keyframe of each GOP that holds a sampled frame and
decode forward; GOPs with no sampled frame are never decoded. With short GOPs this is a seek per
sample, with one long GOP (typical T2V output) a single forward pass that stops at the last sample.
Only the sampled frames are converted to RGB, resized by swscale in the same call.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cleverward.engine.config import DecodeConfig
from cleverward.engine.decode.errors import DecodeError
from cleverward.engine.decode.resize import center_crop, scaled_size
from cleverward.engine.decode.sampling import uniform_indices


@dataclass(frozen=True)
class StreamIndex:
    pts: list[int]  # presentation timestamps of all frames, sorted (frame i = pts[i])
    keyframe_pts: list[int]  # sorted


def _to_rgb(frame, cfg: DecodeConfig) -> np.ndarray:
    sh, sw = scaled_size(frame.height, frame.width, cfg.height, cfg.width)
    rgb = frame.to_ndarray(format="rgb24", width=sw, height=sh)  # (sh, sw, 3)
    return center_crop(rgb, cfg.height, cfg.width)


def probe(container) -> StreamIndex | None:
    """Demux (no decoding) -> frame timestamps and keyframes; None if timestamps are missing."""
    stream = container.streams.video[0]
    pts, keys = [], []
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        if packet.pts is None:
            return None
        pts.append(packet.pts)
        if packet.is_keyframe:
            keys.append(packet.pts)
    if not pts or not keys:
        return None
    return StreamIndex(sorted(pts), sorted(keys))


def plan_gops(index: StreamIndex, targets: list[int]) -> dict[int, list[int]]:
    """keyframe pts -> the target pts decoded from it (each target's GOP start)."""
    plan: dict[int, list[int]] = {}
    for t in sorted(set(targets)):
        k = bisect.bisect_right(index.keyframe_pts, t) - 1
        start = index.keyframe_pts[max(k, 0)]
        plan.setdefault(start, []).append(t)
    return plan


def _decode_by_gops(container, index: StreamIndex, targets: list[int], cfg) -> dict[int, object]:
    stream = container.streams.video[0]
    got: dict[int, np.ndarray] = {}
    position = None  # pts of the last decoded frame, to avoid re-seeking inside a GOP
    for start, wanted in plan_gops(index, targets).items():
        if position is None or position >= start or position < index.pts[0]:
            container.seek(start, stream=stream, backward=True, any_frame=False)
        last = wanted[-1]
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            position = frame.pts
            if frame.pts in wanted and frame.pts not in got:
                got[frame.pts] = _to_rgb(frame, cfg)
            if frame.pts >= last:
                break
    return got


def _decode_sequential(container, n: int, cfg: DecodeConfig) -> list[np.ndarray]:
    """Fallback without timestamps: decode everything once, keep the sampled frames."""
    stream = container.streams.video[0]
    frames = [f for f in container.decode(stream)]
    if not frames:
        return []
    return [_to_rgb(frames[i], cfg) for i in uniform_indices(len(frames), n)]


class PyAVDecoder:
    name = "pyav"

    def __init__(self, thread_type: str = "AUTO") -> None:
        self.thread_type = thread_type  # FFmpeg's own threads; "NONE" when a pool is busy

    def can_decode(self, path: str) -> bool:
        return Path(path).is_file()

    def decode(self, path: str, cfg: DecodeConfig) -> np.ndarray:
        """-> uint8 (N, H, W, 3). Raises DecodeError naming the file."""
        import av

        if Path(path).stat().st_size == 0:
            raise DecodeError(path, "file is empty")
        try:
            frames = self._decode(path, cfg)
        except DecodeError:
            raise
        except (av.FFmpegError, ValueError, IndexError, OSError) as exc:
            raise DecodeError(path, f"not a readable video ({type(exc).__name__}: {exc})") from exc
        if not frames:
            raise DecodeError(path, "no frames could be decoded")
        return np.stack(frames)  # (N, H, W, 3)

    def _decode(self, path: str, cfg: DecodeConfig) -> list[np.ndarray]:
        import av

        with av.open(path) as container:
            if not container.streams.video:
                raise DecodeError(path, "no video stream in file")
            container.streams.video[0].thread_type = self.thread_type
            index = probe(container)
            if index is None:
                container.seek(0)
                return _decode_sequential(container, cfg.frames, cfg)
            targets = [index.pts[i] for i in uniform_indices(len(index.pts), cfg.frames)]
            got = _decode_by_gops(container, index, targets, cfg)
            if all(t in got for t in targets):
                return [got[t] for t in targets]
            # Timestamps in the container did not match the decoded frames: decode it all.
            container.seek(0)
            return _decode_sequential(container, cfg.frames, cfg)
