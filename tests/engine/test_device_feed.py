"""engine/device_feed.py: host batches staged onto the device on a side CUDA stream, the
identity on CPU (no pinning, no stream, no copy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cleverward.engine.device_feed import DeviceFeed, device_feed


def test_on_cpu_the_feed_is_a_pass_through():
    feed = DeviceFeed(torch.device("cpu"))
    assert feed.stream is None and not feed.overlaps
    batch = np.random.default_rng(0).integers(0, 256, (2, 3, 8, 8, 3), dtype=np.uint8)
    staged = feed.stage(batch)
    assert staged.event is None
    x = staged.ready()
    assert x.data_ptr() == batch.ctypes.data  # the array itself, not a copy
    assert not x.is_pinned()
    t = torch.ones(4)
    assert feed.stage(t).ready() is t
    assert device_feed(torch.device("cpu")) is device_feed(torch.device("cpu"))


def test_embed_clips_through_the_feed_gives_the_vectors_of_a_direct_encode(tmp_path):
    """Clips of two shapes (two staged groups) on a tiny CLIP model: the same vectors as each
    group stacked and encoded directly, to 1e-6."""
    from cleverward.engine.model import RewardModel
    from tests.api.tiny import FRAMES, make_tiny_checkpoint

    model = RewardModel.from_pretrained(make_tiny_checkpoint(tmp_path), device="cpu")
    h, w = model.video_encoder.frame_size
    rng = np.random.default_rng(1)
    clips = [rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8) for n in (FRAMES, 2, FRAMES)]
    got = model.embed_clips(clips).numpy()
    scorer = model.frames_scorer
    with torch.no_grad():
        full = scorer.embed_batch(torch.from_numpy(np.stack([clips[0], clips[2]]))).numpy()
        short = scorer.embed_batch(torch.from_numpy(np.stack([clips[1]]))).numpy()
    want = np.stack([full[0], short[0], full[1]])
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    staged = model.stage_clips(clips)  # what score-dir hands over on a GPU
    assert [rows for rows, _ in staged.groups] == [[0, 2], [1]]
    assert all(a is b for a, b in zip(staged, clips, strict=True))  # the retry's clips
    np.testing.assert_allclose(model.embed_clips(staged).numpy(), want, atol=1e-6, rtol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_the_copy_runs_on_a_side_stream_while_the_compute_stream_is_busy():
    """Batch i+1 is staged while a long matmul chain of 'batch i' is queued on the compute
    stream; the copy completes while that chain is still running (it overlaps, it is not
    queued behind it), and every staged batch arrives intact."""
    device = torch.device("cuda", torch.cuda.current_device())
    feed = DeviceFeed(device)
    assert feed.overlaps and feed.stream != torch.cuda.current_stream(device)
    rng = np.random.default_rng(2)
    batches = [rng.integers(0, 256, (8, 16, 224, 224, 3), dtype=np.uint8) for _ in range(4)]
    work = torch.randn(4096, 4096, device=device)
    sums, overlapped = [], []
    staged = feed.stage(batches[0])
    for i in range(len(batches)):
        x = staged.ready()
        assert x.is_cuda
        for _ in range(32):  # ~tens of ms queued: the next copy (~20 MB) must not wait for it
            work = torch.tanh(work @ work)
        busy = torch.cuda.Event()
        busy.record(torch.cuda.current_stream(device))
        if i + 1 < len(batches):
            staged = feed.stage(batches[i + 1])
            assert staged.event is not None
            staged.event.synchronize()  # the copy is done ...
            overlapped.append(not busy.query())  # ... while the compute stream still works
        sums.append(x.to(torch.int64).sum())
    torch.cuda.synchronize(device)
    assert [int(s) for s in sums] == [int(b.astype(np.int64).sum()) for b in batches]
    assert all(overlapped), overlapped
