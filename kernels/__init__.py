"""Triton kernels, each beside the pure-torch reference it must match."""

from cleverward.kernels.fused_reward import reward_matrix, reward_matrix_ref, reward_matrix_triton

__all__ = ["reward_matrix", "reward_matrix_ref", "reward_matrix_triton"]
