"""Step callbacks: what a caller (a test, a profiler, a chaos run) runs after every optimiser step of
every worker, without the training loop or :class:`~deepwas_dist.train.config.TrainConfig` knowing it.

A callback is any object with ``on_step(step: StepEvent)``. ``run_training(cfg, callbacks=[...])`` ships
them to the Ray Train workers (pickled with the loop's config, so they must be picklable: define them at
module level) and ``run_worker(..., callbacks=[...])`` calls them in-process. After a worker failure Ray
Train restarts the workers with the same, freshly unpickled callbacks, so a callback that must act once
per run keeps that state outside itself (e.g. a marker file, as :class:`FailOnce` does).

Two callbacks ship with the package, because the fault-tolerance and DDP-equivalence tests need them:
:class:`TraceSteps` (the parameters after each step and the gradient the step used) and
:class:`FailOnce` (raise once at a given step, to exercise recovery).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np


@dataclass
class StepEvent:
    """One optimiser step on one worker: its rank, the global step it completed (1, 2, ...), the
    flattened parameters after it, and the all-reduced gradient (unclipped) that it used."""

    rank: int
    global_step: int
    params: Callable[[], np.ndarray]
    grad: np.ndarray | None          # only when some callback sets ``wants_grad``


class StepCallback(Protocol):
    #: whether the loop must keep a copy of the step's gradient before clipping (costs a copy per step)
    wants_grad: bool

    def on_step(self, step: StepEvent) -> None: ...


@dataclass
class TraceSteps:
    """Rank 0 saves ``step_<n>.npy`` (parameters after step n) and ``grad_<n>.npy`` (the all-reduced,
    unclipped gradient step n used) into ``directory``."""

    directory: str
    wants_grad: bool = True

    def on_step(self, step: StepEvent) -> None:
        if step.rank != 0:
            return
        os.makedirs(self.directory, exist_ok=True)
        np.save(os.path.join(self.directory, f"step_{step.global_step}.npy"), step.params())
        np.save(os.path.join(self.directory, f"grad_{step.global_step}.npy"), step.grad)


@dataclass
class FailOnce:
    """Rank 0 raises after step ``at_step``, once per ``marker`` file (written before raising, so the
    restarted workers go past it)."""

    at_step: int
    marker: str
    wants_grad: bool = False

    def on_step(self, step: StepEvent) -> None:
        if step.rank != 0 or step.global_step != self.at_step or os.path.exists(self.marker):
            return
        with open(self.marker, "w") as fh:
            fh.write(str(step.global_step))
        raise RuntimeError(f"injected failure at global step {step.global_step} (FailOnce callback)")


__all__ = ["FailOnce", "StepCallback", "StepEvent", "TraceSteps"]
