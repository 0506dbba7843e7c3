"""CPU time and peak memory of the processes this one started that it does not reap itself: a local Ray
(its GCS, raylet and worker processes, which the raylet starts and reaps), sampled from ``/proc``.

``resource.getrusage(RUSAGE_CHILDREN)`` counts only children this process has waited for, so it sees a
process pool's workers but none of Ray's: their work is in Ray's worker processes, grandchildren of this
one. A :class:`TreeSampler` reads every descendant's ``/proc/PID/stat`` (utime + stime, clock ticks; its
own work, not its children's) and ``/proc/PID/status`` (VmHWM, the peak resident set) every ``interval``
seconds on a thread, and reports for the stage:

  * CPU: per descendant, its last sampled CPU time minus what it had used when the stage began (0 for one
    born during it), summed over the descendants that are alive at the end or that died unreaped by this
    process (a Ray worker). Direct children that died during the stage are left out: this process reaped
    them, so :func:`~.stages.measure`'s RUSAGE_CHILDREN already counts them. A process that dies between
    two samples loses at most ``interval`` seconds of CPU.
  * peak: the largest VmHWM seen in any one descendant (shared memory, such as Ray's object store, counts
    in each process that touched it).

Off Linux (no ``/proc``) it reports zeros.
"""
from __future__ import annotations

import os
import threading

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process itself) from /proc/PID/stat; None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()      # after "pid (comm) ": state ppid ... utime stime
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def peak_rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def descendants(root: int) -> dict[int, tuple[int, float]]:
    """{pid: (parent pid, CPU seconds)} of every live descendant of ``root``."""
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return {}
    table = {pid: s for pid in pids if (s := _stat(pid)) is not None}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = {}, list(children.get(root, ()))
    while todo:
        pid = todo.pop()
        out[pid] = table[pid]
        todo.extend(children.get(pid, ()))
    return out


def cmdline(pid: int) -> str:
    """The command line of ``pid`` (at most 160 characters; "?" once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline") as fh:
            return fh.read().replace("\0", " ").strip()[:160]
    except OSError:
        return "?"


class TreeSampler:
    """Samples this process's descendants from start() to stop() (module docstring); :meth:`processes`
    lists each one seen."""

    def __init__(self, interval: float = 0.5):
        self.interval, self.root = float(interval), os.getpid()
        self._base = {pid: cpu for pid, (_, cpu) in descendants(self.root).items()}
        self._last: dict[int, tuple[int, float]] = {}
        self._peaks: dict[int, int] = {}
        self._cmds: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="proctree", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        now = descendants(self.root)
        self._last.update(now)
        for pid in now:
            self._peaks[pid] = max(self._peaks.get(pid, 0), peak_rss(pid))
            if pid not in self._cmds:
                self._cmds[pid] = cmdline(pid)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _used(self, pid: int) -> float:
        return max(0.0, self._last[pid][1] - self._base.get(pid, 0.0))

    def stop(self) -> tuple[float, int]:
        """(CPU seconds, peak resident bytes of one descendant) over the sampled span."""
        self._stop.set()
        self._thread.join()
        self._sample()
        alive = descendants(self.root)
        cpu = sum(self._used(pid) for pid, (ppid, _) in self._last.items()
                  if pid in alive or ppid != self.root)   # our own dead children: RUSAGE_CHILDREN has them
        return cpu, max(self._peaks.values(), default=0)

    def processes(self) -> list[dict]:
        """Every descendant seen (after :meth:`stop`): {pid, cmd, peak_rss_bytes, cpu_s}, largest peak first;
        cpu_s is its own CPU time over the span as last sampled (all of it for one that died unreaped)."""
        rows = [{"pid": pid, "cmd": self._cmds.get(pid, "?"), "peak_rss_bytes": self._peaks.get(pid, 0),
                 "cpu_s": self._used(pid)} for pid in self._last]
        return sorted(rows, key=lambda r: -r["peak_rss_bytes"])
