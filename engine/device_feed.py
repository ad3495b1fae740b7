"""Host batches onto the run's device on a side CUDA stream, so the copy of the next batch
overlaps the encoding of the one before it (decode on the CPU, encode on a GPU).

    feed = device_feed(device)
    staged = feed.stage(np.stack(clips))   # on CUDA: pinned, copy queued on the feed's stream
    frames = staged.ready()                # the compute stream waits for that copy, no host sync

On CUDA, `stage` pins the host batch and queues its copy on the feed's own stream, then records
an event; `ready` makes the current (compute) stream wait on that event and marks the tensor as
used there (so the caching allocator does not reuse its memory while kernels still read it).
The host thread never blocks on either. On CPU the feed is the identity: the array is wrapped,
not copied, nothing is pinned and no stream exists (engine/device.to_device), so CPU runs and
`cleverward bench` take exactly the path they took before.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch

from cleverward.engine.device import to_device


@dataclass
class Staged:
    """A batch on its way to the device. `ready()` -> the tensor, safe to use on the current
    stream."""

    tensor: torch.Tensor
    event: object | None = None  # torch.cuda.Event recorded after the copy; None on CPU

    def ready(self) -> torch.Tensor:
        if self.event is not None:
            stream = torch.cuda.current_stream(self.tensor.device)
            stream.wait_event(self.event)
            self.tensor.record_stream(stream)
            self.event = None
        return self.tensor


class DeviceFeed:
    """Stages host batches onto `device`; one side stream per CUDA device, none on CPU."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.stream = (torch.cuda.Stream(device=device)
                       if device.type == "cuda" and torch.cuda.is_available() else None)

    @property
    def overlaps(self) -> bool:
        """Whether copies run on a side stream (CUDA) rather than inline (CPU)."""
        return self.stream is not None

    def stage(self, batch: np.ndarray | torch.Tensor) -> Staged:
        """Start moving `batch` to the device. A tensor already there, and every batch on
        CPU, is returned as it is (no copy)."""
        if self.stream is None:
            return Staged(to_device(batch, self.device))
        x = torch.from_numpy(np.ascontiguousarray(batch)) if isinstance(batch, np.ndarray) \
            else batch
        if x.device == self.device:
            return Staged(x)
        if x.device.type == "cuda":  # produced by work queued on its own device's stream
            self.stream.wait_stream(torch.cuda.current_stream(x.device))
        # A host batch is complete already (written by the host): the copy waits for nothing
        # queued on the compute stream, which is what lets it overlap that work.
        host = x if x.device.type != "cpu" or x.is_pinned() else x.pin_memory()
        with torch.cuda.stream(self.stream):
            moved = host.to(self.device, non_blocking=True)
            event = torch.cuda.Event()
            event.record(self.stream)
        return Staged(moved, event)


_FEEDS: dict[str, DeviceFeed] = {}
_LOCK = threading.Lock()


def device_feed(device: torch.device) -> DeviceFeed:
    """The process's feed for `device` (one side stream per GPU, reused across batches)."""
    key = str(device)
    with _LOCK:
        if key not in _FEEDS:
            _FEEDS[key] = DeviceFeed(device)
        return _FEEDS[key]
