"""CPU decoding with PyAV (FFmpeg): every codec FFmpeg knows.

Decoding no more than the sampled frames need: one demux pass (packets only, no decoding) lists
every frame's timestamp and which frames are keyframes. Each sampled frame needs its GOP decoded
from the keyframe up to it, so we seek to the keyframe of each GOP that holds a sampled frame and
decode forward; GOPs with no sampled frame are never decoded. With short GOPs this is a seek per
sample, with one long GOP (typical T2V output) a single forward pass that stops at the last sample.
Inside that pass, H.264 frames that nothing refers to (every slice has nal_ref_idc 0: the
non-reference B-frames of x264's default presets, about half the frames of a T2V clip) are not
sent to the decoder unless they are sampled: dropping them is what temporal scalability relies on
and leaves every other frame bit-identical (tests/engine/test_decode_skip.py). Only the sampled
frames are converted to RGB, resized by swscale in the same call.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cleverward.engine.config import DecodeConfig
from cleverward.engine.decode.diagnose import container_notes, mp4_problem
from cleverward.engine.decode.errors import DecodeError
from cleverward.engine.decode.resize import center_crop, scaled_size
from cleverward.engine.decode.sampling import uniform_indices
from cleverward.engine.decode.source import source_problem


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


# NAL unit types a disposable access unit may hold: non-IDR slice, SEI, delimiter, end of
# sequence / stream, filler. Anything else (IDR, parameter sets, partitions) keeps the packet.
_DISPOSABLE_NAL_TYPES = frozenset({1, 6, 9, 10, 11, 12})


def nal_length_size(codec_context) -> int | None:
    """Bytes of the NAL length prefix of H.264 in MP4 / MKV / MOV (the avcC header says), or None
    for any other codec or for Annex B streams: then no packet is ever left out."""
    if codec_context.name != "h264":
        return None
    extra = codec_context.extradata
    if not extra or len(extra) < 7 or extra[0] != 1:
        return None
    return (extra[4] & 3) + 1


def is_disposable(data, length_size: int) -> bool:
    """True if no other frame can refer to this H.264 access unit: it has at least one slice,
    every slice has nal_ref_idc 0 (H.264 7.4.1) and it carries no parameter sets."""
    view = memoryview(data)
    i, slices = 0, 0
    while i + length_size < len(view):
        size = int.from_bytes(view[i : i + length_size], "big")
        header = view[i + length_size]
        kind = header & 0x1F
        if kind not in _DISPOSABLE_NAL_TYPES or (kind == 1 and header & 0x60):
            return False
        slices += kind == 1
        i += length_size + size
    return slices > 0


def _decode_forward(container, stream, keep: set[int], length_size: int | None):
    """Frames from the current position on, leaving out disposable packets not in `keep`."""
    for packet in container.demux(stream):
        if (length_size and packet.size and packet.pts not in keep
                and is_disposable(packet, length_size)):
            continue
        yield from packet.decode()  # the empty packet at the end flushes the decoder


def _decode_by_gops(container, index: StreamIndex, targets: list[int], cfg) -> dict[int, object]:
    stream = container.streams.video[0]
    length_size = nal_length_size(stream.codec_context)
    keep = set(targets)
    got: dict[int, np.ndarray] = {}
    position = None  # pts of the last decoded frame, to avoid re-seeking inside a GOP
    frames = None  # the forward pass, resumed (not restarted) when the next GOP follows on
    for start, wanted in plan_gops(index, targets).items():
        if position is None or position >= start or position < index.pts[0]:
            container.seek(start, stream=stream, backward=True, any_frame=False)
            frames = _decode_forward(container, stream, keep, length_size)
        last = wanted[-1]
        for frame in frames:
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
        return source_problem(path) is None and not Path(path).is_dir()

    def decode(self, path: str, cfg: DecodeConfig) -> np.ndarray:
        """-> uint8 (N, H, W, 3). Raises DecodeError naming the file."""
        return self.decode_with_notes(path, cfg)[0]

    def decode_with_notes(self, path: str, cfg: DecodeConfig) -> tuple[np.ndarray, list[str]]:
        """-> (uint8 (N, H, W, 3), warnings about a doubtful acceptance). Raises DecodeError."""
        import av

        problem = source_problem(path)
        if problem is not None:
            raise DecodeError(path, problem)
        if Path(path).stat().st_size == 0:
            raise DecodeError(path, "file is empty")
        notes: list[str] = []
        try:
            frames = self._decode(path, cfg, notes)
        except DecodeError as exc:
            cut = mp4_problem(path)  # a cut MP4 loses its streams: say it was cut
            raise DecodeError(path, cut) if cut else exc from None
        except (av.FFmpegError, ValueError, IndexError, OSError) as exc:
            reason = mp4_problem(path) or f"not a readable video ({type(exc).__name__}: {exc})"
            raise DecodeError(path, reason) from exc
        if not frames:
            raise DecodeError(path, mp4_problem(path) or "no frames could be decoded")
        cut = mp4_problem(path)
        if cut:
            notes.append(f"{cut}; scored from the frames that decode")
        return np.stack(frames), notes  # (N, H, W, 3)

    def _decode(self, path: str, cfg: DecodeConfig, notes: list[str]) -> list[np.ndarray]:
        import av

        with av.open(path) as container:
            if not container.streams.video:
                raise DecodeError(path, "no video stream with frames in the file "
                                        "(audio only, data, or 0 frames)")
            stream = container.streams.video[0]
            stream.thread_type = self.thread_type
            src = (stream.codec_context.height, stream.codec_context.width)
            notes.extend(container_notes(container, src, (cfg.height, cfg.width)))
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
