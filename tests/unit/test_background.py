"""The work a write leaves for after its answer: one task at a time, in order, and its failure reaches `wait`."""

from __future__ import annotations

import threading

import pytest

from qa.background import Background, load_beside


def test_tasks_run_one_at_a_time_in_the_order_they_were_started_and_wait_waits_for_the_last() -> None:
    background = Background("test-background")
    release, ran, overlapping = threading.Event(), [], []
    running = threading.Lock()

    def task(number: int) -> None:
        if not running.acquire(blocking=False):
            overlapping.append(number)
            return
        try:
            if number == 0:
                release.wait(5)
            ran.append(number)
        finally:
            running.release()

    for number in range(3):
        background.start(lambda number=number: task(number))
    assert ran == []  # the first is held: the others queue behind it
    release.set()
    background.wait()
    assert ran == [0, 1, 2]
    assert overlapping == []
    background.close()


def test_a_failure_is_raised_by_the_next_wait_only_and_a_closed_background_starts_again() -> None:
    background = Background("test-background")

    def fail() -> None:
        raise OSError("the store is away")

    background.start(fail)
    with pytest.raises(OSError, match="the store is away"):
        background.wait()
    background.wait()  # said once: nothing is left to wait for
    background.close()
    done = threading.Event()
    background.start(done.set)
    background.wait()
    assert done.is_set()
    background.close()


def test_a_load_beside_runs_on_a_thread_that_a_process_waits_for_and_keeps_its_failure_quiet(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The load runs now, on its own thread (not a daemon: an exit waits rather than tearing the library down
    under it); its failure prints nothing there, for the first use to report it where the user sees it."""
    started, loaded = threading.Event(), threading.Event()

    def load() -> None:
        started.set()
        loaded.wait(5)

    thread = load_beside(load, "test-load")
    assert started.wait(5) and thread.is_alive() and not thread.daemon and thread.name == "test-load"
    loaded.set()
    thread.join(5)
    assert not thread.is_alive()

    def fail() -> None:
        raise OSError("the model file is missing")

    load_beside(fail, "test-load").join(5)
    assert capfd.readouterr().err == ""
