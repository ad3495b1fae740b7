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
