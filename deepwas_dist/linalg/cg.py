"""Batched preconditioned conjugate gradients that keep the Lanczos coefficients.

Solves K X = B for a (T, r, k) batch of right-hand sides, all columns at once (one K product per
iteration). Each column stops updating once its relative residual ||r|| / ||b|| is below ``tol``.
The step sizes alpha and beta of every column are returned, because they define the Lanczos
tridiagonal matrix of the preconditioned operator P^{-1/2} K P^{-1/2} (used by SLQ).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


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
) -> CGResult:
    """Run PCG on K X = B; ``matmul`` applies K and ``precond`` applies P^{-1} to (T, r, k) tensors."""
    X = torch.zeros_like(B)
    R = B.clone()
    b_norm = B.norm(dim=1).clamp_min(torch.finfo(B.dtype).tiny)
    Zr = precond(R)
    P = Zr.clone()
    rz = (R * Zr).sum(1)
    active = (R.norm(dim=1) / b_norm) > tol
    n_iters = torch.zeros(B.shape[0], B.shape[2], dtype=torch.long, device=B.device)
    alphas, betas = [], []
    for _ in range(max_iters):
        if not bool(active.any()):
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
