"""Dynamic batching across concurrent requests, one model worker, a bounded queue.

Requests wait in an asyncio queue of at most max_queue entries (full: Busy -> 503). One loop
takes the first waiting request, then gathers more until the batch holds max_batch clips or
max_wait_ms has passed since, and hands the batch to a single worker thread: the model runs one
batch at a time while the event loop keeps accepting, parsing and queueing the next requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch


class Busy(Exception):
    """The queue is full."""


@dataclass
class Job:
    frames: torch.Tensor  # prepared (B, N, H, W, 3), 0..255
    prompts: list[str]
    all_pairs: bool

    @property
    def clips(self) -> int:
        return int(self.frames.shape[0])


class DynamicBatcher:
    def __init__(self, run_batch: Callable[[list[Job]], list], max_batch: int,
                 max_wait_ms: float, max_queue: int, metrics=None) -> None:
        self.run_batch, self.max_batch = run_batch, max_batch
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue, self.metrics = max_queue, metrics
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._carry: tuple | None = None  # a request that did not fit the last batch: next first
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reward-model")

    async def start(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.max_queue)
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._worker.shutdown(wait=True)

    def depth(self) -> int:
        held = self._carry is not None
        return (self._queue.qsize() if self._queue is not None else 0) + held

    def submit(self, job: Job) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((job, fut))
        except asyncio.QueueFull:
            raise Busy from None
        self._observe_depth()
        return fut

    def _observe_depth(self) -> None:
        if self.metrics is not None:
            self.metrics.queue_depth.set(self.depth())

    async def _gather(self) -> list[tuple[Job, asyncio.Future]]:
        loop = asyncio.get_running_loop()
        if self._carry is not None:
            batch, self._carry = [self._carry], None
        else:
            batch = [await self._queue.get()]
        clips, deadline = batch[0][0].clips, loop.time() + self.max_wait
        while clips < self.max_batch:
            if self._queue.empty():
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), left)
                except TimeoutError:
                    break
            else:
                item = self._queue.get_nowait()
            if clips + item[0].clips > self.max_batch:
                self._carry = item  # starts the next batch, keeping arrival order
                break
            batch.append(item)
            clips += item[0].clips
        self._observe_depth()
        return batch

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            live = [(job, fut) for job, fut in batch if not fut.done()]  # drop abandoned ones
            if not live:
                continue
            if self.metrics is not None:
                self.metrics.batch_clips.observe(sum(j.clips for j, _ in live))
                self.metrics.batch_requests.observe(len(live))
            try:
                results = await loop.run_in_executor(self._worker, self.run_batch,
                                                     [job for job, _ in live])
            except Exception as exc:  # noqa: BLE001 - the batch's requests get the error
                results = [exc] * len(live)
            for (_, fut), result in zip(live, results, strict=True):
                if fut.done():
                    continue
                if isinstance(result, Exception):
                    fut.set_exception(result)
                else:
                    fut.set_result(result)
