"""Batched preconditioned conjugate gradients that keep the Lanczos coefficients.

Solves K X = B for a (T, r, k) batch of right-hand sides, all columns at once (one K product per
iteration). Each column stops updating once its relative residual ||r|| / ||b|| is below ``tol``.

Host synchronisation: the convergence mask ``active`` lives on the device, and the loop only asks the
host whether any column is still active (``bool(active.any())``, a device-to-host sync) every
``check_every`` iterations. On a CPU tensor that check is free, so it runs every iteration (the default
there); on CUDA it stalls the launch queue, so by default it runs every :data:`CUDA_CHECK_EVERY`
iterations. Iterations past convergence are exact no-ops for converged columns (alpha = beta = 0, X and
R unchanged, ``n_iters`` not incremented), so the result only gains zero rows of alpha/beta, which the
Lanczos matrices pad with identity blocks: the cost is at most ``check_every - 1`` wasted K products.
The step sizes alpha and beta of every column are returned, because they define the Lanczos
tridiagonal matrix of the preconditioned operator P^{-1/2} K P^{-1/2} (used by SLQ).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

#: Iterations between host-side convergence checks when B is on a CUDA device (1 on CPU). With the
#: 5-7 iterations preconditioned CG takes here, 2 removes half the syncs for at most one extra K product.
CUDA_CHECK_EVERY = 2


@dataclass
class CGResult:
    """X (T, r, k) solutions; alpha, beta (iters, T, k) with zeros once a column has converged;
    n_iters (T, k) iterations per column; residual (T, k) final relative residuals."""

    X: torch.Tensor
    alpha: torch.Tensor
    beta: torch.Tensor
    n_iters: torch.Tensor
    residual: torch.Tensor

    @property
    def converged_iters(self) -> int:
        return int(self.n_iters.max()) if self.n_iters.numel() else 0


def batched_pcg(
    matmul: Callable[[torch.Tensor], torch.Tensor],
    B: torch.Tensor,
    precond: Callable[[torch.Tensor], torch.Tensor],
    tol: float = 1e-4,
    max_iters: int = 200,
    check_every: int | None = None,
) -> CGResult:
    """Run PCG on K X = B; ``matmul`` applies K and ``precond`` applies P^{-1} to (T, r, k) tensors.

    ``check_every``: iterations between the host's "any column still active?" checks (None: 1 on CPU,
    :data:`CUDA_CHECK_EVERY` on CUDA).
    """
    if check_every is None:
        check_every = CUDA_CHECK_EVERY if B.device.type == "cuda" else 1
    check_every = max(1, int(check_every))
    X = torch.zeros_like(B)
    R = B.clone()
    b_norm = B.norm(dim=1).clamp_min(torch.finfo(B.dtype).tiny)
    Zr = precond(R)
    P = Zr.clone()
    rz = (R * Zr).sum(1)
    active = (R.norm(dim=1) / b_norm) > tol
    n_iters = torch.zeros(B.shape[0], B.shape[2], dtype=torch.long, device=B.device)
    alphas, betas = [], []
    for it in range(max_iters):
        if it % check_every == 0 and not bool(active.any()):     # the loop's only host sync
            break
        KP = matmul(P)
        pKp = (P * KP).sum(1)
        alpha = torch.where(active, rz / torch.where(active, pKp, torch.ones_like(pKp)), torch.zeros_like(pKp))
        X = X + alpha[:, None, :] * P
        R = R - alpha[:, None, :] * KP
        Zr = precond(R)
        rz_new = (R * Zr).sum(1)
        beta = torch.where(active, rz_new / torch.where(active, rz, torch.ones_like(rz)), torch.zeros_like(rz))
        P = Zr + beta[:, None, :] * P
        rz = rz_new
        n_iters += active.long()
        alphas.append(alpha)
        betas.append(beta)
        active = active & ((R.norm(dim=1) / b_norm) > tol)
    res = R.norm(dim=1) / b_norm
    empty = B.new_zeros(0, B.shape[0], B.shape[2])
    return CGResult(X=X, alpha=torch.stack(alphas) if alphas else empty,
                    beta=torch.stack(betas) if betas else empty, n_iters=n_iters, residual=res)
