"""Cost model that picks the exact (Cholesky) or iterative (PCG + SLQ) path for a slice.

Both costs are counted in matrix-product flops. The constants fold in what a flop count misses:
Cholesky and triangular solves run below matrix-product speed, and each CG iteration pays a fixed
launch/Python overhead. They were fitted to the exact and iterative times of ``python -m deepwas_dist.bench likelihood``
(1000G and msprime LD, m = 1,000 to 8,000), weighting the slices where the two are within 3x.
"""
from __future__ import annotations

#: Slowdown of Cholesky/triangular-solve flops relative to matrix-product flops.
EXACT_FLOP_PENALTY = 1.5
#: Fixed cost of one batched CG iteration, in flop equivalents (small-op overhead).
ITER_OVERHEAD_FLOPS = 5e6
#: Iterations the preconditioned CG is expected to need at the default tolerance (5-6 measured on
#: 1000G and msprime LD with a log-normal prior of spread 1 and the default preconditioner rank;
#: more for wilder priors).
EXPECTED_PCG_ITERS = 7
#: Cost per flop of the iterative path's products with Z relative to the exact path's. They run on a
#: float32 copy (half the bytes) but with few columns they are limited by memory traffic, while the
#: exact path's products are compute bound: measured side by side, the two come out at par.
Z_PRODUCT_FACTOR = 1.0
#: Slowdown of the small symmetric eigensolver (the preconditioner's k x k Gram) per flop.
EIGH_FLOP_PENALTY = 15.0
#: Below this rank the Cholesky path is always used: K is tiny.
ALWAYS_EXACT_RANK = 128


def exact_cost(m: int, r: int, num_traits: int, mismatch: bool = False) -> float:
    """Flop-equivalents of the Cholesky path: K product, W = L^{-1} Z^T, Cholesky and L^{-1}
    (and L^{-1} M for the mismatch gradient)."""
    return num_traits * (2.0 * m * r * r + EXACT_FLOP_PENALTY * (m * r * r + r ** 3) + 2.0 * mismatch * r ** 3)


def iterative_cost(m: int, r: int, num_traits: int, num_probes: int, precond_rank: int = 0,
                   iters: int = EXPECTED_PCG_ITERS, mismatch: bool = False) -> float:
    """Flop-equivalents of the iterative path: building the rank-k preconditioner, ``iters`` K and
    P^{-1} products on t + 1 columns, and the final pass over Z (gradient and trace terms)."""
    k, c = min(precond_rank, m, r), num_probes + 1
    build = num_traits * (2.0 * k * k * r + EIGH_FLOP_PENALTY * k ** 3)
    per_iter = num_traits * c * (4.0 * m * r * Z_PRODUCT_FACTOR + 4.0 * r * k + 2.0 * mismatch * r * r) \
        + ITER_OVERHEAD_FLOPS
    final = num_traits * 2.0 * m * r * (2 * num_probes + 2 + k) * Z_PRODUCT_FACTOR
    return build + iters * per_iter + final


def choose_method(m: int, r: int, num_traits: int, num_probes: int, precond_rank: int = 0,
                  iters: int = EXPECTED_PCG_ITERS, mismatch: bool = False) -> str:
    """'exact' or 'iterative', whichever the model says is cheaper for this slice."""
    if r <= ALWAYS_EXACT_RANK:
        return "exact"
    iterative = iterative_cost(m, r, num_traits, num_probes, precond_rank, iters, mismatch)
    return "exact" if exact_cost(m, r, num_traits, mismatch) <= iterative else "iterative"
