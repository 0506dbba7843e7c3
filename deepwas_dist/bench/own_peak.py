"""Run a module or a line of code as this process and, at exit, write this process's own peak resident set.

    python -m deepwas_dist.bench.own_peak REPORT (-m MODULE | -c CODE) [ARG ...]

Why: a parent's ``os.wait4`` (or ``RUSAGE_CHILDREN``) reports as the child's ``ru_maxrss`` the larger of
the child's peak and the peak of the address space it replaced at ``exec`` -- a fork (or vfork) of the
parent. A benchmark that has generated gigabytes of inputs therefore reads its own size as every child's
peak (measured: ``python -c pass`` read 685 MiB beside a 400 MiB parent). ``VmHWM`` in
``/proc/self/status``, read by the child itself as it exits, belongs to the image that ``exec`` started,
so it is the child's alone. REPORT gets that figure in bytes (0 off Linux, where there is no ``/proc``).
"""
from __future__ import annotations

import atexit
import os
import runpy
import sys

from .proctree import peak_rss

USAGE = "usage: python -m deepwas_dist.bench.own_peak REPORT (-m MODULE | -c CODE) [ARG ...]"


def _report(path: str) -> None:
    with open(path, "w") as fh:
        fh.write(f"{peak_rss(os.getpid())}\n")


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] not in ("-m", "-c"):
        raise SystemExit(USAGE)
    report, how, what, rest = argv[0], argv[1], argv[2], argv[3:]
    atexit.register(_report, report)
    if how == "-m":
        sys.argv = [what, *rest]
        runpy.run_module(what, run_name="__main__", alter_sys=True)
    else:
        sys.argv = ["-c", *rest]
        exec(compile(what, "<own_peak -c>", "exec"), {"__name__": "__main__"})


if __name__ == "__main__":
    main(sys.argv[1:])
