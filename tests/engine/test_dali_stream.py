"""engine/dali_stream.py: clips go to the batched decoder BATCH at a time, in order; a clip it
cannot decode is decoded by PyAV instead and counted (never an error row unless PyAV fails too).

The decoder injected here is a real one: it decodes the VP9 clips itself (through PyAV, frame
for frame what the run would get) and refuses H.264 the way DALI's CPU backend does, with a
DecodeError; nothing fakes a success."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from cleverward.engine.config import DecodeConfig
from cleverward.engine.dali_stream import (
    BATCH,
    DecodeCounts,
    batched_dali_applies,
    batched_stream,
    open_stream,
)
from cleverward.engine.decode import DecodeError, decode_clip
from cleverward.engine.decode import dali_decoder as dd
from cleverward.engine.decode.pyav_decoder import PyAVDecoder
from tests.cli.run import run_cli
from tests.clips import write_clip

CFG = DecodeConfig(frames=4, height=32, width=32, decoder="dali")
PYAV = DecodeConfig(frames=4, height=32, width=32, decoder="pyav")


class VP9OnlyDecoder:
    """Decodes VP9 (PyAV underneath), refuses every other codec as NVDEC refuses 4:4:4."""

    def __init__(self) -> None:
        self.calls: list[int] = []  # clips per decode_many call
        self._pyav = PyAVDecoder()

    def decode_many(self, paths: list[str], cfg: DecodeConfig) -> list:
        self.calls.append(len(paths))
        out = []
        for path in paths:
            if dd.codec_of(path) == "vp9":
                out.append(self._pyav.decode(path, cfg))
            else:
                out.append(DecodeError(path, f"DALI cannot decode {dd.codec_of(path)}"))
        return out


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """20 clips: VP9 and H.264 alternating, then one corrupt file."""
    root = tmp_path_factory.mktemp("mixed")
    paths = []
    for i in range(20):
        codec = "vp9" if i % 2 == 0 else "h264"
        path = root / f"c{i:02d}.{'webm' if codec == 'vp9' else 'mp4'}"
        write_clip(path, codec=codec, frames=6 + i % 3, size=(32, 48))
        paths.append(path)
    bad = root / "zz_corrupt.mp4"
    bad.write_bytes(b"\x00\x01garbage" * 40)
    return paths, bad


def test_batches_of_batch_clips_in_order_and_refused_clips_counted(mixed):
    paths, bad = mixed
    decoder, counts = VP9OnlyDecoder(), DecodeCounts()
    items = [(p.name, str(p)) for p in paths] + [(bad.name, str(bad))]
    got = list(batched_stream(items, CFG, decoder, counts))
    assert decoder.calls == [BATCH, len(items) - BATCH] and BATCH >= 16
    assert [d.key for d in got] == [k for k, _ in items]
    for d, path in zip(got, paths, strict=False):  # every clip's frames are PyAV's own
        assert d.error is None
        np.testing.assert_array_equal(d.frames, decode_clip(str(path), PYAV))
    assert counts.pyav_retries == 10  # the H.264 half; the corrupt file is not a retry
    assert got[-1].frames is None
    assert "DALI cannot decode" in got[-1].error and "PyAV:" in got[-1].error


def test_a_decoder_that_raises_sends_the_whole_batch_to_pyav(mixed):
    paths, _ = mixed

    class Broken(VP9OnlyDecoder):
        def decode_many(self, paths, cfg):
            raise RuntimeError("pipeline invalidated")

    counts = DecodeCounts()
    got = list(batched_stream([(p.name, str(p)) for p in paths[:5]], CFG, Broken(), counts))
    assert all(d.error is None for d in got) and counts.pyav_retries == 5


def test_auto_sends_what_the_decoder_does_not_take_to_pyav_uncounted(mixed):
    paths, _ = mixed

    class Picky(VP9OnlyDecoder):
        def can_decode(self, path):
            return dd.codec_of(path) == "vp9"

    decoder, counts = Picky(), DecodeCounts()
    cfg = DecodeConfig(frames=4, height=32, width=32, decoder="auto")
    got = list(batched_stream([(p.name, str(p)) for p in paths[:6]], cfg, decoder, counts,
                              auto=True))
    assert decoder.calls == [3] and counts.pyav_retries == 0
    assert all(d.error is None for d in got)


def test_which_stream_runs():
    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    assert batched_dali_applies("dali", cpu, True)
    assert batched_dali_applies("auto", gpu, True)
    assert not batched_dali_applies("auto", cpu, True)  # CPU auto: per clip, as before
    assert not batched_dali_applies("auto", gpu, False)
    assert not batched_dali_applies("pyav", gpu, True)


def test_open_stream_uses_an_injected_decoder_and_the_pool_otherwise(mixed):
    paths, _ = mixed
    items = [(p.name, str(p)) for p in paths[:3]]
    decoder, counts = VP9OnlyDecoder(), DecodeCounts()
    got = list(open_stream(items, CFG, 2, torch.device("cpu"), counts, decoder=decoder))
    assert decoder.calls == [3] and counts.pyav_retries == 1 and len(got) == 3
    got = list(open_stream(items, PYAV, 2, torch.device("cpu"), DecodeCounts()))
    assert [d.key for d in got] == [k for k, _ in items] and all(d.error is None for d in got)


needs_dali = pytest.mark.skipif(
    not dd.dali_installed(), reason="nvidia-dali is not installed (pip install cleverward[dali])")


@needs_dali
@pytest.mark.skipif(torch.cuda.is_available(), reason="DALI's CPU backend; CUDA is present")
def test_score_dir_decoder_dali_on_cpu_counts_the_pyav_retries(tmp_path, clips_dir):
    """Real DALI (CPU backend: VP9) through score-dir; its H.264 clips go to PyAV, counted in
    --summary-json and the printed line, with no error rows."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("vp9.webm", "h264_long.mp4", "h264_short.mp4"):
        shutil.copy(clips_dir / name, videos / name)
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps({"prompt": "a white square moving right"}) + "\n")
    out, summary = tmp_path / "s.jsonl", tmp_path / "summary.json"
    res = run_cli("score-dir", videos, "--prompts", prompts, "--out", out, "--no-cache",
                  "--decoder", "dali", "--device", "cpu", "--summary-json", summary)
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 3 and all(r["error"] is None for r in rows)
    counts = json.loads(summary.read_text())
    assert counts["pyav_retries"] == 2 and counts["decoded"] == 3
    assert "2 decoded by PyAV after DALI could not" in res.output


