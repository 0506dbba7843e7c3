"""The slice negative log-likelihood of GWAS z-scores under LD (DESIGN.md section 1).

    NLL = 1/2 [ logdet K + u^T K^{-1} u + logdet_R + r log(2 pi) ],   K = sigma I + Z^T S Z,  u = T^T z_C

computed by Cholesky (``exact``) or by preconditioned CG + stochastic Lanczos quadrature
(``iterative``), with gradients to log s and log sigma from closed forms (no autograd through the
solver). With ``log_lambda`` the reference-panel mismatch model of :mod:`deepwas_dist.mismatch` is used:
K = sigma I + lambda M + Z^T S Z, plus the closed-form null-space term, so the NLL scores all n core
z-scores. ``auto`` picks the cheaper path with a cost model; an iterative solve that does not
converge falls back to exact with a warning.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from .checks import check_log_lambda, check_slice_inputs
from .errors import InputError
from .linalg.cholesky import exact_parts
from .linalg.cost import choose_method
from .linalg.hessian import HessianParts, exact_hessian_parts
from .linalg.iterative import iterative_parts
from .linalg.operator import KOperator
from .linalg.parts import SliceParts
from .linalg.preconditioner import DEFAULT_RANK, Preconditioner
from .mismatch import null_space_parts
from .slice import LDSlice

METHODS = ("auto", "exact", "iterative")
LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class NLLResult:
    """The slice NLL (nats) and how it was computed.

    nll: () for one trait, (T,) for T traits; differentiable w.r.t. log_s and log_sigma.
    logdet_K, quad: detached, same shape as nll. logdet_R: float. rank: r. n_core: n.
    method: 'exact', 'iterative' or 'exact (fallback)'. cg_iters: PCG iterations (0 exact).
    residual: worst final relative CG residual (0 exact).
    null_space: detached null-space term of the mismatch model (same shape as nll), None without it.
    """

    nll: torch.Tensor
    logdet_K: torch.Tensor
    quad: torch.Tensor
    logdet_R: float
    rank: int
    n_core: int
    method: str
    cg_iters: int
    residual: float
    null_space: torch.Tensor | None = None


class _SliceNLL(torch.autograd.Function):
    """Attach precomputed gradient coefficients to the NLL value (first-order autograd only)."""

    @staticmethod
    def forward(ctx, log_s, log_sigma, log_lambda, value, g_log_s, g_log_sigma, g_log_lambda):  # noqa: D401
        ctx.save_for_backward(g_log_s, g_log_sigma, g_log_lambda)
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        g_log_s, g_log_sigma, g_log_lambda = ctx.saved_tensors
        g_lam = None if g_log_lambda is None else g_log_lambda * grad
        return g_log_s * grad[None, :], g_log_sigma * grad, g_lam, None, None, None, None


def marginal_nll(
    sl: LDSlice,
    z: torch.Tensor | np.ndarray,
    log_s: torch.Tensor,
    log_sigma: torch.Tensor | float,
    method: str = "auto",
    *,
    num_probes: int = 16,
    cg_tol: float = 1e-4,
    max_iters: int = 300,
    precondition: bool = True,
    precond_rank: int = DEFAULT_RANK,
    mixed_precision: bool = True,
    generator: torch.Generator | None = None,
    log_lambda: torch.Tensor | float | None = None,
) -> NLLResult:
    """NLL of the core z-scores of one slice, for one trait or T traits at once.

    Args:
        sl: the slice's precomputed factors (its dtype sets the precision: float64 by default).
        z: (n,) core z-scores, or (n, T) for T traits.
        log_s: (m,) or (m, T) log prior variances of every slice SNP in z units (s = N f).
        log_sigma: () or (T,) log residual scale (1 = no confounding).
        method: 'exact', 'iterative' or 'auto'.
        num_probes, cg_tol, max_iters, precondition, generator: iterative-path settings.
        precond_rank: SNPs whose prior variance the preconditioner keeps exactly (0: diagonal only).
        mixed_precision: on the iterative path of a float64 slice, run the products with Z on a float32
            copy (they are memory-bound; float32 rounding, ~1e-7, is far below the path's stochastic
            error); CG recurrences, SLQ and all reductions stay float64. False: all float64.
        log_lambda: () or (T,) log mismatch variance (z^2 units), or None for no mismatch term (the
            NLL then scores only the projection of z_C on range(R_CC)).
    Returns: an :class:`NLLResult`; ``result.nll.backward()`` reaches log_s, log_sigma (and log_lambda).
    """
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    batched, z2, log_s2, log_sigma2 = check_slice_inputs(sl, z, log_s, log_sigma)
    log_lam2 = check_log_lambda(log_lambda, batched, z2.shape[1], log_s2)
    if log_lam2 is not None:
        sl = sl.core_basis                          # the basis where the mismatch term is diagonal
    need_grad = torch.is_grad_enabled() and (log_s2.requires_grad or log_sigma2.requires_grad
                                             or (log_lam2 is not None and log_lam2.requires_grad))
    dt, dev = sl.dtype, sl.device
    s = log_s2.detach().to(dtype=dt, device=dev).exp().T.contiguous()        # (T, m)
    sigma = log_sigma2.detach().to(dtype=dt, device=dev).exp()
    zc = z2.to(dtype=dt, device=dev)
    u = sl.whiten(zc).T.contiguous()                                         # (T, r)
    mm = {} if log_lam2 is None else {"lam": log_lam2.detach().to(dtype=dt, device=dev).exp(),
                                      "mu": sl.core_diag}
    op = KOperator(Z=sl.Z, s=s, sigma=sigma, **mm)
    T = op.num_traits
    rank = precond_rank if precondition else 0
    chosen = method if method != "auto" else choose_method(sl.m, sl.rank, T, num_probes, rank,
                                                           mismatch=op.has_mismatch)
    if chosen == "exact":
        parts = exact_parts(op, u, need_grad)
    else:
        if mixed_precision and dt == torch.float64:
            op = KOperator(Z=sl.Z, s=s, sigma=sigma, Z_mul=sl.Z_float32, **mm)
        pre = Preconditioner.build(op, sl.omega, sl.row_norm2, rank) if precondition \
            else Preconditioner.identity(op)
        parts = iterative_parts(op, u, pre, need_grad, num_probes=num_probes, tol=cg_tol,
                                max_iters=max_iters, generator=generator)
        if not parts.converged:
            warnings.warn(f"CG did not reach tolerance {cg_tol:g} in {max_iters} iterations "
                          f"(residual {parts.residual:.2e}, m={sl.m}, r={sl.rank}); using the exact path "
                          "for this slice", RuntimeWarning, stacklevel=2)
            iters, res = parts.cg_iters, parts.residual
            parts = exact_parts(op, u, need_grad)
            parts.method, parts.cg_iters, parts.residual = "exact (fallback)", iters, res
    null = None if log_lam2 is None else null_space_parts(sl, zc, u, op.lam)
    return _assemble(sl, parts, log_s2, log_sigma2, log_lam2, null, batched, need_grad)


def _assemble(sl: LDSlice, parts: SliceParts, log_s2: torch.Tensor, log_sigma2: torch.Tensor,
              log_lam2: torch.Tensor | None, null: tuple[torch.Tensor, torch.Tensor] | None,
              batched: bool, need_grad: bool) -> NLLResult:
    const = sl.logdet_R + sl.rank * LOG_2PI
    value = 0.5 * (parts.logdet_K + parts.quad + const)
    g_lam = None
    if null is not None:
        value = value + null[0]
        if need_grad:
            g_lam = (parts.grad_log_lambda + null[1]).to(device=log_lam2.device, dtype=log_lam2.dtype)
    out_dtype = log_s2.dtype if log_s2.is_floating_point() else value.dtype
    value = value.to(device=log_s2.device, dtype=out_dtype)
    if need_grad:
        nll = _SliceNLL.apply(log_s2, log_sigma2, log_lam2, value,
                              parts.grad_log_s.T.to(device=log_s2.device, dtype=log_s2.dtype),
                              parts.grad_log_sigma.to(device=log_sigma2.device, dtype=log_sigma2.dtype), g_lam)
    else:
        nll = value
    pick = (lambda x: x) if batched else (lambda x: x[0])
    return NLLResult(nll=pick(nll), logdet_K=pick(parts.logdet_K), quad=pick(parts.quad),
                     logdet_R=sl.logdet_R, rank=sl.rank, n_core=sl.n, method=parts.method,
                     cg_iters=parts.cg_iters, residual=parts.residual,
                     null_space=None if null is None else pick(null[0].detach()))


def sample_core_z(sl: LDSlice, log_s: torch.Tensor, log_sigma: torch.Tensor | float,
                  generator: torch.Generator | None = None,
                  log_lambda: torch.Tensor | float | None = None) -> torch.Tensor:
    """Draw core z-scores from the model, z_C ~ N(0, Sigma_C) on range(R_CC): returns (n,).

    Uses u ~ N(0, K) and z_C = Z_C u (Z_C = R_CC T, so T^T z_C = u). With ``log_lambda``, adds the
    mismatch noise: z_C ~ N(0, Sigma_C + lambda I_n).
    """
    s = torch.as_tensor(log_s, dtype=sl.dtype, device=sl.device).detach().exp()
    sigma = torch.as_tensor(log_sigma, dtype=sl.dtype, device=sl.device).detach().exp().reshape(1)
    K = KOperator(Z=sl.Z, s=s[None, :], sigma=sigma).dense(0)
    eps = torch.randn(sl.rank, generator=generator, dtype=sl.dtype, device="cpu").to(sl.device)
    u = torch.linalg.cholesky(K) @ eps
    z = sl.Z[sl.core_mask.to(sl.device)] @ u
    if log_lambda is not None:
        lam = math.exp(float(log_lambda))
        z = z + math.sqrt(lam) * torch.randn(sl.n, generator=generator, dtype=sl.dtype, device="cpu").to(sl.device)
    return z


def null_nll(sl: LDSlice, z: torch.Tensor, log_sigma: torch.Tensor | float,
             log_lambda: torch.Tensor | float | None = None) -> torch.Tensor:
    """The slice NLL under the null prior s = 0: () or (T,) for z (n,) or (n, T), in closed form.

    Without mismatch (K = sigma I): 0.5 [ r log sigma + u^T u / sigma + logdet_R + r log 2 pi ].
    With it (K = sigma I + lambda diag(mu) in R_CC's eigenbasis): 0.5 sum_i [ log(sigma + lambda mu_i)
    + u_i^2 / (sigma + lambda mu_i) ] + the same constants, plus the null-space term.
    """
    if log_lambda is not None:
        sl = sl.core_basis
    zt = torch.as_tensor(z, dtype=sl.dtype, device=sl.device)
    u = sl.whiten(zt)
    ls = torch.as_tensor(log_sigma, dtype=sl.dtype, device=sl.device)
    const = sl.logdet_R + sl.rank * LOG_2PI
    if log_lambda is None:
        return 0.5 * (sl.rank * ls + u.square().sum(0) * torch.exp(-ls) + const)
    batched = zt.ndim == 2
    z2, u2 = (zt, u) if batched else (zt[:, None], u[:, None])
    lam = torch.as_tensor(log_lambda, dtype=sl.dtype, device=sl.device).exp().reshape(-1)
    d = ls.exp().reshape(-1)[None, :] + lam[None, :] * sl.core_diag[:, None]   # (r, T)
    range_part = 0.5 * (d.log().sum(0) + (u2.square() / d).sum(0) + const)
    out = range_part + null_space_parts(sl, z2, u2.T.contiguous(), lam)[0]
    return out if batched else out[0]


def marginal_nll_hessian(sl: LDSlice, z: torch.Tensor, log_s: torch.Tensor, log_sigma: torch.Tensor,
                         log_lambda: torch.Tensor | None = None) -> list[HessianParts]:
    """Per trait, the exact NLL's gradient and Hessian in (log s, log sigma) (lambda held), in closed form
    (:mod:`deepwas_dist.linalg.hessian`); same arguments as :func:`marginal_nll` with ``z`` (n, T),
    ``log_s`` (m, T), ``log_sigma`` (T,). The jackknife's per-slice Hessians in one pass
    (:mod:`deepwas_dist.evaluate.curvature`) instead of P + 1."""
    _, z2, log_s2, log_sigma2 = check_slice_inputs(sl, z, log_s, log_sigma)
    log_lam2 = check_log_lambda(log_lambda, True, z2.shape[1], log_s2)
    if log_lam2 is not None:
        sl = sl.core_basis
    dt, dev = sl.dtype, sl.device
    mm = {} if log_lam2 is None else {"lam": log_lam2.detach().to(dtype=dt, device=dev).exp(), "mu": sl.core_diag}
    op = KOperator(Z=sl.Z, s=log_s2.detach().to(dtype=dt, device=dev).exp().T.contiguous(),
                   sigma=log_sigma2.detach().to(dtype=dt, device=dev).exp(), **mm)
    u = sl.whiten(z2.to(dtype=dt, device=dev)).T.contiguous()
    return [exact_hessian_parts(op, u, t) for t in range(op.num_traits)]
