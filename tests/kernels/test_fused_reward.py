"""The fused reward kernel against reward_matrix_ref: irregular shapes, dtypes, properties, errors.

Without CUDA these run in the Triton interpreter (see conftest.py), so shapes stay small; the
realistic size carries the `gpu` marker.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
import triton  # noqa: F401  (a core dependency: a broken install fails collection, never skips)

from cleverward.kernels import fused_reward
from cleverward.kernels.fused_reward import (
    reward_matrix,
    reward_matrix_ref,
    reward_matrix_triton,
)

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA device")

# The reference sees the same rounded inputs and computes in fp32 too, so for every dtype only the
# summation order differs (the interpreter measures ~2e-7). On GPU fp16/bf16 projections use tf32,
# which holds 16-bit values exactly, and fp32 ones tf32x3 (~fp32): the bounds leave 50x headroom.
TOL = {
    torch.float32: (1e-5, 1e-5),
    torch.float16: (1e-5, 1e-5),
    torch.bfloat16: (1e-5, 1e-5),
}

# (B, P, Dv, Dt, E, K): mostly not powers of two; E below 16 (E_PAD 16), between widths and
# above 256 (E_PAD 512); several video and prompt tiles (B > 32, P > 32); B = P = 1.
SHAPES = [
    (5, 3, 37, 19, 24, 7),
    (17, 9, 130, 70, 256, 7),
    (1, 1, 8, 5, 3, 1),
    (70, 41, 50, 23, 300, 3),
    (33, 2, 16, 96, 100, 2),
]


def _inputs(b, p, dv, dt, e, k, dtype=torch.float32, seed=0, offset_scale=0.5, device=DEVICE):
    """(video, text, w_video, b_video, w_text, b_text, off_video, off_text), nn.Linear scale."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return (scale * torch.randn(*shape, generator=g)).to(dtype).to(device)

    return (
        randn(b, dv), randn(p, dt),
        randn(e, dv, scale=dv**-0.5), randn(e, scale=0.1),
        randn(e, dt, scale=dt**-0.5), randn(e, scale=0.1),
        randn(k, e, scale=offset_scale), randn(k, e, scale=offset_scale),
    )  # fmt: skip


def _ids(shape):
    return "B{}_P{}_Dv{}_Dt{}_E{}_K{}".format(*shape)


@pytest.mark.parametrize("dtype", list(TOL), ids=lambda d: str(d).removeprefix("torch."))
@pytest.mark.parametrize("shape", SHAPES, ids=_ids)
def test_matches_reference(shape, dtype):
    args = _inputs(*shape, dtype=dtype, seed=sum(shape))
    got = reward_matrix_triton(*args)
    b, p, *_, k = shape
    assert got.shape == (b, p, k) and got.dtype == torch.float32 and got.is_contiguous()
    atol, rtol = TOL[dtype]
    torch.testing.assert_close(got, reward_matrix_ref(*args), atol=atol, rtol=rtol)


def test_mixed_dtypes_match_reference():
    video, text, *params = _inputs(9, 4, 40, 30, 64, 7, seed=1)
    video, text = video.to(torch.bfloat16), text.to(torch.float16)
    got = reward_matrix_triton(video, text, *params)
    torch.testing.assert_close(got, reward_matrix_ref(video, text, *params), atol=1e-5, rtol=1e-5)


def test_non_contiguous_inputs():
    video, text, w_video, *rest = _inputs(6, 5, 24, 24, 32, 3, seed=2)
    video_t = video.T.contiguous().T  # same values, column-major
    w_video_t = w_video.T.contiguous().T
    got = reward_matrix_triton(video_t, text, w_video_t, *rest)
    torch.testing.assert_close(got, reward_matrix_ref(video, text, w_video, *rest))


