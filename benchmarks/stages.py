"""Stage benchmarks: each stage of the engine alone, in hardware units, next to its own limit.

Every function returns a dict of figures; `benchmarks.suite` runs them on one corpus and puts them
in one table. Each figure's formula is written next to its measurement. Times are the best of a
few runs (the least disturbed by whatever else the machine runs).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

MOBILENET_GFLOP_PER_FRAME = 0.30 * 2  # ~300 M multiply-adds per 224x224 frame = 0.6 GFLOP


def best_of(fn, repeat: int = 3) -> float:
    """Best wall time of `repeat` runs of fn()."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_rate(n: int = 1024, repeat: int = 5) -> dict:
    """fp32 GEMM rate of torch on this CPU, all its threads: 2 n^3 FLOP per (n x n) @ (n x n)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    seconds = best_of(lambda: a @ b, repeat)
    return {"n": n, "seconds": seconds, "gflops": 2 * n**3 / seconds / 1e9,
            "threads": torch.get_num_threads()}


# --- decode --------------------------------------------------------------------------------


def _count_frames(path: str) -> dict:
    """Packets of the clip, and those a sampled decode must send to the decoder at least."""
    import av

    from cleverward.engine.decode.pyav_decoder import is_disposable, nal_length_size, probe
    from cleverward.engine.decode.sampling import uniform_indices

    with av.open(path) as c:
        stream = c.streams.video[0]
        index = probe(c)
        length_size = nal_length_size(stream.codec_context)
        c.seek(0)
        packets = [(p.pts, bool(length_size) and is_disposable(p, length_size))
                   for p in c.demux(stream) if p.size]
    targets = {index.pts[i] for i in uniform_indices(len(index.pts), 8)}
    last = max(targets)
    # to reach the last sample: every non-disposable frame up to it (x264 writes no P-frame
    # that depends on a later frame, so "up to" is in presentation order) plus the samples
    needed = sum(1 for pts, disp in packets if pts <= last and (not disp or pts in targets))
    return {"frames": len(packets), "needed": needed}


def _decode_seek_each(path: str, cfg) -> np.ndarray:
    """The textbook seek sampler: for each sample, seek to it and decode forward until it
    appears. With one GOP per clip every seek lands on frame 0, so the clip is decoded ~N/2
    times over; with short GOPs this is how a sparse sample is read cheaply."""
    import av

    from cleverward.engine.decode.pyav_decoder import _to_rgb, probe
    from cleverward.engine.decode.sampling import uniform_indices

    with av.open(path) as c:
        stream = c.streams.video[0]
        stream.thread_type = "NONE"
        index = probe(c)
        out = []
        for i in uniform_indices(len(index.pts), cfg.frames):
            c.seek(int(index.pts[i]), stream=stream, backward=True)
            for frame in c.decode(stream):
                if frame.pts >= index.pts[i]:
                    out.append(_to_rgb(frame, cfg))
                    break
    return np.stack(out)


def _decode_sequential(path: str, cfg) -> np.ndarray:
    """Decode every frame from the start, convert only the sampled ones."""
    import av

    from cleverward.engine.decode.pyav_decoder import _decode_sequential as seq

    with av.open(path) as c:
        c.streams.video[0].thread_type = "NONE"
        return np.stack(seq(c, cfg.frames, cfg))


def _decode_raw(path: str) -> int:
    """Every frame through the decoder, no conversion: the decoder's own limit."""
    import av

    with av.open(path) as c:
        c.streams.video[0].thread_type = "NONE"
        return sum(1 for _ in c.decode(video=0))


