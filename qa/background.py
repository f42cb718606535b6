"""Work on threads of their own: one task at a time after a write (what its caller need not wait for), and a
model's load beside the work that comes before its first use."""

from __future__ import annotations

import contextlib
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


def load_beside(load: Callable[[], object], name: str) -> threading.Thread:
    """Run `load` on a thread of its own, now. A failure is not printed from the thread: the first use of what it
    loads tries again and reports it where the user sees it. The thread is not a daemon: a process that ends
    sooner waits for it rather than tearing a native library down under it. The thread, started."""

    def run() -> None:
        with contextlib.suppress(Exception):
            load()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread
