"""Decode a clip (file or folder of frames) to uint8 (N, H, W, 3): N frames sampled uniformly.

`decode_clip(path, cfg)` is the one entry point; `select_decoder` is the one place that decides
which backend handles a path (PyAV everywhere; DALI where it is installed and can decode the file).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cleverward.engine.config import DecodeConfig
from cleverward.engine.decode.diagnose import file_notes
from cleverward.engine.decode.errors import DecodeError
from cleverward.engine.decode.frames_dir import FramesDirDecoder, is_frames_dir
from cleverward.engine.decode.pyav_decoder import PyAVDecoder
from cleverward.engine.decode.sampling import uniform_indices
from cleverward.engine.decode.source import source_problem

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".webm", ".mkv", ".avi", ".mov", ".m4v", ".gif", ".mpg", ".mpeg", ".wmv", ".flv",
     ".ts", ".ogv", ".3gp"}
)

_PYAV = PyAVDecoder()
_FRAMES = FramesDirDecoder()


def _dali():
    from cleverward.engine.decode import dali_decoder

    return dali_decoder.get_decoder()


def select_decoder(path: str, choice: str = "auto"):
    """The decoder for `path` under `choice` (auto | pyav | dali)."""
    if Path(path).is_dir():
        return _FRAMES
    if choice == "pyav":
        return _PYAV
    if choice == "dali":
        decoder = _dali()
        if decoder is None:
            raise DecodeError(path, "--decoder dali: nvidia-dali is not installed here")
        return decoder
    decoder = _dali()
    if decoder is not None and decoder.can_decode(path):
        return decoder
    return _PYAV


def decode_clip(path: str, cfg: DecodeConfig) -> np.ndarray:
    return decode_with_notes(path, cfg)[0]


def decode_with_notes(path: str, cfg: DecodeConfig, decoder=None) -> tuple[np.ndarray, list[str]]:
    """-> (frames, warnings). Only a regular file or a folder is ever opened (source.py)."""
    problem = source_problem(path)
    if problem is not None:
        raise DecodeError(path, problem)
    decoder = decoder or select_decoder(path, cfg.decoder)
    with_notes = getattr(decoder, "decode_with_notes", None)
    if with_notes is not None:
        return with_notes(path, cfg)
    frames = decoder.decode(path, cfg)
    return frames, file_notes(path, cfg.height, cfg.width)


def is_video_path(path: Path) -> bool:
    return (path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES) or is_frames_dir(path)


__all__ = [
    "DecodeError",
    "VIDEO_SUFFIXES",
    "decode_clip",
    "decode_with_notes",
    "is_video_path",
    "select_decoder",
    "uniform_indices",
]
