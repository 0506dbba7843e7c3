"""A per-slice cost model fitted to measured slice timings, and the epoch time it projects.

Model. One slice's NLL + gradient for T traits, m SNPs and LD rank r (after the run's truncation) costs

    t(m, r, T) = c0 + c1 T + c2 m r + c3 T m r + c4 T m r^2 + c5 T r^3

seconds: a fixed cost per slice (c0: Python, autograd set-up), per trait (c1), and the terms of the two
paths of :mod:`deepwas_dist.linalg.cost`: the iterative path's CG matvecs with the m x r factor Z, which
are memory-bound and batch every trait's probe columns into one product, so part of their cost is
reading Z once per iteration whatever T is (m r) and part is per trait (T m r); the exact path's
K = Z^T S Z product (T m r^2) and its Cholesky and solves (T r^3), per trait (each has its own prior
variances). The fit is non-negative least squares
on relative error (each row divided by its measured time: slices span orders of magnitude, and a cost
cannot be negative, so a collinear term gets 0 rather than a negative coefficient that would make a
projection go below zero). R^2 is on the seconds themselves.

Projection. An epoch on w workers of a genome with S SNPs is

    epoch(w) = overhead x sum_slices t(m, r, T) / w + steps(w) x allreduce(w),

assuming perfect cost balancing over workers (each gets 1/w of the slice cost; the planner balances by
cost), ``overhead`` the measured ratio of a training epoch to the sum of its slices' predicted cost (the
network, optimiser and bookkeeping), steps(w) = ceil(slices / (w x accumulation)) optimiser steps, each
paying one all-reduce of the gradient: ``allreduce_s`` per step at 2 workers, times log2(w) (latency-bound:
the prior network's gradient is small). The slices of S SNPs have the measured geometry: cores of
``core_kb``, flanks of ``flank_kb`` each side, S / genome_mb SNPs per Mb, rank min(core SNPs, ``rank_cap``).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np
from scipy.optimize import nnls

#: Terms of the model, as (name, function of (m, r, T) arrays).
TERMS = {
    "1": lambda m, r, T: np.ones_like(m, dtype=np.float64),
    "T": lambda m, r, T: T.astype(np.float64),
    "m*r": lambda m, r, T: m * r,
    "T*m*r": lambda m, r, T: T * m * r,
    "T*m*r^2": lambda m, r, T: T * m * r * r,
    "T*r^3": lambda m, r, T: T * r ** 3,
}


@dataclass(frozen=True)
class SliceTiming:
    """One measured slice: m SNPs, rank r, T traits, seconds of NLL + gradient, the method auto chose."""

    m: int
    r: int
    traits: int
    seconds: float
    method: str = "auto"


@dataclass(frozen=True)
class CostFit:
    """Fitted coefficients (seconds per unit of each term), fit quality and the residuals' spread."""

    terms: tuple[str, ...]
    coef: tuple[float, ...]
    r2: float
    median_abs_rel_residual: float
    max_abs_rel_residual: float
    n: int

    def predict(self, m, r, T) -> np.ndarray:
        m, r, T = (np.asarray(x, dtype=np.float64) for x in (m, r, T))
        return design(m, r, T, self.terms) @ np.asarray(self.coef)

    def to_dict(self) -> dict:
        return {**asdict(self), "coefficients": dict(zip(self.terms, self.coef))}


def design(m: np.ndarray, r: np.ndarray, T: np.ndarray, terms: tuple[str, ...]) -> np.ndarray:
    """(n, len(terms)) matrix of the model's terms at (m, r, T)."""
    m, r, T = (np.atleast_1d(np.asarray(x, dtype=np.float64)) for x in (m, r, T))
    return np.stack([TERMS[t](m, r, T) for t in terms], axis=1)


