"""Sampled decoding leaves out the H.264 frames nothing refers to, and gets the same pixels."""

from __future__ import annotations

import av
import numpy as np
import pytest

from cleverward.engine.config import DecodeConfig
from cleverward.engine.decode.pyav_decoder import (
    PyAVDecoder,
    _decode_sequential,
    is_disposable,
    nal_length_size,
)
from tests.clips import frame_pattern


def _write_bframes_clip(path, frames: int = 40, gop: int = 250, size=(64, 96)):
    """H.264 with B-frames as x264's default presets write them (ultrafast has none)."""
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=8, options={
            "preset": "veryfast", "crf": "23",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=3"})
        stream.width, stream.height, stream.pix_fmt = size[1], size[0], "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_pattern(i, size), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def _disposable_count(path) -> tuple[int, int]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        size = nal_length_size(stream.codec_context)
        flags = [is_disposable(p, size) for p in c.demux(stream) if p.size]
    return sum(flags), len(flags)


def test_nal_parsing_finds_the_non_reference_b_frames(tmp_path):
    path = _write_bframes_clip(tmp_path / "b.mp4")
    disposable, total = _disposable_count(path)
    assert total == 40 and 8 <= disposable < 30


def test_ultrafast_clip_has_nothing_to_leave_out(clips_dir):
    disposable, total = _disposable_count(clips_dir / "h264_long.mp4")
    assert total == 48 and disposable == 0


def test_not_h264_means_no_skipping(clips_dir):
    with av.open(str(clips_dir / "vp9.webm")) as c:
        assert nal_length_size(c.streams.video[0].codec_context) is None


def test_is_disposable_reads_nal_ref_idc():
    def unit(header: int, payload: bytes = b"\x88\x80") -> bytes:
        body = bytes([header]) + payload
        return len(body).to_bytes(4, "big") + body

    assert is_disposable(unit(0x01), 4)  # non-IDR slice, nal_ref_idc 0
    assert not is_disposable(unit(0x21), 4)  # the same slice, nal_ref_idc 1
    assert not is_disposable(unit(0x65), 4)  # IDR
    assert is_disposable(unit(0x06) + unit(0x01), 4)  # SEI + non-reference slice
    assert not is_disposable(unit(0x06), 4)  # no slice at all
    assert not is_disposable(unit(0x68) + unit(0x01), 4)  # carries a PPS


@pytest.mark.parametrize("gop, frames", [(250, 8), (250, 3), (6, 8), (250, 40)])
def test_sampled_frames_equal_a_full_decode(tmp_path, gop, frames):
    path = _write_bframes_clip(tmp_path / "b.mp4", gop=gop)
    cfg = DecodeConfig(frames=frames, height=64, width=96)
    got = PyAVDecoder(thread_type="NONE").decode(str(path), cfg)
    with av.open(str(path)) as c:
        ref = np.stack(_decode_sequential(c, frames, cfg))
    assert np.array_equal(got, ref)
