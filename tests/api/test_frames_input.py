"""frames_input: the decoders' sampling and crop geometry, on tensors, with clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cleverward.engine.frames_input import FrameSpec, as_frames_tensor, prepare_frames


def _indexed(t: int, h: int = 8, w: int = 8) -> torch.Tensor:
    """(1, T, h, w, 3) uint8 whose frame t holds the value t everywhere."""
    return torch.arange(t, dtype=torch.uint8).view(1, t, 1, 1, 1).expand(1, t, h, w, 3)


@pytest.mark.parametrize(("t", "n", "expected"), [
    # centres of n equal segments of [0, T): floor((k + 0.5) * T / n)
    (10, 4, [1, 3, 6, 8]),  # 1.25, 3.75, 6.25, 8.75
    (3, 8, [0, 0, 0, 1, 1, 2, 2, 2]),  # 0.19, 0.56, 0.94, 1.31, 1.69, 2.06, 2.44, 2.81
    (1, 3, [0, 0, 0]),
])
def test_sampling_takes_the_decoders_frames(t, n, expected):
    out = prepare_frames(_indexed(t), FrameSpec(n, 8, 8))
    assert out.shape == (1, n, 8, 8, 3)
    assert out[0, :, 0, 0, 0].tolist() == expected


def test_frames_at_the_encoder_size_pass_through_bit_for_bit():
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, (2, 4, 16, 24, 3), dtype=np.uint8)
    out = prepare_frames(clip, FrameSpec(4, 16, 24))
    assert out.dtype == torch.float32 and torch.equal(out, torch.from_numpy(clip).float())


def test_scale_and_centre_crop_follow_the_decoders_geometry():
    """A horizontal ramp (value = source column / 255), 100 x 200 -> 50 x 50: scaled_size gives
    50 x 100 (shorter side matched), the centre crop starts at column 25. A 2x antialiased
    bilinear downscale of a linear ramp is exact away from the edges: output column j is the
    mean of source columns 2(j + 25) and 2(j + 25) + 1, i.e. 2j + 50.5."""
    cols = torch.arange(200, dtype=torch.float64) / 255.0
    clip = cols.view(1, 1, 1, 200, 1).expand(1, 1, 100, 200, 3)
    out = prepare_frames(clip, FrameSpec(1, 50, 50))  # (1, 1, 50, 50, 3), 0..255 units
    expected = 2 * torch.arange(50, dtype=torch.float64) + 50.5
    assert out.shape == (1, 1, 50, 50, 3)
    torch.testing.assert_close(out[0, 0, 25, :, 1], expected, atol=1e-9, rtol=0)


def test_channels_first_and_last_give_the_same_frames():
    rng = np.random.default_rng(1)
    last = torch.from_numpy(rng.integers(0, 256, (2, 5, 40, 30, 3), dtype=np.uint8))
    first = last.permute(0, 1, 4, 2, 3).contiguous()  # (B, T, 3, H, W)
    spec = FrameSpec(3, 16, 16)
    assert torch.equal(prepare_frames(last, spec), prepare_frames(first, spec))


def test_uint8_input_is_rounded_back_to_8_bits_after_scaling():
    rng = np.random.default_rng(2)
    out = prepare_frames(rng.integers(0, 256, (1, 2, 37, 41, 3), dtype=np.uint8),
                         FrameSpec(2, 16, 16))
    assert torch.equal(out, out.round()) and out.min() >= 0 and out.max() <= 255


@pytest.mark.parametrize(("frames", "words"), [
    (torch.zeros(4, 8, 8, 3, dtype=torch.uint8), ["frames", "rank 4", "frames[None]"]),
    (torch.zeros(1, 2, 8, 8, 4, dtype=torch.uint8), ["frames", "RGB axis"]),
    (torch.zeros(1, 2, 8, 8, 3, dtype=torch.int32), ["frames", "dtype torch.int32", "uint8"]),
    (np.zeros((1, 2, 8, 8, 3), np.int64), ["frames", "dtype int64"]),
    (np.zeros((1, 2, 8, 8, 3), object), ["frames", "dtype object"]),
    ([[1, 2, 3]], ["frames", "list"]),
    (torch.zeros(1, 0, 8, 8, 3), ["frames", "empty"]),
])
def test_bad_frames_are_named_with_what_fits(frames, words):
    with pytest.raises((TypeError, ValueError)) as info:
        prepare_frames(frames, FrameSpec(2, 8, 8))
    for word in words:
        assert word in str(info.value)


def test_float_frames_outside_0_1_are_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\].*0\.\.255"):
        prepare_frames(torch.full((1, 2, 8, 8, 3), 200.0), FrameSpec(2, 8, 8))
    with pytest.raises(ValueError, match="NaN"):
        prepare_frames(torch.full((1, 2, 8, 8, 3), float("nan")), FrameSpec(2, 8, 8))


def test_arrays_become_tensors_without_a_copy():
    arr = np.zeros((1, 2, 8, 8, 3), np.uint8)
    t = as_frames_tensor(arr)
    arr[0, 0, 0, 0, 0] = 7
    assert t[0, 0, 0, 0, 0] == 7


def test_big_endian_arrays_are_read_as_their_values():
    """A '>f4' / '>u2'-style array (an .npy written on another machine) is converted to native
    byte order, not refused with torch's 'byte order' ValueError."""
    native = np.random.default_rng(0).random((1, 2, 8, 8, 3), dtype=np.float32)
    swapped = native.astype(">f4")
    assert swapped.dtype.byteorder == ">"
    assert torch.equal(prepare_frames(swapped, FrameSpec(2, 8, 8)),
                       prepare_frames(native, FrameSpec(2, 8, 8)))
