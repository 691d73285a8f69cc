"""Adaptive micro-batching: concurrent requests share one predict call.

Requests queue up while a batch runs in the worker thread; the next batch takes all of them (up
to `max_rows`). A lone request is dispatched at once, so a single client waits for no one. Under
concurrent load the batcher knows how many requests were in flight at once while the previous
batch ran (its *target*); if fewer are queued, it waits up to `max_wait_ms` for the rest, and
stops waiting as soon as the target is reached. Without that wait, N closed-loop clients split
into two groups that alternate (one predicts while the other queues), each paying the fixed
cost of a predict call; with it, they share one.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Job:
    """One request's validated input, waiting for its share of a batch's results."""

    payload: Any
    rows: int
    request_id: str
    received: float = field(default_factory=time.perf_counter)
    future: asyncio.Future[Any] | None = None


class BatcherClosed(RuntimeError):
    """The server is shutting down and accepts no new work."""


class MicroBatcher:
    """Merge queued jobs into batches and run `process(jobs) -> results` in a worker thread.

    `process` returns one result per job, in order; a result that is an exception is raised to
    that job's caller only.
    """

    def __init__(
        self,
        process: Callable[[Sequence[Job]], Sequence[Any]],
        max_rows: int,
        max_wait_ms: float,
        initializer: Callable[[], None] | None = None,
    ) -> None:
        self._process = process
        self.max_rows = max_rows
        self.max_wait = max_wait_ms / 1000.0
        self._pending: deque[Job] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="gitml-predict", initializer=initializer
        )
        self._closed = False
        self._inflight = 0  # submitted and not yet answered
        self._peak = 0  # most requests in flight at once since the current batch was taken
        self.batches = 0
        self.jobs = 0

    def start(self) -> None:
        """Start the batching loop on the running event loop."""
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def submit(self, job: Job) -> Any:
        """Queue a job and wait for its result."""
        if self._closed or self._wake is None:
            raise BatcherClosed("the server is shutting down")
        job.future = asyncio.get_running_loop().create_future()
        self._pending.append(job)
        self._inflight += 1
        if self._inflight > self._peak:
            self._peak = self._inflight
        self._wake.set()
        try:
            return await job.future
        finally:
            self._inflight -= 1

    def _take(self) -> list[Job]:
        batch = [self._pending.popleft()]
        rows = batch[0].rows
        while self._pending and rows + self._pending[0].rows <= self.max_rows:
            job = self._pending.popleft()
            batch.append(job)
            rows += job.rows
        return batch

    async def _fill(self, batch: list[Job], target: int) -> None:
        """Add queued jobs to `batch` until it holds `target` jobs, is full, or time is up."""
        assert self._wake is not None
        deadline = time.perf_counter() + self.max_wait
        rows = sum(j.rows for j in batch)
        while rows < self.max_rows and not self._closed:
            while self._pending and rows + self._pending[0].rows <= self.max_rows:
                job = self._pending.popleft()
                batch.append(job)
                rows += job.rows
            if self._pending or rows >= self.max_rows or len(batch) >= target:
                return
            left = deadline - time.perf_counter()
            if left <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), left)
            except TimeoutError:
                return

    async def _run(self) -> None:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                if self._closed:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = self._take()
            target, self._peak = self._peak, self._inflight
            if self.max_wait > 0 and target > len(batch) and not self._closed:
                await self._fill(batch, target)
            try:
                results = await loop.run_in_executor(self._executor, self._process, batch)
            except Exception as exc:  # process() failed as a whole: every caller gets the error
                results = [exc] * len(batch)
            self.batches += 1
            self.jobs += len(batch)
            for job, result in zip(batch, results, strict=True):
                assert job.future is not None
                if job.future.done():
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)

    async def close(self) -> None:
        """Stop taking jobs, finish every queued one, and stop the worker thread."""
        self._closed = True
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=True)


def limit_threads(n: int) -> None:
    """Cap OpenMP/BLAS threads in the calling thread (the predict thread, or `gitml predict`):
    small batches pay more for waking a thread team (and spinning on a busy machine) than they
    gain from it, and the event loop needs the other core."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
