"""Cost of one stage of a benchmark: wall time, CPU time (this process and its children) and peak memory.

    with measure("first epoch") as st:
        ...
    st.cost.wall_s, st.cost.cpu_s, st.cost.peak_rss_bytes

CPU time is ``resource.getrusage`` user + system of this process plus that of its waited-for children
(the simulator's process pool), as deltas over the stage. Peak memory is the stage's own high-water
mark of resident memory: on Linux the process's peak (VmHWM) is reset at the start of the stage
(``/proc/self/clear_refs`` 5, Linux >= 4.0) and read at its end; where that reset is unavailable the
figure is the process's peak so far (a stage after a larger one then reports the larger one; ``peak_scope``
says which). Children: the largest child that finished during the stage (``ru_maxrss`` of
RUSAGE_CHILDREN is a maximum over all children, so it counts only when it rose during the stage).
``measure(name, tree=True)`` also samples the processes this one does not reap (a local Ray's workers,
:mod:`.proctree`): their CPU joins ``cpu_s`` and the largest of them joins the children's peak.
"""
from __future__ import annotations

import os
import resource
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterator

from .proctree import TreeSampler

_STATUS, _CLEAR = "/proc/self/status", "/proc/self/clear_refs"


@dataclass(frozen=True)
class StageCost:
    """What one stage cost. ``peak_rss_bytes`` = max(self, children); ``peak_scope`` is "stage" when the
    process peak was reset at the start of the stage, "process" when it is the peak so far."""

    name: str
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    self_peak_rss_bytes: int
    children_peak_rss_bytes: int
    peak_scope: str

    def to_dict(self) -> dict:
        return asdict(self)


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _hwm_bytes() -> int | None:
    """VmHWM of this process in bytes (None off Linux)."""
    try:
        with open(_STATUS) as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def reset_peak() -> bool:
    """Reset this process's peak resident memory to its current one; False where that is unsupported."""
    try:
        with open(_CLEAR, "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _children_maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024     # kilobytes on Linux


class Meter:
    """A stage being measured: started when made, ``stop()`` returns its :class:`StageCost` (for stages whose
    ends are not a ``with`` block, e.g. epochs ended by a training-loop callback)."""

    def __init__(self, name: str, tree: bool = False):
        self.name = name
        self.tree = TreeSampler() if tree else None
        self.scoped = reset_peak()
        self.child0 = _children_maxrss()
        self.t0, self.c0 = time.perf_counter(), _cpu()

    def stop(self) -> StageCost:
        wall, cpu = time.perf_counter() - self.t0, _cpu() - self.c0
        own = _hwm_bytes() or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        child1 = _children_maxrss()
        child = child1 if child1 > self.child0 else 0
        if self.tree is not None:
            tree_cpu, tree_peak = self.tree.stop()
            cpu, child = cpu + tree_cpu, max(child, tree_peak)
        return StageCost(self.name, wall, cpu, max(own, child), own, child, "stage" if self.scoped else "process")


class Stage:
    """The handle :func:`measure` yields; ``cost`` is set when the ``with`` block ends."""

    def __init__(self, name: str):
        self.name = name
        self.cost: StageCost | None = None


@contextmanager
def measure(name: str, tree: bool = False) -> Iterator[Stage]:
    """Measure the ``with`` block as stage ``name`` (module docstring)."""
    st, meter = Stage(name), Meter(name, tree)
    try:
        yield st
    finally:
        st.cost = meter.stop()


def machine_load() -> dict:
    """Cores and load averages at the time of the call (the measurements share the machine)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    one, five, fifteen = os.getloadavg()
    return {"cores": cores, "cpu_count": os.cpu_count(), "loadavg_1m": one, "loadavg_5m": five,
            "loadavg_15m": fifteen}
