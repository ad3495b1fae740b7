"""Kernel tests: without CUDA, Triton runs in its interpreter on CPU tensors (small shapes only).

TRITON_INTERPRET must be in the environment before triton is first imported: triton.language
decorates its own @jit helpers (tl.sum) at import. This conftest is loaded before the test modules
of its folder, and nothing collected earlier imports triton (cleverward.kernels imports it on the
first launch). It stays set for the rest of the session: only Triton reads it.
"""

from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():
    os.environ["TRITON_INTERPRET"] = "1"
