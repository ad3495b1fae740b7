"""CPU decoding with PyAV (FFmpeg): every codec FFmpeg knows.

Frames are decoded in order and only the sampled ones are converted to RGB; swscale does the
resize in the same call, so a 720p clip never exists as a full-size RGB array.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cleverward.engine.config import DecodeConfig
from cleverward.engine.decode.errors import DecodeError
from cleverward.engine.decode.resize import center_crop, scaled_size
from cleverward.engine.decode.sampling import uniform_indices


def _to_rgb(frame, cfg: DecodeConfig) -> np.ndarray:
    sh, sw = scaled_size(frame.height, frame.width, cfg.height, cfg.width)
    rgb = frame.to_ndarray(format="rgb24", width=sw, height=sh)  # (sh, sw, 3)
    return center_crop(rgb, cfg.height, cfg.width)


def _count_frames(path: str) -> int:
    """Frame count from the container, or by counting packets (no decoding) when it is unknown."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        if stream.frames > 0:
            return int(stream.frames)
        return sum(1 for packet in container.demux(stream) if packet.size)


def _decode_selected(path: str, indices: np.ndarray, cfg: DecodeConfig) -> tuple[list, int]:
    """Decode in order, keep frames at `indices`; returns (kept RGB frames, frames decoded)."""
    import av

    wanted = {int(i): [] for i in indices}
    last = int(indices.max())
    seen = 0
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for seen, frame in enumerate(container.decode(stream), start=1):  # noqa: B007
            if seen - 1 in wanted:
                wanted[seen - 1].append(_to_rgb(frame, cfg))
            if seen - 1 >= last:
                break
    kept = [wanted[int(i)][0] for i in indices if wanted[int(i)]]
    return kept, seen


class PyAVDecoder:
    name = "pyav"

    def can_decode(self, path: str) -> bool:
        return Path(path).is_file()

    def decode(self, path: str, cfg: DecodeConfig) -> np.ndarray:
        """-> uint8 (N, H, W, 3). Raises DecodeError naming the file."""
        import av

        if Path(path).stat().st_size == 0:
            raise DecodeError(path, "file is empty")
        try:
            with av.open(path) as container:
                if not container.streams.video:
                    raise DecodeError(path, "no video stream in file")
            num = _count_frames(path)
            indices = uniform_indices(num, cfg.frames)
            frames, decoded = _decode_selected(path, indices, cfg)
            if len(frames) < len(indices) and decoded > 0:
                # The container over-reported its length: sample again over what really decodes.
                indices = uniform_indices(decoded, cfg.frames)
                frames, decoded = _decode_selected(path, indices, cfg)
        except DecodeError:
            raise
        except (av.FFmpegError, ValueError, IndexError, OSError) as exc:
            raise DecodeError(path, f"not a readable video ({type(exc).__name__}: {exc})") from exc
        if not frames:
            raise DecodeError(path, "no frames could be decoded")
        return np.stack(frames)  # (N, H, W, 3)
