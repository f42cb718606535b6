"""One task at a time on a thread of its own: the work a write leaves for after its caller has its answer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class Background:
    """Tasks run one after another on one thread, made when the first is started; `wait` for the last one.

    A write hands over what its caller need not wait for (the store's clean-up, the replica's catch-up); the next
    write, a read that depends on it or a close waits here instead."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._last: Future[Any] | None = None

    def start(self, task: Callable[[], T]) -> Future[T]:
        """Run `task` after the ones started before it; its future."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
            self._last = future = self._pool.submit(task)
        return future

    def wait(self) -> None:
        """Wait for the last task started; raise what it raised (once: a later `wait` has nothing to wait for)."""
        with self._lock:
            last, self._last = self._last, None
        if last is not None:
            last.result()

    def close(self) -> None:
        """Let the tasks started end, then release the thread (a later `start` makes another)."""
        with self._lock:
            pool, self._pool, self._last = self._pool, None, None
        if pool is not None:
            pool.shutdown(wait=True)
