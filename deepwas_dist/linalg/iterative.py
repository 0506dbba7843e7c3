"""The iterative path: one batched PCG solve on [u, probes], SLQ log-determinant, Hutchinson gradient.

For each trait, with t probes v_i = L e_i (e_i Rademacher, P = L L^T, so E[v v^T] = P), PCG solves
K [a, w_1..w_t] = [u, v_1..v_t]. With y_i = P^{-1} v_i = L^{-T} e_i (DESIGN.md section 1):
    quad      = u^T a
    logdet K ~= logdet P + tr(A) - r + (r / t) sum_i e_1^T (log T_i - T_i + I) e_1       (SLQ)
    diag(Z K^{-1} Z^T) ~= diag(Z P^{-1} Z^T) + mean_i (Z (w_i - y_i)) * (Z y_i)              (Hutchinson)
    tr K^{-1}          ~= tr P^{-1}          + mean_i (w_i - y_i)^T y_i
    dNLL/dlog s_j   = 1/2 s_j [ diag(Z K^{-1} Z^T)_j - (Z a)_j^2 ]
    dNLL/dlog sigma = 1/2 sigma [ tr K^{-1} - a^T a ]
where A = L^{-1} K L^{-T} (tr A = tr P^{-1} K, exact) and T_i is the Lanczos matrix of probe i.
With the mismatch term lambda M in K (M = diag(mu)), tr A gains lambda tr(P^{-1} M) (exact) and
    tr(K^{-1} M)       ~= tr(P^{-1} M)      + mean_i (w_i - y_i)^T M y_i
    dNLL/dlog lambda = 1/2 lambda [ tr(K^{-1} M) - a^T M a ]      (range part; null space: mismatch.py)
The estimators are unbiased (E[w y^T] = K^{-1}, E[y y^T] = P^{-1}); the exact P terms act as control
variates, so the noise scales with K^{-1} - P^{-1}, small when P is a good preconditioner.
Cost per iteration: 4 m r (t + 1) T flops for K, O(r k (t + 1) T) for P^{-1} (k: its rank).
"""
from __future__ import annotations

import torch

from ..device import to_device
from .cg import batched_pcg
from .lanczos import quadrature_logdet, tridiagonal_from_cg
from .operator import KOperator
from .parts import SliceParts
from .preconditioner import Preconditioner


def rademacher(r: int, t: int, generator: torch.Generator | None, dtype: torch.dtype,
               device: torch.device) -> torch.Tensor:
    """(r, t) matrix of independent +-1 entries."""
    gen_device = "cpu" if generator is None else generator.device
    bits = torch.randint(0, 2, (r, t), generator=generator, device=gen_device)
    return to_device(2.0 * bits - 1.0, device, dtype)      # CPU generator: pinned, non-blocking copy


def iterative_parts(
    op: KOperator,
    u: torch.Tensor,
    precond: Preconditioner,
    need_grad: bool,
    num_probes: int = 16,
    tol: float = 1e-4,
    max_iters: int = 300,
    generator: torch.Generator | None = None,
) -> SliceParts:
    """NLL pieces (SLQ log-det, CG quad form) and Hutchinson gradients for every trait.

    ``u``: (T, r) whitened z-scores. ``converged`` on the result is False if any column failed to
    reach ``tol`` within ``max_iters``; the caller decides what to do (fall back to exact).
    """
    T, r = op.num_traits, op.r
    E = rademacher(r, num_probes, generator, u.dtype, u.device).expand(T, r, num_probes)
    V = precond.sample(E)                                      # (T, r, t), covariance P
    B = torch.cat([u[:, :, None], V], dim=2)
    cg = batched_pcg(op.matmul, B, precond.solve, tol=tol, max_iters=max_iters)
    a, W = cg.X[:, :, 0], cg.X[:, :, 1:]
    quad = (u * a).sum(1)
    t = num_probes
    Y = precond.whitened_solve(E) if need_grad else None       # y = P^{-1} v = L^{-T} e
    # one pass over Z for everything below: (T, [1 + 2t] + k, m), the last k columns for P's low-rank part
    cols = ([a[:, :, None], W - Y, Y] if need_grad else []) + [precond.lowrank_basis()]
    ZX = op.z_matmul_rows(torch.cat(cols, dim=2))
    Z_mul = op.Z if op.Z_mul is None else op.Z_mul
    diag_pinv = precond.inv_diag_quad(Z_mul, ZX[:, ZX.shape[1] - precond.rank:])   # diag(Z P^-1 Z^T): (T, m)
    tr_pinv = precond.inv_trace()
    # SLQ with tr(A) as control variate, A = L^{-1} K L^{-T}: e^T A e = r T_11 is read off the
    # Lanczos matrix and tr A = tr(P^{-1} K) is exact, so only log x - x + 1 (second order in A - I) is
    # left to the probes.
    Tm = tridiagonal_from_cg(cg.alpha[:, :, 1:], cg.beta[:, :, 1:], cg.n_iters[:, 1:])   # (T, t, J, J)
    first = Tm[..., 0, 0] if Tm.shape[-1] else torch.ones(Tm.shape[:2], dtype=u.dtype, device=u.device)
    tr_A = op.sigma * tr_pinv + (op.s * diag_pinv).sum(1)
    if op.has_mismatch:
        mu = op.mu.to(u.dtype)
        tr_pinv_M = precond.inv_trace_diag(mu)
        tr_A = tr_A + op.lam * tr_pinv_M
    logdet = precond.logdet() + (tr_A - r) + r * (quadrature_logdet(Tm) - first + 1.0).mean(1)
    g_s = g_sigma = g_lam = None
    if need_grad:
        D = W - Y
        Za, ZD, ZY = ZX[:, 0], ZX[:, 1:t + 1], ZX[:, t + 1:2 * t + 1]
        diag_kinv = diag_pinv + (ZD * ZY).mean(1)
        tr_kinv = tr_pinv + (D * Y).sum(1).mean(1)
        g_s = 0.5 * op.s * (diag_kinv - Za * Za)
        g_sigma = 0.5 * op.sigma * (tr_kinv - (a * a).sum(1))
        if op.has_mismatch:
            tr_kinv_M = tr_pinv_M + (D * Y * mu[None, :, None]).sum(1).mean(1)
            g_lam = 0.5 * op.lam * (tr_kinv_M - (mu[None, :] * a * a).sum(1))
    # One host sync per solve, after CG (not inside it): the caller's exact fallback is Python control
    # flow on ``converged``, and cg_iters / residual are reported numbers.
    return SliceParts(logdet_K=logdet, quad=quad, grad_log_s=g_s, grad_log_sigma=g_sigma,
                      grad_log_lambda=g_lam, method="iterative", cg_iters=cg.converged_iters,
                      residual=float(cg.residual.max()), converged=bool((cg.residual <= tol).all()))
