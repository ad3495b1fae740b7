"""The fused reward head (Triton) against a like-for-like torch reference and cuBLAS GEMMs.

    python benchmarks/bench_kernel.py [--quick] [--json OUT]
    python -m cleverward.benchmarks.bench_kernel [--quick]

Sizes: B = 4096 videos, Dv = Dt = 384, E = 256, K = 7 scores, P = 64 (a score-dir batch) and
P = 1024 (the issue's target; quick: P = 64 only). Implementations, same inputs, same (B, P, K)
fp32 output:
  triton     reward_matrix_triton: three launches, the last an fp16 split GEMM (B, 3E) x (3E, PK)
  engine     RewardHead.score_matrix on the device: the path score-dir runs (dispatch included)
  torch_ref  reward_matrix_ref: eager torch, fp32 (no TF32), the definition
  gemm_fp32  cuBLAS (B, E) x (E, PK) fp32, no TF32: the cosine FLOP at the reference's precision
  gemm_fp16  cuBLAS (B, 3E) x (3E, PK) fp16 -> fp32: the same tensor-core work the kernel does

    FLOP    = 2 B Dv E + 2 P Dt E + 2 B P K E     useful work (projections + K cosines per pair);
              every rate below uses it, so rates compare like for like
    TFLOP/s = FLOP / t;  fraction of peak = TFLOP/s / the card's dense fp16 tensor peak
              (what the kernel's GEMM runs on; the split makes its own work 3x the cosine FLOP)

Timing (cold_l2_ms): before each timed call a 256 MB buffer is zeroed (L2 flushed: the inputs
come from DRAM as in a real run), then a 100 us GPU sleep is queued so the host's launch cost
(Python, allocator, 3 launches) overlaps the sleep and falls outside the events; median of the
repetitions. triton.testing.do_bench (which also flushes L2, launch cost included) is reported
next to it for the kernel. Without CUDA nothing is measured: it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from cleverward.benchmarks.report import emit_json
from cleverward.kernels.fused_reward import (
    reward_matrix_ref,
    reward_matrix_triton,
    triton_cuda_ready,
)

BASE = {"B": 4096, "Dv": 384, "Dt": 384, "E": 256, "K": 7}
PROMPTS_FULL, PROMPTS_QUICK = (64, 1024), (64,)
NO_CUDA = "not measured: no CUDA device (or triton has no active GPU driver)"

# Dense (no sparsity) peak TFLOP/s from the vendors' data sheets: fp16 tensor, fp32 CUDA cores.
PEAKS = {
    "H200": (989.4, 66.9), "H100 SXM": (989.4, 66.9), "H100 80GB HBM3": (989.4, 66.9),
    "H100 PCIe": (756.0, 51.2), "H100 NVL": (835.0, 60.0), "A100": (312.0, 19.5),
    "L40S": (362.1, 91.6), "L4": (121.0, 30.3), "A10": (125.0, 31.2), "GH200": (989.4, 66.9),
}


def peak_tflops(name: str) -> tuple[float, float] | None:
    """(fp16 tensor, fp32) dense peaks for a device name, longest matching key first."""
    for key in sorted(PEAKS, key=len, reverse=True):
        if key.lower() in name.lower():
            return PEAKS[key]
    return None


def flop(B: int, P: int, Dv: int, Dt: int, E: int, K: int) -> int:
    return 2 * B * Dv * E + 2 * P * Dt * E + 2 * B * P * K * E


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


def cold_l2_ms(fn, reps: int = 30, warmup: int = 3, sleep_cycles: int = 200_000) -> float:
    """Median device time of fn() in ms: L2 flushed before each call, launch cost hidden."""
    flush = torch.empty(256 << 20, dtype=torch.int8, device="cuda")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        flush.zero_()
        torch.cuda._sleep(sleep_cycles)  # the GPU waits here while the host queues fn()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def _rate(ms: float, n_flop: int, peak: float | None) -> dict:
    tflops = n_flop / (ms / 1e3) / 1e12
    out = {"ms": round(ms, 4), "tflops": round(tflops, 2)}
    if peak:
        out["fraction_of_fp16_peak"] = round(tflops / peak, 3)
    return out


def _engine_head(sizes: dict, args: tuple):
    """A real RewardHead with the inputs' weights, on the device: what score-dir calls."""
    from cleverward.engine.reward_head import RewardHead, RewardHeadConfig

    head = RewardHead(RewardHeadConfig(sizes["Dv"], sizes["Dt"], sizes["E"], sizes["K"]))
    head = head.to(args[0].device)
    with torch.no_grad():
        for param, value in zip(head._params(), args[2:], strict=True):
            param.copy_(value)
    return head


