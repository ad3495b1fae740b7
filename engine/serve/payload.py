"""What a POST /score carries, parsed and checked: JSON metadata plus one clip payload.

    meta:   {"prompts": ["...", ...], "all_pairs": false}          (a form field, JSON text)
    frames: .npy bytes (read with allow_pickle=False) or safetensors bytes (one tensor),
            uint8 or float in [0, 1], (T, H, W, 3), (B, T, H, W, 3) or the channels-first forms
    video:  an mp4 / webm / ... file, decoded as score-dir decodes it

Never pickle, never eval: .npy object arrays (whose payload is a pickle) are refused from the
header, before any data is read; shapes and dtypes are checked from the headers against the
limits before the arrays are built.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass

import numpy as np

from cleverward.engine.serve.config import ServeConfig
from cleverward.engine.serve.errors import RequestError

NPY_MAGIC = b"\x93NUMPY"
FRAME_DTYPES = ("uint8", "float16", "float32", "float64")
SAFETENSORS_DTYPES = {"U8": "uint8", "F16": "float16", "BF16": "bfloat16", "F32": "float32",
                      "F64": "float64"}
META_KEYS = {"prompts", "all_pairs"}


@dataclass(frozen=True)
class Meta:
    prompts: list[str]
    all_pairs: bool


def parse_meta(text, cfg: ServeConfig) -> Meta:
    if text is None:
        raise RequestError(400, "meta", "missing: send a form field 'meta' holding JSON "
                           '{"prompts": [...], "all_pairs": false}')
    if not isinstance(text, str):
        raise RequestError(400, "meta", "must be a text field holding JSON, not a file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RequestError(400, "meta", f"not valid JSON ({exc.msg} at char {exc.pos})") from exc
    if not isinstance(data, dict):
        raise RequestError(400, "meta", "must be a JSON object")
    unknown = sorted(set(data) - META_KEYS)
    if unknown:
        raise RequestError(400, "meta", f"unknown keys {unknown}; known: {sorted(META_KEYS)}")
    prompts, all_pairs = data.get("prompts"), data.get("all_pairs", False)
    if not isinstance(all_pairs, bool):
        raise RequestError(400, "meta.all_pairs", "must be true or false")
    if not isinstance(prompts, list) or not prompts or \
            not all(isinstance(p, str) for p in prompts):
        raise RequestError(400, "meta.prompts", "must be a non-empty list of strings")
    if len(prompts) > cfg.max_prompts:
        raise RequestError(422, "meta.prompts", f"{len(prompts)} prompts; the limit is "
                           f"{cfg.max_prompts}")
    longest = max(len(p) for p in prompts)
    if longest > cfg.max_prompt_chars:
        raise RequestError(422, "meta.prompts", f"a prompt of {longest} characters; the limit "
                           f"is {cfg.max_prompt_chars}")
    return Meta(prompts, all_pairs)


def check_shape(shape: tuple[int, ...], dtype: str, cfg: ServeConfig) -> None:
    """Rank, dtype and limits of a frames payload, from its header."""
    expected = "uint8 or float in [0, 1], (T, H, W, 3) or (B, T, H, W, 3), channels last or " \
               "third"
    if dtype not in FRAME_DTYPES and dtype != "bfloat16":
        raise RequestError(400, "frames", f"dtype {dtype}; expected {expected}")
    if len(shape) not in (4, 5):
        raise RequestError(400, "frames", f"shape {list(shape)} has rank {len(shape)}; "
                           f"expected {expected}")
    full = shape if len(shape) == 5 else (1, *shape)
    b, t = full[:2]
    h, w = (full[2], full[3]) if full[-1] == 3 else (full[3], full[4])
    if full[-1] != 3 and full[2] != 3:
        raise RequestError(400, "frames", f"shape {list(shape)} has no RGB axis of size 3")
    if 0 in full:
        raise RequestError(400, "frames", f"shape {list(shape)} is empty")
    if b > cfg.max_clips:
        raise RequestError(422, "frames", f"{b} clips; the limit is {cfg.max_clips} a request")
    if t > cfg.max_frames:
        raise RequestError(422, "frames", f"{t} frames a clip; the limit is {cfg.max_frames}")
    if max(h, w) > cfg.max_side:
        raise RequestError(422, "frames", f"resolution {h}x{w}; the limit is {cfg.max_side} "
                           "pixels a side")


def load_npy(data: bytes, cfg: ServeConfig) -> np.ndarray:
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, _, dtype = read(f)
    except (ValueError, SyntaxError, struct.error) as exc:
        raise RequestError(400, "frames", f"a malformed .npy header ({exc})") from exc
    if dtype.hasobject:
        raise RequestError(400, "frames", "an object array (its data would be a pickle); "
                           "pickle is never loaded: send uint8 or float frames")
    check_shape(tuple(shape), dtype.name, cfg)
    f.seek(0)
    try:
        return np.load(f, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise RequestError(400, "frames", f"a truncated or malformed .npy payload ({exc})") \
            from exc


def load_safetensors(data: bytes, cfg: ServeConfig):
    """-> a torch tensor (safetensors may hold bfloat16, which numpy lacks)."""
    size = struct.unpack("<Q", data[:8])[0]
    if size > len(data) - 8:
        raise RequestError(400, "frames", "a safetensors header longer than the payload")
    try:
        header = json.loads(data[8 : 8 + size])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(400, "frames", "a malformed safetensors header") from exc
    tensors = {k: v for k, v in header.items() if k != "__metadata__"} \
        if isinstance(header, dict) else {}
    if len(tensors) != 1:
        raise RequestError(400, "frames", f"safetensors with {len(tensors)} tensors; send one")
    (name, info), = tensors.items()
    if not isinstance(info, dict) or info.get("dtype") not in SAFETENSORS_DTYPES:
        dtype = info.get("dtype") if isinstance(info, dict) else None
        raise RequestError(400, "frames", f"safetensors dtype {dtype}; expected U8, F16, BF16, "
                           "F32 or F64")
    shape = info.get("shape", [])
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise RequestError(400, "frames", f"safetensors shape {json.dumps(shape)[:80]}; "
                           "expected a list of non-negative whole numbers")
    check_shape(tuple(shape), SAFETENSORS_DTYPES[info["dtype"]], cfg)
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(data)[name]
    except (SafetensorError, ValueError) as exc:
        raise RequestError(400, "frames", f"a malformed safetensors payload ({exc})") from exc


def load_frames(data: bytes, cfg: ServeConfig):
    """.npy or safetensors bytes -> (B, T, ...) array or tensor, checked."""
    if data.startswith(NPY_MAGIC):
        frames = load_npy(data, cfg)
    elif len(data) > 9 and data[8:9] == b"{":
        frames = load_safetensors(data, cfg)
    else:
        raise RequestError(400, "frames", "neither a .npy array nor safetensors (pickle and "
                           "other formats are refused)")
    return frames if frames.ndim == 5 else frames[None]  # one clip -> a batch of one


def decode_video(data: bytes, filename: str, model, cfg: ServeConfig) -> np.ndarray:
    """Video bytes -> uint8 (1, N, H, W, 3), decoded exactly as score-dir decodes a file."""
    import tempfile
    from pathlib import Path

    from cleverward.engine.decode import DecodeError, decode_clip

    suffix = Path(filename or "").suffix.lower() or ".mp4"
    if not suffix[1:].isalnum() or len(suffix) > 6:
        suffix = ".mp4"
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        tmp.write(data)
        tmp.flush()
        _check_video_size(tmp.name, cfg)
        try:
            frames = decode_clip(tmp.name, model.decode_config())
        except DecodeError as exc:
            raise RequestError(400, "video", f"{filename or 'upload'}: {exc.reason}") from exc
    return frames[None]


def _check_video_size(path: str, cfg: ServeConfig) -> None:
    import av

    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise RequestError(400, "video", "no video stream in the file")
            stream = container.streams.video[0]
            h, w = stream.codec_context.height, stream.codec_context.width
    except av.FFmpegError as exc:
        raise RequestError(400, "video", f"not a readable video ({type(exc).__name__})") from exc
    if max(h, w) > cfg.max_side:
        raise RequestError(422, "video", f"resolution {h}x{w}; the limit is {cfg.max_side} "
                           "pixels a side")