@pytest.mark.gpu
@needs_dali
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (NVDEC)")
def test_nvdec_batches_stay_on_the_gpu(clips_dir):
    """DALI's mixed backend on the run's GPU: frames come back as CUDA tensors (DLPack, no host
    copy), equal to PyAV's within DALI's tolerance (tests/engine/test_dali_decoder.py)."""
    device = torch.device("cuda", 0)
    decoder = dd.get_decoder(device)
    assert decoder.device == "mixed" and decoder.device_id == 0
    names = ["h264_long.mp4", "vp9.webm"] * 9  # 18 clips: a batch of 16 and one of 2
    items = [(f"{i}", str(clips_dir / n)) for i, n in enumerate(names)]
    cfg = DecodeConfig(frames=4, height=32, width=32, decoder="dali")
    before = decoder.stats()["pipeline_runs"]
    got = list(open_stream(items, cfg, 2, device, DecodeCounts()))
    assert decoder.stats()["pipeline_runs"] - before >= 2
    for d, name in zip(got, names, strict=True):
        assert isinstance(d.frames, torch.Tensor) and d.frames.device == device
        ref = decode_clip(str(clips_dir / name), PYAV)
        diff = (d.frames.cpu().numpy().astype(np.int16) - ref.astype(np.int16))
        assert np.abs(diff).mean() <= 3.0
