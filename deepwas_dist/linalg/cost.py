"""Cost model that picks the exact (Cholesky) or iterative (PCG + SLQ) path for a slice.

Both costs are counted in matrix-product flops. The constants fold in what a flop count misses:
Cholesky and triangular solves run below matrix-product speed, and each CG iteration pays a fixed
launch/Python overhead. They were calibrated with ``python -m deepwas_dist.bench likelihood``.
"""
from __future__ import annotations

#: Slowdown of Cholesky/triangular-solve flops relative to matrix-product flops.
EXACT_FLOP_PENALTY = 1.5
#: Fixed cost of one batched CG iteration, in flop equivalents (about 0.5 ms of small-op overhead).
ITER_OVERHEAD_FLOPS = 1.5e7
#: Iterations the preconditioned CG is expected to need at the default tolerance (7-8 measured on
#: 1000G and msprime LD with a log-normal prior of spread 1; more for wilder priors).
EXPECTED_PCG_ITERS = 10
#: Relative cost of the iterative path's products with Z, which run on a float32 copy and are limited
#: by memory traffic: half the bytes of float64.
MIXED_PRECISION_FACTOR = 0.5
#: Below this rank the Cholesky path is always used: K is tiny.
ALWAYS_EXACT_RANK = 128


def exact_cost(m: int, r: int, num_traits: int) -> float:
    """Flop-equivalents of the Cholesky path: K product, W = L^{-1} Z^T, Cholesky and L^{-1}."""
    return num_traits * (2.0 * m * r * r + EXACT_FLOP_PENALTY * (m * r * r + r ** 3))


def iterative_cost(m: int, r: int, num_traits: int, num_probes: int, iters: int = EXPECTED_PCG_ITERS) -> float:
    """Flop-equivalents of the iterative path: ``iters`` K and P^{-1} products on t + 1 columns,
    the preconditioner's probe products and the three Z products of the gradient."""
    k = num_probes + 1
    per_iter = num_traits * k * (4.0 * m * r * MIXED_PRECISION_FACTOR + 4.0 * r * r) + ITER_OVERHEAD_FLOPS
    return iters * per_iter + num_traits * 2.0 * m * r * (2 * num_probes + 1) * MIXED_PRECISION_FACTOR


def choose_method(m: int, r: int, num_traits: int, num_probes: int, iters: int = EXPECTED_PCG_ITERS) -> str:
    """'exact' or 'iterative', whichever the model says is cheaper for this slice."""
    if r <= ALWAYS_EXACT_RANK:
        return "exact"
    return "exact" if exact_cost(m, r, num_traits) <= iterative_cost(m, r, num_traits, num_probes, iters) \
        else "iterative"