def test_zero_offsets_and_identical_projections_give_cosine_of_inputs():
    """W = I, b = 0, offsets 0: R[b, p, k] = cos(video[b], text[p]) for every k; a video that is
    also a prompt scores 1 with itself."""
    b, p, d, k = 11, 6, 20, 7
    g = torch.Generator().manual_seed(3)
    video = torch.randn(b, d, generator=g)
    text = torch.cat([video[:2], torch.randn(p - 2, d, generator=g)])  # prompts 0, 1 = videos 0, 1
    eye, zero_e, zero_k = torch.eye(d), torch.zeros(d), torch.zeros(k, d)
    args = [t.to(DEVICE) for t in (video, text, eye, zero_e, eye, zero_e, zero_k, zero_k)]
    got = reward_matrix_triton(*args).cpu()  # (B, P, K)
    want = F.cosine_similarity(video[:, None], text[None], dim=-1)  # (B, P)
    torch.testing.assert_close(got, want[..., None].expand(b, p, k), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got[[0, 1], [0, 1]], torch.ones(2, k), atol=1e-5, rtol=0)


def test_nonzero_offsets_match_reference_and_separate_the_scores():
    args = _inputs(13, 5, 33, 17, 48, 7, seed=4, offset_scale=3.0)
    got = reward_matrix_triton(*args)
    torch.testing.assert_close(got, reward_matrix_ref(*args), atol=1e-5, rtol=1e-5)
    spread = (got - got[..., :1]).abs().amax(dim=(0, 1))  # (K,): how far each score is from k=0
    assert (spread[1:] > 0.1).all(), spread


def test_zero_vectors_follow_the_eps_clamp():
    """A row whose projection + offset is exactly 0 normalises to 0 (x / max(||x||, eps))."""
    video, text, w_video, b_video, w_text, b_text, off_video, off_text = _inputs(4, 3, 8, 8, 16, 2)
    video[1] = 0
    b_video, off_video = torch.zeros_like(b_video), torch.zeros_like(off_video)
    args = (video, text, w_video, b_video, w_text, b_text, off_video, off_text)
    got = reward_matrix_triton(*args)
    assert torch.equal(got[1].cpu(), torch.zeros(3, 2))
    torch.testing.assert_close(got, reward_matrix_ref(*args), atol=1e-5, rtol=1e-5)


def test_eps_clamps_short_vectors_like_f_normalize():
    """With eps above some norms (these are ~3.4 to 7.2), those rows are divided by eps."""
    args = _inputs(6, 4, 12, 10, 20, 3, seed=6, offset_scale=0.3)
    got = reward_matrix_triton(*args, eps=5.0)
    want = reward_matrix_ref(*args, eps=5.0)
    assert (want - reward_matrix_ref(*args)).abs().amax() > 0.05  # the clamp changes the result
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_empty_batch_returns_empty():
    args = _inputs(0, 3, 8, 8, 16, 7)
    assert reward_matrix_triton(*args).shape == (0, 3, 7)


