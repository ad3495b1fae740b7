"""Frames already in memory -> the frames a decoder would have delivered, on the input's device.

score-dir's decoders sample N frames uniformly (engine/decode/sampling.py), scale the shorter
side to the encoder's size and centre-crop (engine/decode/resize.py), and hand over uint8
(N, H, W, 3). `prepare_frames` does the same to a batch of clips given as a tensor or array,
without leaving its device, so an RL loop's generated frames never go through the host:

    (B, T, H, W, 3) or (B, T, 3, H, W), uint8 or float in [0, 1], any T, H, W, any device
      -> sample N of T (the decoders' indices) -> scale + centre-crop (the decoders' geometry)
      -> float (B, N, h, w, 3) in 0..255 units, on the same device

The indices and the crop box are the decoders' own functions, so frames already at the
encoder's size and sampled are passed through unchanged (bit for bit). Scaling is bilinear with
antialiasing (torch), not swscale's filter: frames of another size agree with score-dir's to a
few levels, not bitwise (README "Python API"). uint8 input is rounded back to 8 bits after
scaling, as the decoders deliver it; float input keeps its precision (and its gradient).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cleverward.engine.decode.resize import scaled_size
from cleverward.engine.decode.sampling import uniform_indices

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
EXPECTED = "uint8 in 0..255 or float in [0, 1], shaped (B, T, H, W, 3) or (B, T, 3, H, W)"


@dataclass(frozen=True)
class FrameSpec:
    """What the video encoder takes: N frames of height x width."""

    frames: int
    height: int
    width: int

    def __post_init__(self) -> None:
        for field in ("frames", "height", "width"):
            if getattr(self, field) < 1:
                raise ValueError(f"{field}: must be >= 1, got {getattr(self, field)}")


def as_frames_tensor(frames, name: str = "frames") -> torch.Tensor:
    """A tensor or array of clips -> a tensor (no copy for either, but for an array not in
    native byte order or not contiguous), checked: -> (B, T, H, W, 3)
    or (B, T, 3, H, W) as given. Errors name the argument, its shape / dtype and what fits."""
    if isinstance(frames, np.ndarray):
        if frames.dtype == object or not (frames.dtype == np.uint8 or
                                          np.issubdtype(frames.dtype, np.floating)):
            raise TypeError(f"{name}: dtype {frames.dtype} is not accepted; expected {EXPECTED}")
        if not frames.dtype.isnative:  # an .npy from a big-endian machine: torch needs native
            frames = frames.astype(frames.dtype.newbyteorder("="))
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    elif not isinstance(frames, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor or numpy array ({EXPECTED}), "
                        f"got {type(frames).__name__}")
    if frames.dtype != torch.uint8 and frames.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name}: dtype {frames.dtype} is not accepted; expected {EXPECTED}")
    shape = tuple(frames.shape)
    if frames.ndim != 5:
        hint = " (one clip? add a batch axis: frames[None])" if frames.ndim == 4 else ""
        raise ValueError(f"{name}: shape {shape} has rank {frames.ndim}; expected {EXPECTED}{hint}")
    if shape[-1] != 3 and shape[2] != 3:
        raise ValueError(f"{name}: shape {shape} has no RGB axis of size 3 (last or third); "
                         f"expected {EXPECTED}")
    if 0 in shape:
        raise ValueError(f"{name}: shape {shape} is empty; expected {EXPECTED}")
    return frames


def channels_last(frames: torch.Tensor) -> torch.Tensor:
    """(B, T, H, W, 3) or (B, T, 3, H, W) -> a (B, T, H, W, 3) view. A last axis of 3 wins
    when both could be the channels (a 3-pixel-high clip is not a thing to guess about)."""
    return frames if frames.shape[-1] == 3 else frames.permute(0, 1, 3, 4, 2)


def check_float_range(frames: torch.Tensor, name: str = "frames") -> None:
    """Float frames must be in [0, 1]: 0..255 floats would saturate every pixel silently."""
    if frames.dtype == torch.uint8:
        return
    with torch.no_grad():
        lo, hi = float(frames.amin()), float(frames.amax())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{name}: holds NaN or inf values")
    if lo < -1e-3 or hi > 1.0 + 1e-3:
        raise ValueError(f"{name}: float frames must be in [0, 1], got values in [{lo:.3g}, "
                         f"{hi:.3g}] (uint8 frames are taken as 0..255)")


def sample_frames(frames: torch.Tensor, n: int) -> torch.Tensor:
    """(B, T, ...) -> (B, n, ...): the decoders' uniform indices, gathered on the device."""
    idx = torch.from_numpy(uniform_indices(frames.shape[1], n)).to(frames.device)
    return frames.index_select(1, idx)


def resize_crop(x: torch.Tensor, out_h: int, out_w: int) -> torch.Tensor:
    """(F, 3, H, W) float -> (F, 3, out_h, out_w): scale to cover (shorter side matched, the
    decoders' scaled_size), then centre-crop with the decoders' offsets."""
    h, w = x.shape[-2:]
    sh, sw = scaled_size(h, w, out_h, out_w)
    if (sh, sw) != (h, w):
        x = F.interpolate(x, size=(sh, sw), mode="bilinear", align_corners=False, antialias=True)
    top, left = (sh - out_h) // 2, (sw - out_w) // 2  # as resize.center_crop
    return x[..., top : top + out_h, left : left + out_w]


def prepare_frames(frames, spec: FrameSpec, name: str = "frames") -> torch.Tensor:
    """Clips (see module docstring) -> float (B, N, h, w, 3) in 0..255 units on their device.
    float64 input stays float64 (gradcheck); other floats and uint8 become float32."""
    x = channels_last(as_frames_tensor(frames, name))  # (B, T, H, W, 3)
    check_float_range(x, name)
    x = sample_frames(x, spec.frames)  # (B, N, H, W, 3): only the sampled frames are converted
    b, n, h, w, _ = x.shape
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    is_uint8 = x.dtype == torch.uint8
    x = x.to(dtype) if is_uint8 else x.to(dtype) * 255.0
    if (h, w) == (spec.height, spec.width):
        return x  # the decoders' output size already: nothing to resample
    y = x.reshape(b * n, h, w, 3).permute(0, 3, 1, 2)  # (BN, 3, H, W)
    y = resize_crop(y, spec.height, spec.width)  # (BN, 3, h, w)
    if is_uint8:
        y = y.round().clamp(0, 255)  # 8-bit, as a decoder delivers it
    return y.permute(0, 2, 3, 1).reshape(b, n, spec.height, spec.width, 3)  # (B, N, h, w, 3)
