"""The run's device: `--device auto|cpu|cuda|cuda:N` parsed in one place, and host frames moved
onto it.

    device = resolve_device("auto")          # the GPU of LOCAL_RANK where CUDA is present, else cpu
    x = to_device(clips_uint8, device)        # pinned + non_blocking on CUDA; a view on CPU

Every command that encodes takes `--device` and hands the text to `resolve_device`; the engine
then runs every stage after decode there (engine/frames_api.py, engine/model.py).
"""

from __future__ import annotations

import numpy as np
import torch

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


class DeviceError(ValueError):
    """A --device the machine cannot give; the message names the option and the value."""


def resolve_device(text: str | torch.device | None, option: str = "--device") -> torch.device:
    """'auto' (or None): the GPU of LOCAL_RANK where CUDA is present, else cpu; 'cpu'; 'cuda'
    (LOCAL_RANK's GPU); 'cuda:N'. Raises DeviceError, naming `option`, for anything else or for
    a GPU this machine does not have."""
    from cleverward.engine.environment import cuda_available, default_device

    if isinstance(text, torch.device):
        text = str(text)
    given = "auto" if text is None else str(text).strip().lower()
    if given == "auto":
        return default_device()
    if given == "cpu":
        return torch.device("cpu")
    kind, _, index = given.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise DeviceError(f"{option} {text}: not a device; give {DEVICE_CHOICES}")
    if not cuda_available():
        raise DeviceError(f"{option} {text}: CUDA is not available on this machine; "
                          "use --device cpu or auto")
    if not index:
        return default_device()
    count = torch.cuda.device_count()
    if int(index) >= count:
        have = "1 GPU (cuda:0)" if count == 1 else f"{count} GPUs (cuda:0..cuda:{count - 1})"
        raise DeviceError(f"{option} {text}: this machine has {have}")
    return torch.device("cuda", int(index))


def to_device(array: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host array or tensor on `device`. To a GPU through pinned host memory with a
    non_blocking copy (the copy overlaps the work queued before it on the stream); on CPU the
    array is wrapped, not copied, and nothing is pinned (pinning costs more than it saves there).
    A tensor already on `device` is returned as it is."""
    x = torch.from_numpy(np.ascontiguousarray(array)) if isinstance(array, np.ndarray) else array
    if x.device == device:
        return x
    if device.type == "cuda" and x.device.type == "cpu" and torch.cuda.is_available():
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)