BAD = {
    "w_video shape": (2, lambda a: a[2][:, :-1], ValueError, r"w_video must be \(E, Dv\)"),
    "off_text shape": (7, lambda a: a[7][:-1], ValueError, r"off_text must be \(K, E\)"),
    "b_text shape": (5, lambda a: a[5][:-1], ValueError, r"b_text must be \(E,\)"),
    "video 1-D": (0, lambda a: a[0][0], ValueError, r"video must be \(B, Dv\)"),
    "float64": (1, lambda a: a[1].double(), TypeError, r"text has dtype torch.float64"),
    "two devices": (4, lambda a: a[4].to("meta"), ValueError, r"one device.*w_text on meta"),
    "not a tensor": (3, lambda a: a[3].tolist(), TypeError, r"b_video must be a torch.Tensor"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_rejects_bad_inputs_with_a_clear_message(case):
    index, change, error, message = BAD[case]
    args = list(_inputs(4, 3, 10, 6, 16, 2))
    args[index] = change(args)
    with pytest.raises(error, match=message):
        reward_matrix_triton(*args)


def test_rejects_too_wide_embedding_and_bad_eps():
    with pytest.raises(ValueError, match="E=520 > 512"):
        reward_matrix_triton(*_inputs(2, 2, 4, 4, 520, 1))
    with pytest.raises(ValueError, match="eps must be > 0"):
        reward_matrix_triton(*_inputs(2, 2, 4, 4, 16, 1), eps=0.0)


def test_cpu_dispatch_uses_the_reference(monkeypatch):
    """Even with TRITON_INTERPRET=1 set, CPU tensors never reach the (1000x slower) interpreter."""
    monkeypatch.setenv("TRITON_INTERPRET", "1")

    def boom(*args, **kwargs):
        raise AssertionError("the engine's CPU path must not launch Triton")

    monkeypatch.setattr(fused_reward, "reward_matrix_triton", boom)
    args = _inputs(3, 2, 8, 8, 16, 7, device="cpu")
    assert torch.equal(reward_matrix(*args), reward_matrix_ref(*args))


def _python(code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


def test_importing_the_kernels_does_not_import_triton():
    done = _python("import sys, cleverward.kernels; assert 'triton' not in sys.modules")
    assert done.returncode == 0, done.stderr


def test_interpreter_requested_after_triton_import_is_a_clear_error():
    done = _python(
        "import os, torch, triton\n"
        "os.environ['TRITON_INTERPRET'] = '1'\n"
        "from cleverward.kernels import reward_matrix_triton as f\n"
        "x = torch.ones(2, 4)\n"
        "f(x, x, torch.ones(16, 4), torch.ones(16), torch.ones(16, 4), torch.ones(16),"
        " torch.ones(1, 16), torch.ones(1, 16))\n"
    )
    assert "TRITON_INTERPRET=1 was set after triton was imported" in done.stderr, done.stderr


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("dtype", list(TOL), ids=lambda d: str(d).removeprefix("torch."))
@pytest.mark.parametrize(
    "shape", [(4096, 64, 384, 384, 256, 7), (1823, 781, 384, 512, 256, 7)], ids=_ids
)
def test_realistic_sizes_on_gpu(shape, dtype):
    args = _inputs(*shape, dtype=dtype, seed=5)
    atol, rtol = TOL[dtype]
    got = reward_matrix_triton(*args)
    torch.testing.assert_close(got, reward_matrix_ref(*args), atol=atol, rtol=rtol)


@pytest.mark.gpu
@needs_cuda
def test_cuda_dispatch_uses_triton_and_grad_uses_the_reference(monkeypatch):
    calls = []
    real = fused_reward.reward_matrix_triton
    monkeypatch.setattr(
        fused_reward, "reward_matrix_triton", lambda *a, **kw: calls.append(1) or real(*a, **kw)
    )
    args = _inputs(40, 8, 64, 64, 256, 7)
    with torch.inference_mode():
        reward_matrix(*args)
    assert calls == [1]
    leaf = args[2].clone().requires_grad_()
    reward_matrix(args[0], args[1], leaf, *args[3:]).sum().backward()
    assert calls == [1] and leaf.grad is not None


@pytest.mark.parametrize("magnitude", [1e5, 1e-5])
def test_embeddings_far_outside_fp16_range_keep_fp32_accuracy(magnitude):
    """The cosine GEMM runs on fp16 operands: each projected row is scaled by a power of two
    into [-1, 1] first. Without it, 1e5-scale rows overflow fp16 (65504: inf/NaN; this case fails
    with the scaling removed). The 1e-5 case guards the other end (fp16 subnormals below 6e-5;
    it passes either way here, as the hi/lo split still holds ~1e-6 of the row). The bias and
    offsets are scaled too, so the projection keeps the magnitude."""
    video, text, w_video, b_video, w_text, b_text, off_video, off_text = _inputs(
        9, 5, 24, 16, 32, 3, seed=8)
    args = (video * magnitude, text, w_video, b_video * magnitude, w_text, b_text,
            off_video * magnitude, off_text)
    got = reward_matrix_triton(*args)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, reward_matrix_ref(*args), atol=1e-5, rtol=1e-5)
