import numpy as np
import pytest

from cleverward.engine.config import DecodeConfig
from cleverward.engine.decode import DecodeError, decode_clip, uniform_indices
from cleverward.engine.decode.frames_dir import FramesDirDecoder
from tests.clips import frame_pattern


@pytest.mark.parametrize(
    "num, n, expected",
    [
        (1, 4, [0, 0, 0, 0]),  # 1-frame clip repeats its only frame
        (3, 8, [0, 0, 0, 1, 1, 2, 2, 2]),  # shorter than n: non-decreasing repeats
        (8, 8, [0, 1, 2, 3, 4, 5, 6, 7]),
        (100, 4, [12, 37, 62, 87]),  # centres of 4 segments of 25
        (10, 1, [5]),
    ],
)
def test_uniform_indices(num, n, expected):
    assert uniform_indices(num, n).tolist() == expected


def test_uniform_indices_long_clip_spans_the_clip():
    idx = uniform_indices(100_000, 8)
    assert idx[0] < 100_000 / 8 and idx[-1] > 100_000 * 7 / 8
    assert np.all(np.diff(idx) > 0)


def test_uniform_indices_rejects_empty():
    with pytest.raises(ValueError, match="no frames"):
        uniform_indices(0, 8)


@pytest.mark.parametrize("name", ["h264_long.mp4", "vp9.webm", "h264_short.mp4", "h264_one.mp4"])
def test_decode_real_clips_shape(clips_dir, name):
    frames = decode_clip(str(clips_dir / name), DecodeConfig(frames=8, height=32, width=48))
    assert frames.shape == (8, 32, 48, 3) and frames.dtype == np.uint8


def test_decode_takes_the_sampled_frames(clips_dir):
    # The red channel encodes 4 * frame index; after lossy coding it is within a few levels.
    cfg = DecodeConfig(frames=4, height=96, width=128)
    frames = decode_clip(str(clips_dir / "h264_long.mp4"), cfg)
    red = frames[:, 60:, :, 0].astype(float).mean(axis=(1, 2))
    expected = [4 * i for i in uniform_indices(48, 4)]
    assert np.allclose(red, expected, atol=4), (red, expected)


def test_decode_vp9_matches_pattern(clips_dir):
    frames = decode_clip(str(clips_dir / "vp9.webm"), DecodeConfig(frames=2, height=72, width=96))
    red = frames[:, 50:, :, 0].astype(float).mean(axis=(1, 2))
    assert np.allclose(red, [4 * i for i in uniform_indices(24, 2)], atol=5)


def test_resize_keeps_aspect_by_cropping(tmp_path):
    from tests.clips import write_clip

    # A wide clip: the centre crop keeps the middle, so the left/right gradient ends are cut.
    path = write_clip(tmp_path / "wide.mp4", frames=2, size=(64, 256))
    frames = decode_clip(str(path), DecodeConfig(frames=1, height=64, width=64))
    green = frames[0, :, :, 1].astype(float)
    assert 60 < green[:, 0].mean() < 140 and 60 < green[:, -1].mean() < 140


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "empty"), (b"this is not a video at all" * 10, "not a readable video")],
)
def test_bad_files_raise_named_errors(tmp_path, content, reason):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(DecodeError, match=reason) as info:
        decode_clip(str(path), DecodeConfig())
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DecodeError, match="no such file"):
        decode_clip(str(tmp_path / "nope.mp4"), DecodeConfig())


def test_frames_folder_is_a_video(tmp_path):
    import av

    folder = tmp_path / "clip_frames"
    folder.mkdir()
    for i in (0, 1, 2, 10):  # natural order: 10 after 2
        with av.open(str(folder / f"frame_{i}.png"), "w") as out:
            stream = out.add_stream("png")
            stream.width, stream.height, stream.pix_fmt = 40, 30, "rgb24"
            img = np.full((30, 40, 3), 20 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
    assert FramesDirDecoder().can_decode(str(folder))
    frames = decode_clip(str(folder), DecodeConfig(frames=4, height=30, width=40))
    assert frames.shape == (4, 30, 40, 3)
    assert frames[:, 0, 0, 0].tolist() == [0, 20, 40, 200]


def test_frame_pattern_is_deterministic():
    assert np.array_equal(frame_pattern(3, (16, 32)), frame_pattern(3, (16, 32)))


@pytest.mark.parametrize("gop", [1, 4, 250])
def test_gop_seeking_returns_the_same_frames_as_a_full_decode(tmp_path, gop):
    import av

    from cleverward.engine.decode.pyav_decoder import _decode_sequential, plan_gops, probe
    from tests.clips import write_clip

    path = str(write_clip(tmp_path / f"g{gop}.mp4", frames=40, size=(48, 64), gop=gop))
    cfg = DecodeConfig(frames=3, height=48, width=64)
    fast = decode_clip(path, cfg)
    with av.open(path) as container:
        full = np.stack(_decode_sequential(container, 3, cfg))
        container.seek(0)
        index = probe(container)
    assert np.array_equal(fast, full)
    # Short GOPs: only the GOPs holding a sampled frame are decoded.
    targets = [index.pts[i] for i in uniform_indices(40, 3)]
    assert len(plan_gops(index, targets)) == min(3, len(index.keyframe_pts))


def test_a_folder_of_videos_with_a_thumbnail_is_not_a_frames_folder(tmp_path):
    from cleverward.engine.decode.frames_dir import is_frames_dir
    from cleverward.engine.scoring import list_videos

    root = tmp_path / "videos"
    shots = root / "shots"
    shots.mkdir(parents=True)
    (shots / "one.mp4").write_bytes(b"x")
    (shots / "thumbnail.jpg").write_bytes(b"x")
    frames = root / "clip_frames"
    frames.mkdir()
    for name in ("f1.png", "f2.png", ".DS_Store"):
        (frames / name).write_bytes(b"x")
    nested = root / "nested"
    (nested / "inner").mkdir(parents=True)
    (nested / "f1.png").write_bytes(b"x")
    (nested / "inner" / "two.mp4").write_bytes(b"x")
    assert not is_frames_dir(shots) and is_frames_dir(frames) and not is_frames_dir(nested)
    videos, skipped = list_videos(root)
    assert videos == ["clip_frames", "nested/inner/two.mp4", "shots/one.mp4"]
    assert skipped == 2  # thumbnail.jpg, nested/f1.png
