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
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    import triton.language as tl  # bound for real by _jitted_kernels() before the first launch

SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
MAX_EMBED_DIM = 512  # the projections hold (32, E_PAD) fp32 in registers, E padded to a power of 2


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


# What is computed where. Three launches, J = P*K:
#   _unit_text_kernel, grid cdiv(P, 32): project 32 prompts, add At[k], normalise; store the unit
#     vectors u split into fp16 (J, 3E) (row p*K + k, see _split_store) and c[j] = <Av[k], u[j]>.
#   _video_proj_kernel, grid cdiv(B, 32): project 32 videos, store pv / scale split into fp16
#     (B, 3E), the row scale, and the K inverse norms 1 / ||pv + Av[k]|| (B, K).
#   _fused_reward_kernel, grid (cdiv(B, BLOCK_N), cdiv(J, BLOCK_J)): a GEMM (B, 3E) x (3E, J) with
#     the epilogue (scale * dot + c) * inv; its (BLOCK_N, BLOCK_J) tile is a row-major block of
#     R (B, P, K), so the output, the big tensor (B*P*K*4 bytes, 117 MB at B=4096, P=1024), is
#     written once with coalesced stores.
# Memory traffic besides the output: the scratch, 6 bytes per element of (B + J, E), is 11% of
# R's bytes at P=64, K=7, E=256 and 0.6% at P=1024.
# A single kernel holding pv in registers (the earlier design) spilled: an fp32 (BLOCK_N, E)
# operand replicated across warps does not fit, and tensor-core dots want their reduction axis
# (E) streamed from shared memory, as here. Block sizes come from CONFIGS (autotuned on CUDA):
# each fits 101376 bytes of shared memory (L4 / A10 / L40S, sm_86/89) and compiles with no
# register spills for sm_80/86/89/90, as tests/kernels/test_offline_compile.py checks with ptxas
# and cuobjdump, no GPU needed.
# Decorated with @triton.jit by _jitted_kernels() on first use (see the module docstring).
def _project(x_ptr, w_ptr, b_ptr, ns, row_ok, cols, col_ok, D,
             BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, E_PAD: tl.constexpr,
             PRECISION: tl.constexpr):
    """x[ns] @ W.T + b -> (BLOCK_N, E_PAD) fp32, x_ptr at this program's first row (ns local,
    int32: per-element int64 offsets would double the address registers); padded rows and
    columns are exactly 0."""
    ds = tl.arange(0, BLOCK_D)
    acc = tl.zeros((BLOCK_N, E_PAD), dtype=tl.float32)
    for d0 in range(0, D, BLOCK_D):
        d = d0 + ds
        d_ok = d < D
        # Inputs are converted to fp32 after loading (bf16 arithmetic is wrong in the
        # interpreter). For 16-bit inputs tf32 is exact (same or wider mantissa).
        x = tl.load(x_ptr + (ns[:, None] * D + d[None, :]),
                    mask=row_ok[:, None] & d_ok[None, :], other=0.0).to(tl.float32)
        w = tl.load(w_ptr + cols[None, :] * D + d[:, None],
                    mask=col_ok[None, :] & d_ok[:, None], other=0.0).to(tl.float32)
        acc = tl.dot(x, w, acc, input_precision=PRECISION)  # w: (BLOCK_D, E_PAD) = W[:, d].T
    return acc + tl.load(b_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]


def _split_store(out_ptr, at, E, ok, y, HI_FIRST: tl.constexpr):
    """y (|y| <= 1, fp32) as three fp16 segments of a 3E-wide row, for one fp16 GEMM of depth 3E
    that gives 2^11 <a, u> = <a_hi, 2^11 u_hi> + <a_hi, u_lo> + <a_lo, u_hi>, lo = (y - hi) 2^11
    (22 significant bits in two halves; the lo.lo term, 2^-22 relative, is dropped).
    Video rows (HI_FIRST): [hi, hi, lo]; text rows: [2^11 hi, lo, hi] (2^11 hi <= 2048 is exact)."""
    hi = y.to(tl.float16)
    lo = ((y - hi.to(tl.float32)) * 2048.0).to(tl.float16)
    if HI_FIRST:
        tl.store(out_ptr + at, hi, mask=ok)
        tl.store(out_ptr + at + E, hi, mask=ok)
        tl.store(out_ptr + at + 2 * E, lo, mask=ok)
    else:
        tl.store(out_ptr + at, (hi.to(tl.float32) * 2048.0).to(tl.float16), mask=ok)
        tl.store(out_ptr + at + E, lo, mask=ok)
        tl.store(out_ptr + at + 2 * E, hi, mask=ok)


