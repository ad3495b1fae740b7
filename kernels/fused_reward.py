"""Fused reward scoring: both projections, the per-score offsets, L2 normalisation and the cosine.

For B video embeddings and P text embeddings the reward tensor is

    pv[b, k] = normalize(V[b] @ Wv.T + bv + Av[k])        # (B, K, E)
    pt[p, k] = normalize(T[p] @ Wt.T + bt + At[k])        # (P, K, E)
    R[b, p, k] = <pv[b, k], pt[p, k]>                     # (B, P, K), fp32

K is the number of scores (overall + the canonical dimensions), E the shared width (256).
`reward_matrix_ref` is the definition (pure torch, differentiable, fp32); `reward_matrix_triton`
runs the fused Triton kernel (CUDA, or CPU tensors under TRITON_INTERPRET=1 for tests);
`reward_matrix` picks the kernel for CUDA tensors and the reference otherwise.

Triton is imported on the first launch, not at import: `import cleverward.kernels` stays cheap
(~0.2 s saved) and works where triton is absent. TRITON_INTERPRET must be set before triton is
first imported (triton.language decorates its own helpers then); this module's kernel is decorated
on first launch, so the engine may have imported this module before.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    import triton.language as tl  # bound for real by _jitted_kernel() before the first launch

SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
MAX_EMBED_DIM = 512  # E is padded to a power of two and held in registers: (BLOCK_N, E_PAD) fp32


def reward_matrix_ref(
    video: torch.Tensor,  # (B, Dv)
    text: torch.Tensor,  # (P, Dt)
    w_video: torch.Tensor,  # (E, Dv)
    b_video: torch.Tensor,  # (E,)
    w_text: torch.Tensor,  # (E, Dt)
    b_text: torch.Tensor,  # (E,)
    off_video: torch.Tensor,  # (K, E)
    off_text: torch.Tensor,  # (K, E)
    eps: float = 1e-12,
) -> torch.Tensor:
    """Reference reward tensor (B, P, K) in fp32; inputs of any float dtype."""
    f32 = torch.float32
    pv = video.to(f32) @ w_video.to(f32).T + b_video.to(f32)  # (B, E)
    pt = text.to(f32) @ w_text.to(f32).T + b_text.to(f32)  # (P, E)
    pv = F.normalize(pv[:, None, :] + off_video.to(f32)[None], dim=-1, eps=eps)  # (B, K, E)
    pt = F.normalize(pt[:, None, :] + off_text.to(f32)[None], dim=-1, eps=eps)  # (P, K, E)
    return torch.einsum("bke,pke->bpk", pv, pt)  # (B, P, K)


# Decorated with @triton.jit by _jitted_kernel() on first use (see the module docstring).
#
# What is computed where. The kernel runs twice, as two specialisations of this one source:
#   PHASE 0, grid cdiv(P, BLOCK_N): project BLOCK_N prompts, add At[k], normalise, store the unit
#     vectors into a (K, P, E) fp32 scratch: P*K*E*4 bytes (458 KB at P=64, K=7, E=256).
#   PHASE 1, grid cdiv(B, BLOCK_N): project BLOCK_N videos into registers (fp32 accumulate over
#     Dv in BLOCK_D chunks); for each k add Av[k], normalise, and for every BLOCK_P tile of
#     prompts load pt[:, k] from the scratch, one tl.dot over E, store R[rows, tile, k].
# The video side (the big one, B up to 10^5+) never leaves registers: writing pv would cost
# B*K*E*4 bytes each way, 4x the whole output at E=256, K=7 (B*P*K*4 bytes, P=64). The text side
# is written once because every video tile needs all of it: recomputing it per program would
# redo 2*P*Dt*E FLOP cdiv(B, BLOCK_N) times, at the realistic sizes (BLOCK_N=32, P=64) as much
# as the video projection and the cosines together (12.6 vs 6.3 + 7.3 MFLOP per program), and
# hold a second (BLOCK_P, E_PAD) accumulator; the scratch is E/B of the output's bytes and stays
# in L2 across programs. Phase 0 is a tiny launch (cdiv(P, 32) programs) before phase 1.
# Each phase-1 program also re-reads Wv (E*Dv elements, from L2) once per BLOCK_N videos;
# BLOCK_N=64 would halve that at twice the registers (untuned: no GPU here).
# Stores of R for one k are strided by K floats; the 7 passes over a tile fill the same L2 lines,
# so DRAM sees each line once.
def _fused_reward_kernel(
    x_ptr,  # (N, D) this phase's rows: text (phase 0) or video (phase 1), any float dtype
    w_ptr,  # (E, D)
    b_ptr,  # (E,)
    off_ptr,  # (K, E)
    unit_text_ptr,  # (K, P, E) fp32: written by phase 0, read by phase 1
    out_ptr,  # (B, P, K) fp32, B = N: phase 1 only
    N,
    D,
    E,
    K,
    P,
    eps,
    BLOCK_N: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_D: tl.constexpr,
    E_PAD: tl.constexpr,
    PHASE: tl.constexpr,
    PROJ_PRECISION: tl.constexpr,
    COS_PRECISION: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)  # (BLOCK_N,)
    row_ok = rows < N
    rows64 = rows.to(tl.int64)  # B*P*K overflows int32 past ~300k videos at P=1024
    cols = tl.arange(0, E_PAD)  # (E_PAD,)
    col_ok = cols < E  # padded columns stay exactly 0: masked W, bias, offsets
    ds = tl.arange(0, BLOCK_D)

    # Projection; inputs are converted to fp32 after loading (bf16 arithmetic is wrong in the
    # interpreter). For 16-bit inputs tf32 is exact (same or wider mantissa), fp32 takes tf32x3.
    acc = tl.zeros((BLOCK_N, E_PAD), dtype=tl.float32)
    for d0 in range(0, D, BLOCK_D):
        d = d0 + ds
        d_ok = d < D
        x = tl.load(
            x_ptr + rows64[:, None] * D + d[None, :],
            mask=row_ok[:, None] & d_ok[None, :],
            other=0.0,
        ).to(tl.float32)  # (BLOCK_N, BLOCK_D)
        w = tl.load(
            w_ptr + cols[None, :] * D + d[:, None],
            mask=col_ok[None, :] & d_ok[:, None],
            other=0.0,
        ).to(tl.float32)  # (BLOCK_D, E_PAD) = W[:, d].T
        acc = tl.dot(x, w, acc, input_precision=PROJ_PRECISION)
    acc += tl.load(b_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]

    ps = tl.arange(0, BLOCK_P)
    for k in range(K):
        off = tl.load(off_ptr + k * E + cols, mask=col_ok, other=0.0).to(tl.float32)  # (E_PAD,)
        y = acc + off[None, :]  # (BLOCK_N, E_PAD)
        norm = tl.sqrt(tl.sum(y * y, axis=1))  # (BLOCK_N,)
        y = y / tl.maximum(norm, eps)[:, None]  # as F.normalize: x / max(||x||, eps)
        if PHASE == 0:
            tl.store(
                unit_text_ptr + (k * N + rows64)[:, None] * E + cols[None, :],
                y,
                mask=row_ok[:, None] & col_ok[None, :],
            )
        else:
            for p0 in range(0, P, BLOCK_P):
                p = p0 + ps
                p_ok = p < P
                t = tl.load(
                    unit_text_ptr + (k * P + p)[:, None] * E + cols[None, :],
                    mask=p_ok[:, None] & col_ok[None, :],
                    other=0.0,
                )  # (BLOCK_P, E_PAD)
                r = tl.dot(y, tl.trans(t), input_precision=COS_PRECISION)  # (BLOCK_N, BLOCK_P)
                tl.store(
                    out_ptr + (rows64[:, None] * P + p[None, :]) * K + k,
                    r,
                    mask=row_ok[:, None] & p_ok[None, :],
                )


def _interpret_requested() -> bool:
    import triton

    return bool(triton.knobs.runtime.interpret)


@functools.cache
def _jitted_kernel(interpret: bool):
    """_fused_reward_kernel decorated for one TRITON_INTERPRET setting (read by triton.jit)."""
    global tl
    import triton
    import triton.language

    # triton.language's own @jit helpers (tl.sum) were decorated when triton was imported.
    if interpret and isinstance(triton.language.standard.sum, triton.runtime.JITFunction):
        raise RuntimeError(
            "reward_matrix_triton: TRITON_INTERPRET=1 was set after triton was imported; "
            "set it before the first `import triton` (tests/kernels/conftest.py does)"
        )
    tl = triton.language  # the kernel body and its annotations resolve `tl` in this module
    return triton.jit(_fused_reward_kernel)


@functools.cache
def triton_cuda_ready() -> bool:
    """True if triton imports and has an active GPU driver (cached for the process)."""
    try:
        import triton

        triton.runtime.driver.active.get_current_target()
    except (ImportError, RuntimeError):
        return False
    return True


def _pow2(n: int) -> int:
    return 1 << max(0, n - 1).bit_length()


def _cdiv(n: int, d: int) -> int:
    return -(-n // d)


def _check(video, text, w_video, b_video, w_text, b_text, off_video, off_text) -> None:
    named = {
        "video": video, "text": text, "w_video": w_video, "b_video": b_video,
        "w_text": w_text, "b_text": b_text, "off_video": off_video, "off_text": off_text,
    }  # fmt: skip
    for name, t in named.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"reward_matrix_triton: {name} must be a torch.Tensor, got {type(t)}")
        if t.dtype not in SUPPORTED_DTYPES:
            raise TypeError(
                f"reward_matrix_triton: {name} has dtype {t.dtype}; "
                "supported: float32, float16, bfloat16"
            )
        if t.device != video.device:
            raise ValueError(
                f"reward_matrix_triton: all tensors must be on one device; "
                f"video is on {video.device}, {name} on {t.device}"
            )
    if video.dim() != 2 or text.dim() != 2:
        raise ValueError(
            f"reward_matrix_triton: video must be (B, Dv) and text (P, Dt), "
            f"got {tuple(video.shape)} and {tuple(text.shape)}"
        )
    (dv, dt), e, k = (video.shape[1], text.shape[1]), w_video.shape[0], off_video.shape[0]
    want = {
        "w_video": (e, dv), "b_video": (e,), "w_text": (e, dt), "b_text": (e,),
        "off_video": (k, e), "off_text": (k, e),
    }  # fmt: skip
    sym = {"w_video": "(E, Dv)", "b_video": "(E,)", "w_text": "(E, Dt)", "b_text": "(E,)"}
    sym |= {"off_video": "(K, E)", "off_text": "(K, E)"}
    for name, shape in want.items():
        if tuple(named[name].shape) != shape:
            raise ValueError(
                f"reward_matrix_triton: {name} must be {sym[name]} = {shape} "
                f"(Dv={dv}, Dt={dt}, E={e}, K={k} from video, text, w_video, off_video), "
                f"got {tuple(named[name].shape)}"
            )
    if e > MAX_EMBED_DIM:
        raise ValueError(
            f"reward_matrix_triton: E={e} > {MAX_EMBED_DIM} does not fit in registers; "
            "use reward_matrix_ref"
        )


def _launch_device_ok(device: torch.device) -> None:
    if device.type == "cuda" or (device.type == "cpu" and _interpret_requested()):
        return
    raise ValueError(
        f"reward_matrix_triton: tensors on {device} need CUDA, or CPU with TRITON_INTERPRET=1 "
        "set before triton is imported (tests only: ~1000x slower than reward_matrix_ref)"
    )


def _precisions(device: torch.device, *tensors: torch.Tensor) -> tuple[str, str]:
    """(projection, cosine) tl.dot input_precision. tf32 holds fp16/bf16 values exactly, so
    16-bit projections lose nothing; fp32 inputs and the unit vectors take tf32x3 (~fp32).
    ROCm has no tf32x3: ieee."""
    if device.type == "cuda" and torch.version.hip:
        return "ieee", "ieee"
    sixteen = all(t.dtype != torch.float32 for t in tensors)
    return ("tf32" if sixteen else "tf32x3"), "tf32x3"


def reward_matrix_triton(
    video: torch.Tensor,  # (B, Dv)
    text: torch.Tensor,  # (P, Dt)
    w_video: torch.Tensor,  # (E, Dv)
    b_video: torch.Tensor,  # (E,)
    w_text: torch.Tensor,  # (E, Dt)
    b_text: torch.Tensor,  # (E,)
    off_video: torch.Tensor,  # (K, E)
    off_text: torch.Tensor,  # (K, E)
    eps: float = 1e-12,
) -> torch.Tensor:
    """reward_matrix_ref's (B, P, K) fp32 via the fused kernel. No autograd. Inputs fp32, fp16 or
    bf16 (mixed is fine), all on one CUDA device, or on CPU under TRITON_INTERPRET=1."""
    _check(video, text, w_video, b_video, w_text, b_text, off_video, off_text)
    if not eps > 0:
        raise ValueError(f"reward_matrix_triton: eps must be > 0, got {eps}")
    device = video.device
    _launch_device_ok(device)
    (b, dv), (p, dt), e, k = video.shape, text.shape, w_video.shape[0], off_video.shape[0]
    out = torch.empty((b, p, k), dtype=torch.float32, device=device)
    if out.numel() == 0:
        return out
    args = [t.detach().contiguous() for t in (video, text, w_video, b_video, w_text, b_text)]
    video, text, w_video, b_video, w_text, b_text = args
    off_video, off_text = off_video.detach().contiguous(), off_text.detach().contiguous()
    unit_text = torch.empty((k, p, e), dtype=torch.float32, device=device)  # (K, P, E)

    e_pad = max(16, _pow2(e))
    block_n = 32 if e_pad <= 256 else 16  # (BLOCK_N, E_PAD) fp32 accumulators in registers
    block_d = max(16, min(32, 8192 // e_pad))  # the W tile (BLOCK_D, E_PAD) stays <= 8K elements
    block_p = max(16, min(block_n, _pow2(p)))
    proj, cos = _precisions(device, video, text, w_video, w_text)
    kernel = _jitted_kernel(_interpret_requested())
    meta = dict(BLOCK_D=block_d, E_PAD=e_pad, PROJ_PRECISION=proj, COS_PRECISION=cos)
    meta |= dict(num_warps=4 if e_pad <= 128 else 8)
    bn_text = max(16, min(block_n, _pow2(p)))
    kernel[(_cdiv(p, bn_text),)](
        text, w_text, b_text, off_text, unit_text, out, p, dt, e, k, p, eps,
        BLOCK_N=bn_text, BLOCK_P=block_p, PHASE=0, **meta,
    )  # fmt: skip
    bn_video = max(16, min(block_n, _pow2(b)))
    kernel[(_cdiv(b, bn_video),)](
        video, w_video, b_video, off_video, unit_text, out, b, dv, e, k, p, eps,
        BLOCK_N=bn_video, BLOCK_P=block_p, PHASE=1, **meta,
    )  # fmt: skip
    return out


def _use_triton(tensors: tuple[torch.Tensor, ...]) -> bool:
    if not all(t.is_cuda for t in tensors):
        return False  # CPU: the BLAS reference, even under TRITON_INTERPRET=1 (tests only)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return False  # the kernel has no backward
    if tensors[2].shape[0] > MAX_EMBED_DIM or any(t.dtype not in SUPPORTED_DTYPES for t in tensors):
        return False
    return triton_cuda_ready()


def reward_matrix(
    video: torch.Tensor,  # (B, Dv)
    text: torch.Tensor,  # (P, Dt)
    w_video: torch.Tensor,  # (E, Dv)
    b_video: torch.Tensor,  # (E,)
    w_text: torch.Tensor,  # (E, Dt)
    b_text: torch.Tensor,  # (E,)
    off_video: torch.Tensor,  # (K, E)
    off_text: torch.Tensor,  # (K, E)
    eps: float = 1e-12,
) -> torch.Tensor:
    """Dispatch: the Triton kernel for CUDA tensors (no grad needed, triton with a driver), the
    BLAS reference otherwise. -> (B, P, K) fp32."""
    args = (video, text, w_video, b_video, w_text, b_text, off_video, off_text)
    if _use_triton(args):
        return reward_matrix_triton(*args, eps=eps)
    return reward_matrix_ref(*args, eps=eps)
