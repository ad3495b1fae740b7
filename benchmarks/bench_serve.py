"""Loopback load test of `cleverward serve` against in-process batched score_frames.

    python -m cleverward.benchmarks.bench_serve [--clients 32] [--requests 20] [--json out.json]

One process: the server (uvicorn + the dynamic batcher) on a background thread, `clients`
asyncio clients (RewardClient.ascore) each sending `requests` requests of one clip, one after
the other. A clip is `frames` uint8 frames at the model's input size (224 x 224 for the
default: what a generator or decoder hands over), as .npy bytes; the prompts cycle through 8.

Reported: every request answered (count), the largest |served - in-process| score, latency
p50 / p99 per request (client side: encode, upload, queue, model, response), throughput in
clips/s (clips / wall time of the whole load), and the same clips scored in-process by
score_frames in batches of max_batch (the reference: clips / its wall time). The ratio is
served / in-process throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import numpy as np

from cleverward.benchmarks.report import emit_json
from cleverward.benchmarks.suite import cpu_name

PROMPTS = ["a corgi surfing a wave at sunset", "a bowl of fruit on a kitchen table",
           "cyclists riding past a railing", "fireworks over a city at night",
           "a chef cooking pasta", "an astronaut on the moon", "a cat asleep on a sofa",
           "rain falling on a busy street"]


def make_clips(model, n: int, frames: int, seed: int = 0) -> np.ndarray:
    h, w = model.video_encoder.frame_size
    rng = np.random.default_rng(seed)
    # Smooth random images (not white noise): a few colour blobs, so MobileNet's top classes
    # vary between clips as they would for real frames.
    base = rng.integers(0, 256, (n, frames, h // 16, w // 16, 3), dtype=np.uint8)
    return base.repeat(16, axis=2).repeat(16, axis=3)  # (n, frames, h, w, 3)


def in_process(model, clips: np.ndarray, prompts: list[str], batch: int) -> tuple[float, dict]:
    start = time.perf_counter()
    parts = [model.score_frames(clips[i : i + batch], prompts[i : i + batch])["overall"]
             for i in range(0, len(clips), batch)]
    seconds = time.perf_counter() - start
    return seconds, np.concatenate([p.numpy() for p in parts])


async def load(url: str, clips: np.ndarray, prompts: list[str], clients: int,
               requests: int) -> tuple[float, list[float], np.ndarray]:
    from cleverward.client import RewardClient

    client = RewardClient(url, timeout_s=600)
    got = np.full(len(clips), np.nan, np.float32)
    latencies: list[float] = []

    async def one(c: int) -> None:
        import httpx

        async with httpx.AsyncClient(timeout=600, headers=client.headers) as http:
            for r in range(requests):
                i = c * requests + r
                t0 = time.perf_counter()
                scores = await client._apost(http, client._frames_files(clips[i : i + 1]),
                                             [prompts[i]], False)
                latencies.append(time.perf_counter() - t0)
                got[i] = scores["overall"][0]

    start = time.perf_counter()
    await asyncio.gather(*[one(c) for c in range(clients)])
    return time.perf_counter() - start, latencies, got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--frames", type=int, default=None, help="frames a clip (model's)")
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    from cleverward.engine.serve import RunningServer, ServeConfig, load_model

    cfg = ServeConfig(model=args.model, port=0, max_batch=args.max_batch,
                      max_wait_ms=args.max_wait_ms, max_queue=max(64, args.clients * 2),
                      max_uploads=args.clients * 2 + 8)
    model = load_model(cfg)
    n = args.clients * args.requests
    clips = make_clips(model, n, args.frames or model.cfg.frames)
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(n)]
    ref_s, ref = in_process(model, clips, prompts, args.max_batch)
    with RunningServer(model, cfg) as srv:
        wall, latencies, got = asyncio.run(load(srv.url, clips, prompts, args.clients,
                                                args.requests))
    lat = np.array(latencies) * 1000
    emit_json({
        "machine": f"{cpu_name()}, {os.cpu_count()} cores, load average "
                   f"{[round(x, 1) for x in os.getloadavg()]}",
        "model": args.model, "clients": args.clients, "requests_each": args.requests,
        "clip": list(clips.shape[1:]), "max_batch": args.max_batch,
        "max_wait_ms": args.max_wait_ms,
        "answered": int(np.isfinite(got).sum()), "sent": n,
        "max_abs_diff_vs_in_process": float(np.nanmax(np.abs(got - ref))),
        "latency_ms": {"p50": round(float(np.percentile(lat, 50)), 1),
                       "p99": round(float(np.percentile(lat, 99)), 1)},
        "served_clips_per_s": round(n / wall, 2),
        "in_process_clips_per_s": round(n / ref_s, 2),
        "ratio": round((n / wall) / (n / ref_s), 3),
        "served_wall_s": round(wall, 2), "in_process_wall_s": round(ref_s, 2),
    }, args.json)


if __name__ == "__main__":
    main()
