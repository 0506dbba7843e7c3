"""CPU time of single slices' NLL + gradient, the points the cost model of :mod:`.cost_model` is fitted to.

Each point is one slice (its m SNPs and LD rank r, as training reads it: after ``--ld-keep-variance``)
with its z-scores repeated to T traits, scored as training scores it (``method="auto"``, the run's number
of probes, a mismatch term), forward and backward with respect to log s, log sigma and log lambda. The
figure is the median CPU time (``time.process_time``, this process's threads) of ``repeats`` calls
after one warm-up: on a shared machine CPU time moves much less with the load than wall time does.

Two sources: the benchmark's own slices (the trained prior's log f, the slices its cache holds), and
synthetic slices (:func:`~.panels.synthetic_ld`, middle-third core, full rank) at larger m and r than a
500-person panel gives, so that the fit spans the sizes it is asked to project to.
"""
from __future__ import annotations

import math
import statistics
import time
from typing import Callable, Iterable

import torch

from ..data.reader import SliceBatch
from ..likelihood import marginal_nll, sample_core_z
from ..slice import LDSlice
from .cost_model import SliceTiming
from .likelihood import prior_log_s
from .panels import middle_third_core, synthetic_ld

#: log lambda of the timed calls (the mismatch term is on by default in training).
LOG_LAMBDA = math.log(0.01)


def cpu_median(fn: Callable[[], object], repeats: int) -> float:
    """Median CPU seconds of ``fn`` over ``repeats`` calls after one warm-up."""
    fn()
    times = []
    for _ in range(max(1, repeats)):
        c0 = time.process_time()
        fn()
        times.append(time.process_time() - c0)
    return statistics.median(times)


def time_slice(sl: LDSlice, z: torch.Tensor, log_s: torch.Tensor, traits: int, repeats: int,
               num_probes: int = 16, seed: int = 0) -> SliceTiming:
    """One point: ``z`` (n,) or (n, 1) and ``log_s`` (m,) or (m, 1) repeated to ``traits`` columns."""
    z = z.reshape(sl.n, -1)[:, :1].repeat(1, traits).to(sl.dtype)
    log_s = log_s.reshape(sl.m, -1)[:, :1].repeat(1, traits).to(sl.dtype)
    gen = torch.Generator().manual_seed(seed)
    methods: list[str] = []

    def call() -> None:
        ls = log_s.clone().requires_grad_(True)
        lsg = torch.zeros(traits, dtype=sl.dtype, requires_grad=True)
        ll = torch.full((traits,), LOG_LAMBDA, dtype=sl.dtype, requires_grad=True)
        out = marginal_nll(sl, z, ls, lsg, method="auto", num_probes=num_probes, generator=gen, log_lambda=ll)
        out.nll.sum().backward()
        methods.append(out.method)

    secs = cpu_median(call, repeats)
    return SliceTiming(int(sl.m), int(sl.rank), int(traits), float(secs), methods[-1])


def time_batches(batches: Iterable[SliceBatch], log_s_of: Callable[[SliceBatch], torch.Tensor],
                 traits: tuple[int, ...], repeats: int, num_probes: int = 16) -> list[SliceTiming]:
    """Points for the benchmark's slices: each slice at every trait count of ``traits``."""
    out = []
    for b in batches:
        with torch.no_grad():
            log_s = log_s_of(b)
        for T in traits:
            out.append(time_slice(b.ld, b.z, log_s, T, repeats, num_probes))
    return out


def time_synthetic(sizes: tuple[int, ...], traits: tuple[int, ...], repeats: int, num_probes: int = 16,
                   seed: int = 0) -> list[SliceTiming]:
    """Points for synthetic slices of m in ``sizes`` (r = m / 3: a full-rank middle-third core)."""
    out = []
    for m in sizes:
        sl = LDSlice.from_ld(synthetic_ld(m, seed=seed), middle_third_core(m))
        log_s = prior_log_s(m, seed)
        z = sample_core_z(sl, log_s, torch.tensor(0.0, dtype=torch.float64), torch.Generator().manual_seed(seed))
        for T in traits:
            out.append(time_slice(sl, z, log_s, T, repeats, num_probes, seed))
    return out
