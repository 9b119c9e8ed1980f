"""WorkerPool: jobs are joined on shutdown, their handlers dropped, queued jobs never start."""
from __future__ import annotations

import threading
import time

import pytest

pytestmark = pytest.mark.gui


def test_shutdown_joins_running_jobs_and_drops_their_results(qtbot):
    from napari_medground.napari.workers import WorkerPool

    pool = WorkerPool()
    started, cancel, seen, after = threading.Event(), threading.Event(), [], []
    ended: list[float] = []

    def job(n: int) -> int:
        started.set()
        t0 = time.monotonic()
        while not cancel.is_set() and time.monotonic() - t0 < 10:
            time.sleep(0.01)
        time.sleep(0.2)  # work that is finished, not cut, after the cancel
        ended.append(time.monotonic())
        return n

    pool.on_shutdown(before=cancel.set, after=lambda: after.append(len(ended)))
    pool.start(job, 1, connect={"returned": seen.append})
    assert started.wait(5)
    t0 = time.monotonic()
    assert pool.shutdown(timeout_s=5)
    assert ended and ended[0] <= time.monotonic() and time.monotonic() - t0 < 5
    assert pool.running == 0 and after == [1]  # after-hooks see the job ended
    qtbot.wait(100)  # a queued "returned" would be delivered now
    assert seen == [], "a handler ran after shutdown"
    assert pool.start(job, 2) is None and pool.shutdown(timeout_s=1)


def test_queued_jobs_never_start_after_shutdown(qtbot):
    from napari_medground.napari.workers import WorkerPool

    pool = WorkerPool()
    pool._pool.setMaxThreadCount(1)
    gate, ran = threading.Event(), []
    pool.start(lambda: gate.wait(5))
    pool.start(lambda: ran.append(1))  # waits for the only thread
    pool.on_shutdown(before=gate.set)
    assert pool.shutdown(timeout_s=5)
    assert ran == [] and pool.running == 0
