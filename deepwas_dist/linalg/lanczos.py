"""Stochastic Lanczos quadrature from CG coefficients (Gardner et al. 2018; Ubaru et al. 2017).

PCG on K w = v with preconditioner P is Lanczos on A = P^{-1/2} K P^{-1/2} started at
P^{-1/2} v / ||P^{-1/2} v||; its tridiagonal matrix has
    T_jj = 1/alpha_j + beta_{j-1}/alpha_{j-1},   T_{j,j+1} = sqrt(beta_j)/alpha_j,
and e_1^T log(T) e_1 = sum_l tau_l^2 log theta_l (theta, tau: eigenvalues and first components of
the eigenvectors of T) approximates (P^{-1/2}v)^T log(A) (P^{-1/2}v) / ||P^{-1/2} v||^2.
"""
from __future__ import annotations

import torch


def tridiagonal_from_cg(alpha: torch.Tensor, beta: torch.Tensor, n_iters: torch.Tensor) -> torch.Tensor:
    """Lanczos matrices (..., J, J) from CG coefficients alpha, beta (J, ...) with n_iters (...) steps.

    Columns that stopped early are padded with an identity block (log 1 = 0, decoupled from e_1).
    """
    J = alpha.shape[0]
    a = alpha.movedim(0, -1)                                   # (..., J)
    b = beta.movedim(0, -1)
    steps = torch.arange(J, device=alpha.device)
    live = steps < n_iters[..., None]                           # (..., J)
    safe_a = torch.where(live, a, torch.ones_like(a))
    diag = 1.0 / safe_a
    diag[..., 1:] += torch.where(live[..., 1:], b[..., :-1] / safe_a[..., :-1], torch.zeros_like(a[..., 1:]))
    diag = torch.where(live, diag, torch.ones_like(diag))
    off_live = live[..., 1:]                                    # coupling j -> j+1 exists if step j+1 ran
    off = torch.where(off_live, b[..., :-1].clamp_min(0).sqrt() / safe_a[..., :-1], torch.zeros_like(a[..., 1:]))
    Tm = torch.diag_embed(diag)
    Tm = Tm + torch.diag_embed(off, offset=1) + torch.diag_embed(off, offset=-1)
    return Tm


def quadrature_logdet(Tm: torch.Tensor) -> torch.Tensor:
    """e_1^T log(T) e_1 for a batch of Lanczos matrices (..., J, J): returns (...)."""
    if Tm.shape[-1] == 0:
        return Tm.new_zeros(Tm.shape[:-2])
    theta, V = torch.linalg.eigh(Tm)
    theta = theta.clamp_min(torch.finfo(Tm.dtype).tiny)
    return (V[..., 0, :] ** 2 * theta.log()).sum(-1)