def decode_stage(videos: list[Path], workers: int, frames: int = 8, repeat: int = 2,
                 seek_each_videos: int = 2) -> dict:
    """The PyAV decoder on one stream (FFmpeg single-threaded) per sampling strategy, then the
    engine's decode pool alone (`workers` threads, the whole machine), in sampled clips/s.

    limit: a sampled decode must push `needed` frames through the decoder (see _count_frames),
    at the raw rate; efficiency = (needed / raw frames/s) / measured seconds."""
    from cleverward.engine.config import DecodeConfig
    from cleverward.engine.decode.pyav_decoder import PyAVDecoder
    from cleverward.engine.decode_pool import decode_stream

    cfg = DecodeConfig(frames=frames, decoder="pyav")
    paths = [str(v) for v in videos]
    engine = PyAVDecoder(thread_type="NONE")
    counts = [_count_frames(p) for p in paths]
    total = sum(c["frames"] for c in counts)
    needed = sum(c["needed"] for c in counts)
    t_raw = best_of(lambda: [_decode_raw(p) for p in paths], repeat)
    t_plan = best_of(lambda: [engine.decode(p, cfg) for p in paths], repeat)
    t_seq = best_of(lambda: [_decode_sequential(p, cfg) for p in paths], repeat)
    few = paths[:seek_each_videos]
    t_seek = best_of(lambda: [_decode_seek_each(p, cfg) for p in few], 1)
    items = [(p, p) for p in paths]
    t_pool = best_of(lambda: list(decode_stream(items, cfg, workers=workers)), repeat)
    raw_fps = total / t_raw
    n = len(paths)
    return {
        "videos": n, "frames": total, "frames_decoded_by_plan": needed,
        "raw_frames_per_s": raw_fps,
        "plan": {"videos_per_s": n / t_plan, "efficiency_vs_raw": (needed / raw_fps) / t_plan},
        "sequential": {"videos_per_s": n / t_seq},
        "seek_each": {"videos_per_s": len(few) / t_seek, "videos": len(few)},
        "pool": {"videos_per_s": n / t_pool, "workers": workers,
                 "efficiency_vs_raw": (needed / raw_fps / workers) / t_pool},
    }


def dali_stage(videos: list[Path], frames: int = 8, repeat: int = 2) -> dict:
    """DALI next to PyAV on the same clips, where DALI can decode them here (its CPU decoder
    has VP8/VP9/MJPEG only; H.264 needs NVDEC on a GPU)."""
    from cleverward.engine.config import DecodeConfig
    from cleverward.engine.decode import dali_decoder
    from cleverward.engine.decode.pyav_decoder import PyAVDecoder

    decoder = dali_decoder.get_decoder()
    if decoder is None:
        return {"available": False, "why": "nvidia-dali is not installed"}
    paths = [str(v) for v in videos]
    if not all(decoder.can_decode(p) for p in paths):
        return {"available": False,
                "why": f"DALI on {decoder.device} cannot decode these clips' codec"}
    cfg = DecodeConfig(frames=frames)
    decoder.decode(paths[0], cfg)  # pipeline build
    pyav = PyAVDecoder(thread_type="NONE")
    t_dali = best_of(lambda: [decoder.decode(p, cfg) for p in paths], repeat)
    t_pyav = best_of(lambda: [pyav.decode(p, cfg) for p in paths], repeat)
    return {"available": True, "device": decoder.device, "videos": len(paths),
            "dali_videos_per_s": len(paths) / t_dali, "pyav_videos_per_s": len(paths) / t_pyav}


# --- encoders ------------------------------------------------------------------------------


def video_encoder_stage(clips: list[np.ndarray], gemm_gflops: float, batches=(1, 8),
                        runtimes=("ort", "torch"), repeat: int = 2) -> dict:
    """Frame encoder + ConSE alone on decoded clips, per runtime and batch (clips per call):
    clips/s, and GFLOP/s = frames x 0.6 GFLOP / s against the GEMM rate (the CPU's fp32 limit;
    MobileNetV2's depthwise layers cannot reach it: they do ~1/100 the FLOP per byte)."""
    from cleverward.engine.encoders.conse import ConSEVideoEncoder

    out: dict = {}
    n_frames = sum(len(c) for c in clips)
    for runtime in runtimes:
        enc = ConSEVideoEncoder(runtime=runtime)
        enc.encode(clips[:1])  # warm-up: session / weights
        for batch in batches:
            def run(enc=enc, batch=batch):
                for i in range(0, len(clips), batch):
                    enc.encode(clips[i : i + batch])

            seconds = best_of(run, repeat)
            gflops = n_frames * MOBILENET_GFLOP_PER_FRAME / seconds
            out[f"{runtime}_b{batch}"] = {
                "runtime": runtime, "batch": batch, "videos_per_s": len(clips) / seconds,
                "frames_per_s": n_frames / seconds, "gflops": gflops,
                "vs_gemm": gflops / gemm_gflops}
    return out


