"""The exact path's second derivatives: the slice NLL's Hessian in (log s, log sigma), in closed form.

With K = sigma I + lambda diag(mu) + Z^T S Z = L L^T (S = diag(s), z_j the j-th row of Z), a = K^{-1} u,
W = L^{-1} Z^T (so W_:j . W_:k = z_j^T K^{-1} z_k =: C_jk), V = L^{-T} W = K^{-1} Z^T and b = Z a:

    g_j       = dNLL/dlog s_j   = 1/2 s_j (C_jj - b_j^2)
    g_sigma   = dNLL/dlog sigma = 1/2 sigma (tr K^{-1} - a^T a)

Differentiating once more, with dK/dlog s_k = s_k z_k z_k^T and dK/dlog sigma = sigma I (and
d K^{-1} = -K^{-1} dK K^{-1}):

    H_jk          = delta_jk g_j + 1/2 s_j s_k (2 b_j b_k C_jk - C_jk^2)
    H_j,sigma     = 1/2 s_j sigma (2 b_j (V_:j . a) - ||V_:j||^2)
    H_sigma,sigma = g_sigma + 1/2 sigma^2 (2 a^T K^{-1} a - tr K^{-2})

lambda is held: the null-space term of the mismatch model depends on lambda alone, so it adds nothing.
Cost per trait: m^2 r for C (the m x m block the jackknife needs), plus the m r^2 of the gradient.
Checked against autograd through a dense brute force in tests/linalg/test_hessian.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError
from .operator import KOperator


@dataclass
class HessianParts:
    """One trait's NLL derivatives: gradient in log s (m,) and log sigma (), Hessian blocks (m, m), (m,), ()."""

    grad_log_s: torch.Tensor
    grad_log_sigma: torch.Tensor
    h_ss: torch.Tensor
    h_s_sigma: torch.Tensor
    h_sigma_sigma: torch.Tensor


def exact_hessian_parts(op: KOperator, u: torch.Tensor, t: int) -> HessianParts:
    """Gradient and Hessian of trait ``t``'s NLL in (log s, log sigma); ``u``: (T, r) whitened z-scores."""
    L, info = torch.linalg.cholesky_ex(op.dense(t))
    if int(info) != 0:
        raise InputError(f"K is not positive definite for trait {t} (sigma={float(op.sigma[t]):.3g}); "
                         "check that log_sigma and log_s are finite")
    eye = torch.eye(op.r, dtype=u.dtype, device=u.device)
    a = torch.cholesky_solve(u[t][:, None], L)[:, 0]
    W = torch.linalg.solve_triangular(L, op.Z.T, upper=False)              # (r, m)
    V = torch.linalg.solve_triangular(L.T, W, upper=True)                  # K^{-1} Z^T
    Linv = torch.linalg.solve_triangular(L, eye, upper=False)
    Kinv = Linv.T @ Linv
    s, sigma = op.s[t], op.sigma[t]
    C = W.T @ W
    b = op.Z @ a
    g_s = 0.5 * s * (C.diagonal() - b * b)
    g_sigma = 0.5 * sigma * (Kinv.diagonal().sum() - a @ a)
    h_ss = 0.5 * (s[:, None] * s[None, :]) * (2.0 * b[:, None] * b[None, :] * C - C * C)
    h_ss.diagonal().add_(g_s)
    h_s_sigma = 0.5 * s * sigma * (2.0 * b * (a @ V) - (V * V).sum(0))
    h_sigma_sigma = g_sigma + 0.5 * sigma * sigma * (2.0 * a @ (Kinv @ a) - (Kinv * Kinv).sum())
    return HessianParts(g_s, g_sigma, h_ss, h_s_sigma, h_sigma_sigma)
