"""Process-group environment for DeepSpeed.

Under the `deepspeed` launcher (or torchrun) RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT are
set and used as they are. A plain `cleverward train` is one process: we set a single-rank world
on localhost with a free port, so DeepSpeed initialises gloo on CPU (or NCCL on one GPU) instead
of asking for mpi4py.
"""

from __future__ import annotations

import os
import socket


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_process_group_env() -> bool:
    """Fill in a one-process world unless a launcher set one. Returns True when launched."""
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return True
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(free_port()))
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1")
    return False


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def world() -> tuple[int, int]:
    """(rank, world size) as the launcher set them; (0, 1) for a plain process."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def init_distributed() -> None:
    """Join the launcher's process group now (DeepSpeed's initialize reuses it): the ranks
    exchange embeddings before the engine exists. gloo on CPU, NCCL where CUDA is."""
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    import deepspeed

    deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo")


def gather_rows(local, total: int):
    """Every rank holds the rows i of a (total, D) float32 table with i % world == rank (rank r
    holds len(range(r, total, world)) of them): -> the whole table on every rank. One padded
    all_gather: rank shares differ by at most one row."""
    import numpy as np
    import torch
    import torch.distributed as dist

    rank, size = world()
    if size == 1:
        return np.asarray(local, np.float32)
    width = int(local.shape[1])
    longest = -(-total // size)
    mine = torch.zeros(longest, width, dtype=torch.float32)
    mine[: len(local)] = torch.from_numpy(np.asarray(local, np.float32))
    parts = [torch.zeros_like(mine) for _ in range(size)]
    dist.all_gather(parts, mine)
    out = np.zeros((total, width), np.float32)
    for r, part in enumerate(parts):
        n = len(range(r, total, size))
        out[r::size] = part[:n].numpy()
    return out


def gather_objects(value) -> list:
    """A small JSON-able value from every rank, in rank order (error messages, counts)."""
    import json

    import torch.distributed as dist

    rank, size = world()
    if size == 1:
        return [value]
    parts: list = [None] * size
    dist.all_gather_object(parts, json.dumps(value))  # text, so nothing but JSON is decoded
    return [json.loads(p) for p in parts]


def sum_across_ranks(values: list[float]) -> list[float]:
    """Element-wise sum over the ranks (the epoch's loss totals and counts)."""
    import torch
    import torch.distributed as dist

    if world()[1] == 1 or not dist.is_initialized():
        return list(values)
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()