def _unit_text_kernel(
    x_ptr,  # (P, Dt) text embeddings, any float dtype
    w_ptr,  # (E, Dt)
    b_ptr,  # (E,)
    off_ptr,  # (K, E) text offsets
    off_video_ptr,  # (K, E) video offsets: for c
    u_ptr,  # (P*K, 3E) fp16 out, row p*K + k: u = normalize(T[p] @ Wt.T + bt + At[k]), split
    c_ptr,  # (P*K,) fp32 out: <Av[k], u>
    P, D, E, K, eps,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, E_PAD: tl.constexpr,
    PRECISION: tl.constexpr,
):
    row0 = tl.program_id(0) * BLOCK_N
    ns = tl.arange(0, BLOCK_N)  # (BLOCK_N,) prompts row0 + ns
    row_ok = ns < P - row0
    cols = tl.arange(0, E_PAD)
    col_ok = cols < E
    acc = _project(x_ptr + row0.to(tl.int64) * D, w_ptr, b_ptr, ns, row_ok, cols, col_ok, D,
                   BLOCK_N, BLOCK_D, E_PAD, PRECISION)  # (BLOCK_N, E_PAD)
    for k in range(K):
        y = acc + tl.load(off_ptr + k * E + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
        y = y / tl.maximum(tl.sqrt(tl.sum(y * y, axis=1)), eps)[:, None]  # as F.normalize
        j = (row0 + ns) * K + k  # (BLOCK_N,) rows of the (P*K, 3E) layout (P*K*3E < 2^31)
        _split_store(u_ptr, j[:, None] * (3 * E) + cols[None, :], E,
                     row_ok[:, None] & col_ok[None, :], y, False)
        av = tl.load(off_video_ptr + k * E + cols, mask=col_ok, other=0.0).to(tl.float32)
        tl.store(c_ptr + j, tl.sum(y * av[None, :], axis=1), mask=row_ok)


def _video_proj_kernel(
    x_ptr,  # (B, Dv) video embeddings, any float dtype
    w_ptr,  # (E, Dv)
    b_ptr,  # (E,)
    off_ptr,  # (K, E) video offsets
    a_ptr,  # (B, 3E) fp16 out: a = pv / scale, split (pv = V @ Wv.T + bv, before offsets)
    scale_ptr,  # (B,) fp32 out: a power of two >= max |pv[b]|, so |a| <= 1 (fp16 cannot overflow)
    inv_ptr,  # (B, K) fp32 out: 1 / max(||pv[b] + Av[k]||, eps)
    B, D, E, K, eps,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, E_PAD: tl.constexpr,
    PRECISION: tl.constexpr,
):
    row0 = tl.program_id(0) * BLOCK_N
    ns = tl.arange(0, BLOCK_N)  # (BLOCK_N,) videos row0 + ns
    row_ok = ns < B - row0
    cols = tl.arange(0, E_PAD)
    col_ok = cols < E
    base = row0.to(tl.int64)
    acc = _project(x_ptr + base * D, w_ptr, b_ptr, ns, row_ok, cols, col_ok, D,
                   BLOCK_N, BLOCK_D, E_PAD, PRECISION)  # (BLOCK_N, E_PAD)
    for k in range(K):  # norms taken directly, not by a cancellation-prone expansion
        y = acc + tl.load(off_ptr + k * E + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
        inv = 1.0 / tl.maximum(tl.sqrt(tl.sum(y * y, axis=1)), eps)  # (BLOCK_N,)
        tl.store(inv_ptr + base * K + (ns * K + k), inv, mask=row_ok)
    amax = tl.max(tl.abs(acc), axis=1)  # (BLOCK_N,)
    scale = tl.where(amax > 0, tl.exp2(tl.ceil(tl.log2(tl.maximum(amax, 1e-30)))), 1.0)
    tl.store(scale_ptr + row0 + ns, scale, mask=row_ok)
    _split_store(a_ptr + base * (3 * E), ns[:, None] * (3 * E) + cols[None, :], E,
                 row_ok[:, None] & col_ok[None, :], acc / scale[:, None], True)


def _fused_reward_kernel(
    a_ptr,  # (B, 3E) fp16, from _video_proj_kernel
    scale_ptr,  # (B,) fp32
    inv_ptr,  # (B, K) fp32
    u_ptr,  # (J, 3E) fp16, J = P*K, from _unit_text_kernel
    c_ptr,  # (J,) fp32
    out_ptr,  # (B, J) fp32 = (B, P, K) contiguous
    B, J, E3, K,
    B_BUCKET,  # unused: the autotuner's key (next power of two of B), so tuning is per size class
    BLOCK_N: tl.constexpr, BLOCK_J: tl.constexpr, BLOCK_E: tl.constexpr,
):
    """R[b, j] = (scale[b] <a[b], u[j]> + c[j]) * inv[b, j % K]: a GEMM (B, 3E) x (3E, J).

    <normalize(pv + Av[k]), u> = (<pv, u> + <Av[k], u>) / max(||pv + Av[k]||, eps), so one
    product with pv serves all K scores and the K unit video vectors are never formed. The dot is
    an fp16 tensor-core GEMM over the split operands (_split_store: ~fp32 accuracy, fp32
    accumulation): 3x the FLOP of an fp32 GEMM at 2x the tf32 rate, where tf32x3 would take
    3 tf32 MMAs. The output tile is a row-major block of R, so its stores are coalesced."""
    # 64-bit offsets only in the per-program base pointers (B*J overflows int32 past ~300k videos
    # at P=1024): per-element int64 offsets would double the address registers of every tile.
    row0, j0 = tl.program_id(0) * BLOCK_N, tl.program_id(1) * BLOCK_J
    ns, js, es = tl.arange(0, BLOCK_N), tl.arange(0, BLOCK_J), tl.arange(0, BLOCK_E)
    row_ok, j_ok = ns < B - row0, js < J - j0
    a_ptrs = a_ptr + row0.to(tl.int64) * E3 + (ns[:, None] * E3 + es[None, :])  # (BLOCK_N, BLOCK_E)
    u_ptrs = u_ptr + j0.to(tl.int64) * E3 + (js[None, :] * E3 + es[:, None])  # (BLOCK_E, BLOCK_J)
    acc = tl.zeros((BLOCK_N, BLOCK_J), dtype=tl.float32)
    for e0 in range(0, E3, BLOCK_E):
        e_ok = es < E3 - e0
        a = tl.load(a_ptrs, mask=row_ok[:, None] & e_ok[None, :], other=0.0)
        u = tl.load(u_ptrs, mask=j_ok[None, :] & e_ok[:, None], other=0.0)
        acc = tl.dot(a, u, acc)
        a_ptrs += BLOCK_E
        u_ptrs += BLOCK_E
    scale = tl.load(scale_ptr + row0 + ns, mask=row_ok, other=1.0) * (1.0 / 2048.0)  # (BLOCK_N,)
    c = tl.load(c_ptr + j0 + js, mask=j_ok, other=0.0)  # (BLOCK_J,)
    ok = row_ok[:, None] & j_ok[None, :]
    inv_base = inv_ptr + row0.to(tl.int64) * K
    inv = tl.load(inv_base + (ns[:, None] * K + ((j0 + js) % K)[None, :]), mask=ok, other=0.0)
    r = (acc * scale[:, None] + c[None, :]) * inv  # (BLOCK_N, BLOCK_J)
    out_base = out_ptr + row0.to(tl.int64) * J + j0
    tl.store(out_base + (ns[:, None] * J + js[None, :]), r, mask=ok)


def _interpret_requested() -> bool:
    import triton

    return bool(triton.knobs.runtime.interpret)


@dataclass(frozen=True)
class KernelConfig:
    """One block shape of _fused_reward_kernel (the autotuner picks among CONFIGS per size)."""

    block_n: int  # videos per program (GEMM M)
    block_j: int  # (prompt, score) columns per program (GEMM N)
    block_e: int  # reduction step (over 3E; over D in the projections)
    num_warps: int
    num_stages: int


# 64-row tiles for wgmma on sm_90 (one warpgroup per 64 rows); 32-row ones for small batches.
CONFIGS = (
    KernelConfig(128, 128, 32, 8, 3),
    KernelConfig(128, 64, 32, 4, 3),
    KernelConfig(64, 128, 32, 4, 3),
    KernelConfig(64, 64, 64, 4, 2),
    KernelConfig(32, 64, 32, 4, 2),
)


def proj_config(e_pad: int, text: bool) -> KernelConfig:
    """The projection kernels' blocks (block_j unused): the (BLOCK_N, E_PAD) fp32 accumulator
    and tf32x3's split operands stay in registers with no spills (checked offline). The text
    kernel holds more per row (K unit vectors are split and stored in turn): 16 rows."""
    warps = 16 if text and e_pad > 256 else 8
    return KernelConfig(16 if text or e_pad > 256 else 32, 0, 16, warps, 2)


@functools.cache
def _jitted_kernels(interpret: bool):
    """(text, video projection, reward) kernels decorated for one TRITON_INTERPRET setting (read
    by triton.jit); on CUDA the reward kernel is autotuned over CONFIGS, keyed by the sizes."""
    global tl, _project, _split_store
    import triton
    import triton.language

    # triton.language's own @jit helpers (tl.sum) were decorated when triton was imported.
    if interpret and isinstance(triton.language.standard.sum, triton.runtime.JITFunction):
        raise RuntimeError(
            "reward_matrix_triton: TRITON_INTERPRET=1 was set after triton was imported; "
            "set it before the first `import triton` (tests/kernels/conftest.py does)"
        )
    tl = triton.language  # the kernel bodies and their annotations resolve `tl` in this module
    if not isinstance(_project, triton.runtime.JITFunction):
        # The kernels resolve their helpers in this module's globals at compile time.
        _project, _split_store = triton.jit(_project), triton.jit(_split_store)
    kernels = [triton.jit(f) for f in (_unit_text_kernel, _video_proj_kernel,
                                       _fused_reward_kernel)]
    if interpret:
        return tuple(kernels)  # one config (the interpreter would run every one)
    configs = [
        triton.Config({"BLOCK_N": c.block_n, "BLOCK_J": c.block_j, "BLOCK_E": c.block_e},
                      num_warps=c.num_warps, num_stages=c.num_stages)
        for c in CONFIGS
    ]
    kernels[2] = triton.autotune(configs, key=["B_BUCKET", "J", "E3"])(kernels[2])
    return tuple(kernels)


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


def _projection_precision(device: torch.device, *tensors: torch.Tensor) -> str:
    """tl.dot input_precision of the projections. tf32 holds fp16/bf16 values exactly, so
    16-bit inputs lose nothing; fp32 inputs take tf32x3 (~fp32). ROCm has no tf32x3: ieee."""
    if device.type == "cuda" and torch.version.hip:
        return "ieee"
    return "tf32" if all(t.dtype != torch.float32 for t in tensors) else "tf32x3"


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
    j = p * k
    f16, f32 = dict(dtype=torch.float16, device=device), dict(dtype=torch.float32, device=device)
    u, c = torch.empty((j, 3 * e), **f16), torch.empty(j, **f32)  # (J, 3E), (J,)
    a = torch.empty((b, 3 * e), **f16)  # (B, 3E)
    scale, inv = torch.empty(b, **f32), torch.empty((b, k), **f32)

    e_pad = max(16, _pow2(e))
    proj = _projection_precision(device, video, text, w_video, w_text)
    text_kernel, video_kernel, reward_kernel = _jitted_kernels(_interpret_requested())
    pc = proj_config(e_pad, text=True)
    meta = dict(BLOCK_D=pc.block_e, E_PAD=e_pad, PRECISION=proj, num_warps=pc.num_warps,
                num_stages=pc.num_stages)
    bn = max(16, min(pc.block_n, _pow2(p)))
    text_kernel[(_cdiv(p, bn),)](
        text, w_text, b_text, off_text, off_video, u, c, p, dt, e, k, eps,
        BLOCK_N=bn, **meta,
    )  # fmt: skip
    bn = max(16, min(proj_config(e_pad, text=False).block_n, _pow2(b)))
    video_kernel[(_cdiv(b, bn),)](
        video, w_video, b_video, off_video, a, scale, inv, b, dv, e, k, eps,
        BLOCK_N=bn, **meta,
    )  # fmt: skip
    args = (a, scale, inv, u, c, out, b, j, 3 * e, k, _pow2(b))
    if _interpret_requested():  # one small config: the interpreter's cost grows with the blocks
        bn, bj = max(16, min(32, _pow2(b))), max(16, min(32, _pow2(j)))
        reward_kernel[(_cdiv(b, bn), _cdiv(j, bj))](*args, BLOCK_N=bn, BLOCK_J=bj, BLOCK_E=16)
    else:
        grid = lambda m: (_cdiv(b, m["BLOCK_N"]), _cdiv(j, m["BLOCK_J"]))  # noqa: E731
        reward_kernel[grid](*args)
    return out


def _use_triton(tensors: tuple[torch.Tensor, ...]) -> bool:
    if not all(t.is_cuda for t in tensors):
        return False  # CPU: the BLAS reference, even under TRITON_INTERPRET=1 (tests only)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return False  # the kernel has no backward
    if tensors[2].shape[0] > MAX_EMBED_DIM or any(t.dtype not in SUPPORTED_DTYPES for t in tensors):
        return False
    return triton_cuda_ready()


def head_path(weight: torch.Tensor) -> str:
    """What reward_matrix runs for a head whose parameters are `weight`'s kind (device, dtype),
    at inference: the same predicate as the dispatch, applied to a real tensor."""
    if not weight.is_cuda:
        return f"torch reference (BLAS) on {weight.device}"
    if weight.dtype not in SUPPORTED_DTYPES or weight.shape[0] > MAX_EMBED_DIM:
        return f"torch reference on {weight.device} ({weight.dtype}, E={weight.shape[0]})"
    if not triton_cuda_ready():
        return f"torch reference on {weight.device} (triton has no active GPU driver)"
    return f"fused Triton reward kernel on {weight.device}"


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