def text_encoder_stage(model, prompts: list[str], repeat: int = 2) -> dict:
    model.encode_texts(prompts[:2])
    seconds = best_of(lambda: model.encode_texts(prompts), repeat)
    return {"backend": model.backend, "prompts": len(prompts),
            "prompts_per_s": len(prompts) / seconds, "seconds": seconds}


def scoring_stage(model, b: int = 4096, p: int = 64, repeat: int = 3) -> dict:
    """Reward head on cached embeddings, (B videos x P prompts x K scores).

    FLOP = 2 B Dv E + 2 P Dt E (projections) + 2 K B P E (cosines)."""
    cfg = model.head.cfg
    rng = np.random.default_rng(0)
    video = rng.standard_normal((b, cfg.video_dim)).astype(np.float32)
    text = rng.standard_normal((p, cfg.text_dim)).astype(np.float32)
    model.score(video[:8], text)
    seconds = best_of(lambda: model.score(video, text), repeat)
    e, k = cfg.embed_dim, cfg.num_scores
    flop = 2 * b * cfg.video_dim * e + 2 * p * cfg.text_dim * e + 2 * k * b * p * e
    return {"B": b, "P": p, "seconds": seconds, "gflops": flop / seconds / 1e9,
            "pairs_per_s": b * p / seconds}


def faiss_stage(n: int = 100_000, d: int = 256, queries: int = 64) -> dict:
    """FlatIP: build, and search (2 n d FLOP per query) against the GEMM rate."""
    import faiss

    rng = np.random.default_rng(0)
    xb = rng.standard_normal((n, d)).astype(np.float32)
    faiss.normalize_L2(xb)
    xq = xb[:queries].copy()
    index = faiss.IndexFlatIP(d)
    t_build = best_of(lambda: index.reset() or index.add(xb), 1)
    t_search = best_of(lambda: index.search(xq, 10), 3)
    t_one = best_of(lambda: index.search(xq[:1], 10), 3)
    return {"n": n, "d": d, "build_s": t_build, "queries": queries,
            "queries_per_s": queries / t_search, "one_query_ms": t_one * 1e3,
            "gflops": 2 * n * d * queries / t_search / 1e9}


def training_stage(model, pairs: int = 4096, steps: int = 20, batch: int = 256,
                   repeat: int = 2) -> dict:
    """Head training steps on cached embeddings (Bradley-Terry), pairs/s. Plain torch AdamW: the
    step cost the DeepSpeed engine wraps on one CPU process."""
    import torch.nn.functional as F

    cfg = model.head.cfg
    g = torch.Generator().manual_seed(0)
    vc = torch.randn(pairs, cfg.video_dim, generator=g)
    vr = torch.randn(pairs, cfg.video_dim, generator=g)
    t = torch.randn(pairs, cfg.text_dim, generator=g)
    head = type(model.head)(cfg)
    head.load_state_dict(model.head.state_dict())
    head.train()
    opt = torch.optim.AdamW(head.parameters(), lr=1e-4)

    def run():
        for s in range(steps):
            i = (s * batch) % pairs
            sl = slice(i, i + batch)
            d = head.score_pairs(vc[sl], t[sl])[:, 0] - head.score_pairs(vr[sl], t[sl])[:, 0]
            loss = -F.logsigmoid(head.logit_scale.exp() * d).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    seconds = best_of(run, repeat)
    return {"pairs_per_s": steps * batch / seconds, "steps": steps, "batch": batch}


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