def fit_cost(timings: list[SliceTiming], terms: tuple[str, ...] = tuple(TERMS)) -> CostFit:
    """Non-negative least squares on relative error (module docstring)."""
    if len(timings) < len(terms):
        raise ValueError(f"need at least {len(terms)} timings to fit {len(terms)} terms, got {len(timings)}")
    m, r, T, y = (np.array([getattr(t, k) for t in timings], dtype=np.float64)
                  for k in ("m", "r", "traits", "seconds"))
    if np.any(y <= 0):
        raise ValueError("timings must be positive")
    A = design(m, r, T, terms)
    scale = A.max(axis=0)                        # columns of very different size: solve on unit columns
    scale[scale == 0] = 1.0
    w, _ = nnls((A / scale) / y[:, None], np.ones_like(y))
    coef = w / scale
    pred = A @ coef
    ss_res, ss_tot = float(((y - pred) ** 2).sum()), float(((y - y.mean()) ** 2).sum())
    rel = np.abs(pred - y) / y
    return CostFit(tuple(terms), tuple(float(c) for c in coef), 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0,
                   float(np.median(rel)), float(rel.max()), len(y))


def brute_force_nnls(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The non-negative least-squares solution by enumeration: plain least squares on every subset of
    columns, keeping the best fit whose coefficients are all >= 0 (the check of :func:`fit_cost`)."""
    k = A.shape[1]
    best, best_x = math.inf, np.zeros(k)
    for size in range(1, k + 1):
        for cols in combinations(range(k), size):
            x_sub, *_ = np.linalg.lstsq(A[:, cols], b, rcond=None)
            if np.any(x_sub < 0):
                continue
            x = np.zeros(k)
            x[list(cols)] = x_sub
            res = float(((A @ x - b) ** 2).sum())
            if res < best:
                best, best_x = res, x
    return best_x


@dataclass(frozen=True)
class Geometry:
    """Slices of a genome: core and flank widths (kb) and the LD rank's cap (the panel's size, less what
    the run's eigen-truncation drops)."""

    core_kb: float
    flank_kb: float
    rank_cap: int

    def slices(self, snps: int, genome_mb: float) -> tuple[int, int, int]:
        """(number of slices, m, r) for ``snps`` SNPs over ``genome_mb`` of sequence, every slice taken as
        interior (flanks on both sides; chromosome ends make a few slices smaller: an overestimate). r is
        the rank of the core's LD R_CC: at most the core's SNPs and at most ``rank_cap``."""
        per_kb = snps / (genome_mb * 1000.0)
        n = max(1, math.ceil(genome_mb * 1000.0 / self.core_kb))
        m = max(1, round(per_kb * (self.core_kb + 2 * self.flank_kb)))
        return n, m, min(max(1, round(per_kb * self.core_kb)), self.rank_cap)


@dataclass(frozen=True)
class Projection:
    """Projected epoch seconds for ``snps`` SNPs on ``workers`` workers (never a measurement)."""

    snps: int
    genome_mb: float
    rank_cap: int
    workers: int
    traits: int
    slices: int
    m: int
    r: int
    slice_s: float
    steps: int
    compute_s: float
    allreduce_s: float
    epoch_s: float
    projected: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def project_epoch(fit: CostFit, geometry: Geometry, snps: int, genome_mb: float, workers: int, traits: int,
                  overhead: float, allreduce_step_s: float, accumulation: int) -> Projection:
    """Epoch time of ``snps`` SNPs over ``genome_mb`` on ``workers`` workers (module docstring)."""
    if workers < 1 or accumulation < 1:
        raise ValueError("workers and accumulation must be >= 1")
    n, m, r = geometry.slices(snps, genome_mb)
    per = float(fit.predict(m, r, traits)[0])
    steps = math.ceil(n / (workers * accumulation))
    compute = overhead * n * per / workers
    comm = steps * allreduce_step_s * math.log2(workers) if workers > 1 else 0.0
    return Projection(snps, genome_mb, geometry.rank_cap, workers, traits, n, m, r, per, steps, compute, comm,
                      compute + comm)


def allreduce_per_step(epoch_1: float, epoch_2: float, steps_2: int) -> float:
    """Per-step cost of the all-reduce at 2 workers from measured epochs at 1 and 2 workers: what the
    2-worker epoch took beyond half the 1-worker one, per step (0 when it took less)."""
    return max(0.0, (epoch_2 - epoch_1 / 2.0) / max(steps_2, 1))
