"""Running test workers in threads at the same moment.

``run_together`` is what the thread-safety tests (``test_threads.py``, ``test_info.py``,
``test_stateset.py``) share; they pair it with the ``frequent_thread_switches`` fixture of
``conftest.py`` so that the workers really interleave.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

TIMEOUT = 60.0  # for the barrier and for each join; never reached when tests pass


def run_together(workers: Sequence[Callable[[], None]], timeout: float = TIMEOUT) -> None:
    """Start every worker in its own (daemon) thread behind one barrier, join them all
    within ``timeout`` seconds each, and re-raise the first error a worker raised.

    A failing worker aborts the barrier, so workers still waiting there fail too instead
    of waiting for the timeout; a worker still running after its join fails the test.
    """
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def wrap(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                barrier.wait(timeout=timeout)
                work()
            except BaseException as error:  # reported to the test thread below
                errors.append(error)
                barrier.abort()

        return run

    threads = [threading.Thread(target=wrap(work), daemon=True) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "worker thread did not finish in time"
    if errors:
        raise errors[0]
