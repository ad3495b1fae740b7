"""Fused reward kernel (Triton) against eager torch (reward_matrix_ref), same inputs, same run.

    python benchmarks/bench_kernel.py [--quick] [--json OUT]
    python -m cleverward.benchmarks.bench_kernel [--quick]

Sizes: B = 4096 videos x P = 64 prompts, Dv = Dt = 384, E = 256, K = 7 scores (quick: B = 1024,
fp32 only; full: fp32 and bf16 inputs). Figures, from explicit formulas:

    FLOP  = 2 B Dv E + 2 P Dt E + 2 B P K E      both projections + the K cosines per pair
            (normalisation, O((B + P) K E), left out)
    bytes = s (B Dv + P Dt + E (Dv + Dt) + 2 E + 2 K E) + 4 B P K
            compulsory traffic: every input read once (s bytes per element), R written once

GFLOP/s = FLOP / t and GB/s = bytes / t for both implementations, so eager torch's extra traffic
(it writes and re-reads the (B, K, E) and (P, K, E) unit vectors) shows as a lower GB/s. The
ratio is t_torch / t_triton. Without CUDA the kernel is not measured (the Triton interpreter
runs ~1000x slower than torch, its time means nothing) and the reference is timed on the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from cleverward.benchmarks.report import emit_json
from cleverward.kernels.fused_reward import (
    reward_matrix_ref,
    reward_matrix_triton,
    triton_cuda_ready,
)

FULL = {"B": 4096, "P": 64, "Dv": 384, "Dt": 384, "E": 256, "K": 7}
QUICK = {**FULL, "B": 1024}
NO_CUDA = "not measured: no CUDA device"


def flop(B: int, P: int, Dv: int, Dt: int, E: int, K: int) -> int:
    return 2 * B * Dv * E + 2 * P * Dt * E + 2 * B * P * K * E


def compulsory_bytes(B: int, P: int, Dv: int, Dt: int, E: int, K: int, itemsize: int) -> int:
    inputs = B * Dv + P * Dt + E * (Dv + Dt) + 2 * E + 2 * K * E
    return itemsize * inputs + 4 * B * P * K


def make_inputs(sizes: dict, dtype: torch.dtype, device: str, seed: int = 0) -> tuple:
    """(video, text, w_video, b_video, w_text, b_text, off_video, off_text), nn.Linear scale."""
    g = torch.Generator().manual_seed(seed)
    B, P, Dv, Dt, E, K = (sizes[n] for n in ("B", "P", "Dv", "Dt", "E", "K"))
    shapes = [(B, Dv), (P, Dt), (E, Dv), (E,), (E, Dt), (E,), (K, E), (K, E)]
    scales = [1.0, 1.0, Dv**-0.5, 0.1, Dt**-0.5, 0.1, 0.5, 0.5]
    return tuple(
        (s * torch.randn(*shape, generator=g)).to(device, dtype)
        for shape, s in zip(shapes, scales, strict=True)
    )


def time_ms(fn, device: str, reps: int, warmup: int = 2) -> float:
    """Median wall time of one call in ms (CUDA: events around each call, after a sync)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            torch.cuda.synchronize()
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)


def _figures(ms: float, n_flop: int, n_bytes: int) -> dict:
    s = ms / 1e3
    return {
        "ms": round(ms, 4),
        "gflops": round(n_flop / s / 1e9, 2),
        "gbps": round(n_bytes / s / 1e9, 3),
    }


def bench_dtype(sizes: dict, dtype: torch.dtype, device: str, reps: int) -> dict:
    args = make_inputs(sizes, dtype, device)
    n_flop = flop(**sizes)
    n_bytes = compulsory_bytes(**sizes, itemsize=torch.finfo(dtype).bits // 8)
    with torch.inference_mode():
        ref = _figures(time_ms(lambda: reward_matrix_ref(*args), device, reps), n_flop, n_bytes)
        res = {"flop": n_flop, "bytes": n_bytes, "torch_ref": ref}
        if device != "cuda":
            res["triton"] = NO_CUDA
            return res
        err = (reward_matrix_triton(*args) - reward_matrix_ref(*args)).abs().max().item()
        tri = _figures(time_ms(lambda: reward_matrix_triton(*args), device, reps), n_flop, n_bytes)
    res |= {
        "triton": tri,
        "ratio_torch_over_triton": round(ref["ms"] / tri["ms"], 2),
        "max_abs_err": err,
    }
    return res


def _device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    cpu = platform.processor() or platform.machine()
    return f"CPU {cpu}, {os.cpu_count()} cpus, {torch.get_num_threads()} torch threads"


def run(quick: bool = False) -> dict:
    """Both implementations on CUDA (the reference alone on CPU) -> figures per input dtype."""
    device = "cuda" if torch.cuda.is_available() and triton_cuda_ready() else "cpu"
    sizes = QUICK if quick else FULL
    dtypes = [torch.float32] if quick else [torch.float32, torch.bfloat16]
    reps = (20 if quick else 100) if device == "cuda" else (3 if quick else 5)
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "device": _device_name(device),
        "torch": torch.__version__,
        "sizes": sizes,
        "reps": reps,
        "results": {},
    }
    if device != "cuda":
        print(f"triton kernel: {NO_CUDA}; timing reward_matrix_ref on the CPU only", flush=True)
    for dtype in dtypes:
        name = str(dtype).removeprefix("torch.")
        out["results"][name] = res = bench_dtype(sizes, dtype, device, reps)
        print(f"{name}: {json.dumps(res)}", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="B = 1024, fp32 only")
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args(argv)
    emit_json(run(args.quick), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
