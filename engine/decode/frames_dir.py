"""A folder of frame images read as one video (VideoFeedback ships frames, not mp4s)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from cleverward.engine.config import DecodeConfig
from cleverward.engine.decode.errors import DecodeError
from cleverward.engine.decode.resize import center_crop, scaled_size
from cleverward.engine.decode.sampling import uniform_indices
from cleverward.engine.decode.source import source_problem

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def _natural_key(path: Path) -> list:
    # frame_2.png sorts before frame_10.png
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _is_frame(path: Path) -> bool:
    """An entry named as an image that is not a folder: a FIFO, a device link or a dangling link
    named 0002.png is a frame too, so the folder is one video whose decode names it (an error
    row), never a folder whose bad frame is silently left out or whose frames go unscored."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.is_dir()


def frame_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    return sorted((p for p in folder.iterdir() if _is_frame(p)), key=_natural_key)


def is_frames_dir(path: str | Path) -> bool:
    """A folder of frame images only: no subfolders, every (non-hidden) file an image. A folder
    of videos with a thumbnail.jpg beside them is a folder of videos, not one video."""
    path = Path(path)
    if not path.is_dir():
        return False
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    return bool(entries) and all(_is_frame(p) for p in entries)


def _read_image(path: Path, cfg: DecodeConfig) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    sh, sw = scaled_size(frame.height, frame.width, cfg.height, cfg.width)
    rgb = frame.to_ndarray(format="rgb24", width=sw, height=sh)  # (sh, sw, 3)
    return center_crop(rgb, cfg.height, cfg.width)


class FramesDirDecoder:
    name = "frames"

    def can_decode(self, path: str) -> bool:
        return Path(path).is_dir()

    def decode(self, path: str, cfg: DecodeConfig) -> np.ndarray:
        import av

        files = frame_files(path)
        if not files:
            if os.path.islink(path):
                raise DecodeError(path, "a symlink to a folder that holds no frame images: "
                                        "folders reached through a symlink are not walked "
                                        "(score that folder itself)")
            raise DecodeError(path, "folder holds no frame images")
        for f in files:  # every frame, before any is opened: a FIFO frame would block av.open
            problem = source_problem(f)
            if problem is not None:
                raise DecodeError(str(f), f"unreadable frame image {f.name} ({problem})")
        out = []
        for i in uniform_indices(len(files), cfg.frames):
            try:
                out.append(_read_image(files[int(i)], cfg))
            except (av.FFmpegError, StopIteration, OSError) as exc:
                raise DecodeError(str(files[int(i)]), f"unreadable frame image ({exc})") from exc
        return np.stack(out)  # (N, H, W, 3)
