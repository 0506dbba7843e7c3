"""Running a command's independent pieces (a chromosome's simulation, a slice's LD) as Ray tasks.

The rule: the command joins what is there, or starts what it needs and stops only that. Ray already
initialised in this process (a test session, a caller): use it. RAY_ADDRESS set (``ray job submit``, a
cluster): join that cluster. Otherwise: start a local Ray with ``workers`` + SPARE_CPUS logical CPUs
(more than the tasks use, so that a task's own Ray work or another caller's is never starved), and shut
it down at the end. Tasks are submitted at most ``workers`` at a time and come back as they finish
(:func:`as_completed`, ray.wait), so a task's result is in memory only between its end and its use.
Ray is imported here only when a command uses it.
"""
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from .errors import InputError

#: Logical CPUs of a local Ray beyond the tasks in flight.
SPARE_CPUS = 2


@contextlib.contextmanager
def ray_workers(workers: int | None, log: Callable[[str], None] | None = None, what: str = "tasks"
                ) -> Iterator[tuple[Any, int]]:
    """(the ray module, tasks in flight): ``workers``, or by default one per core on a local Ray and the
    cluster's CPUs on a joined or already running one. Logs where the tasks run."""
    if workers is not None and int(workers) < 1:
        raise InputError(f"workers (--workers) must be >= 1, got {workers}")
    t0 = time.perf_counter()
    import ray
    started = local = False
    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):
            ray.init(log_to_driver=True)
        else:
            workers, local = int(workers or len(os.sched_getaffinity(0))), True
            ray.init(address="local", num_cpus=workers + SPARE_CPUS, include_dashboard=False, log_to_driver=True)
        started = True
    n = int(workers or max(1, int(ray.cluster_resources().get("CPU", 1))))
    if log is not None:
        log(f"{what} as Ray tasks on {'a local Ray' if local else 'the Ray cluster'} "
            f"({ray.cluster_resources().get('CPU', 0):g} CPUs), {n} at a time (Ray ready in "
            f"{time.perf_counter() - t0:.1f} s)")
    try:
        yield ray, n
    finally:
        if started:
            ray.shutdown()


def as_completed(ray, n_tasks: int, submit: Callable[[int], list], window: int) -> Iterator[tuple[int, list]]:
    """Submit ``submit(i)`` (a task's object refs) for i in 0..n_tasks-1, at most ``window`` in flight,
    and yield (i, refs) as each task finishes (ray.wait on its first ref), in completion order."""
    todo, pending = list(range(n_tasks)), {}
    while todo or pending:
        while todo and len(pending) < window:
            i = todo.pop(0)
            refs = submit(i)
            pending[refs[0]] = (i, refs)
        (ready,), _ = ray.wait(list(pending), num_returns=1)
        yield pending.pop(ready)


def in_order(completed: Iterator[tuple[int, Any]]) -> Iterator[tuple[int, Any]]:
    """The (i, value) pairs of ``completed`` (any order of 0..n-1) re-ordered to i = 0, 1, ...: each is
    yielded as soon as all before it have been (later ones wait in a buffer)."""
    buffer, nxt = {}, 0
    for i, value in completed:
        buffer[i] = value
        while nxt in buffer:
            yield nxt, buffer.pop(nxt)
            nxt += 1


def results_in_order(ray, n_tasks: int, submit: Callable[[int], list], window: int) -> Iterator[Any]:
    """The value of each task's first ref, in submission order (0, 1, ...), with at most ``window`` tasks in
    flight: :func:`as_completed` then :func:`in_order`, so a result waits in memory only for earlier ones."""
    done = ((i, ray.get(refs[0])) for i, refs in as_completed(ray, n_tasks, submit, window))
    for _, value in in_order(done):
        yield value