def bench_size(sizes: dict, dtype: torch.dtype, reps: int) -> dict:
    B, P, E, K = sizes["B"], sizes["P"], sizes["E"], sizes["K"]
    args = make_inputs(sizes, dtype, "cuda")
    n_flop = flop(**sizes)
    peak = peak_tflops(torch.cuda.get_device_name())
    fp16_peak = peak[0] if peak else None
    head = _engine_head(sizes, args)
    a32 = torch.randn(B, E, device="cuda")
    b32 = torch.randn(E, P * K, device="cuda")
    a16 = torch.randn(B, 3 * E, device="cuda", dtype=torch.float16)
    b16 = torch.randn(3 * E, P * K, device="cuda", dtype=torch.float16)
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32 (torch's default)
    with torch.inference_mode():
        want = reward_matrix_ref(*[a.float() for a in args])
        got = reward_matrix_triton(*args)
        timings = {
            "triton": cold_l2_ms(lambda: reward_matrix_triton(*args), reps),
            "engine": cold_l2_ms(lambda: head.score_matrix(args[0], args[1]), reps),
            "torch_ref": cold_l2_ms(lambda: reward_matrix_ref(*args), reps),
            "gemm_fp32": cold_l2_ms(lambda: a32 @ b32, reps),
            "gemm_fp16": cold_l2_ms(lambda: torch.matmul(a16, b16).float(), reps),
        }
        import triton.testing

        do_bench = triton.testing.do_bench(lambda: reward_matrix_triton(*args), warmup=5, rep=50)
    res = {"sizes": sizes, "dtype": str(dtype).removeprefix("torch."), "flop": n_flop,
           "max_abs_err_vs_ref": float((got - want).abs().max())}
    res |= {name: _rate(ms, n_flop, fp16_peak) for name, ms in timings.items()}
    res["triton_do_bench_ms"] = round(float(do_bench), 4)
    res["triton_over_gemm_fp16"] = round(timings["gemm_fp16"] / timings["triton"], 3)
    res["triton_over_gemm_fp32"] = round(timings["gemm_fp32"] / timings["triton"], 3)
    res["torch_ref_over_triton"] = round(timings["torch_ref"] / timings["triton"], 2)
    return res


def run(quick: bool = False) -> dict:
    """Every implementation at each size on CUDA; without CUDA, a record saying so."""
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "torch": torch.__version__}
    if not (torch.cuda.is_available() and triton_cuda_ready()):
        print(f"bench_kernel: {NO_CUDA}", flush=True)
        return out | {"device": None, "results": NO_CUDA}
    out["device"] = torch.cuda.get_device_name()
    out["peak_tflops_fp16_fp32"] = peak_tflops(out["device"])
    out["results"] = []
    dtypes = [torch.float32] if quick else [torch.float32, torch.bfloat16]
    for p in PROMPTS_QUICK if quick else PROMPTS_FULL:
        for dtype in dtypes:
            res = bench_size(BASE | {"P": p}, dtype, reps=10 if quick else 30)
            out["results"].append(res)
            print(json.dumps(res), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="P = 64, fp32 only")
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args(argv)
    emit_json(run(args.quick), args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
