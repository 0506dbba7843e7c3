"""The slice negative log-likelihood of GWAS z-scores under LD (DESIGN.md section 1).

    NLL = 1/2 [ logdet K + u^T K^{-1} u + logdet_R + r log(2 pi) ],   K = sigma I + Z^T S Z,  u = T^T z_C

computed by Cholesky (``exact``) or by preconditioned CG + stochastic Lanczos quadrature
(``iterative``), with gradients to log s and log sigma from closed forms (no autograd through the
solver). ``auto`` picks the cheaper path with a cost model; an iterative solve that does not
converge falls back to exact with a warning.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from .checks import check_slice_inputs
from .errors import InputError
from .linalg.cholesky import exact_parts
from .linalg.cost import choose_method
from .linalg.iterative import iterative_parts
from .linalg.operator import KOperator
from .linalg.parts import SliceParts
from .linalg.preconditioner import DEFAULT_RANK, Preconditioner
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


class _SliceNLL(torch.autograd.Function):
    """Attach precomputed gradient coefficients to the NLL value (first-order autograd only)."""

    @staticmethod
    def forward(ctx, log_s, log_sigma, value, g_log_s, g_log_sigma):  # noqa: D401
        ctx.save_for_backward(g_log_s, g_log_sigma)
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        g_log_s, g_log_sigma = ctx.saved_tensors
        return g_log_s * grad[None, :], g_log_sigma * grad, None, None, None


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
    Returns: an :class:`NLLResult`; ``result.nll.backward()`` reaches log_s and log_sigma.
    """
    if method not in METHODS:
        raise InputError(f"method must be one of {METHODS}, got {method!r}")
    batched, z2, log_s2, log_sigma2 = check_slice_inputs(sl, z, log_s, log_sigma)
    need_grad = torch.is_grad_enabled() and (log_s2.requires_grad or log_sigma2.requires_grad)
    dt, dev = sl.dtype, sl.device
    s = log_s2.detach().to(dtype=dt, device=dev).exp().T.contiguous()        # (T, m)
    sigma = log_sigma2.detach().to(dtype=dt, device=dev).exp()
    u = sl.whiten(z2.to(dtype=dt, device=dev)).T.contiguous()                # (T, r)
    op = KOperator(Z=sl.Z, s=s, sigma=sigma)
    T = op.num_traits
    rank = precond_rank if precondition else 0
    chosen = method if method != "auto" else choose_method(sl.m, sl.rank, T, num_probes, rank)
    if chosen == "exact":
        parts = exact_parts(op, u, need_grad)
    else:
        if mixed_precision and dt == torch.float64:
            op = KOperator(Z=sl.Z, s=s, sigma=sigma, Z_mul=sl.Z_float32)
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
    return _assemble(sl, parts, log_s2, log_sigma2, batched, need_grad)


def _assemble(sl: LDSlice, parts: SliceParts, log_s2: torch.Tensor, log_sigma2: torch.Tensor,
              batched: bool, need_grad: bool) -> NLLResult:
    const = sl.logdet_R + sl.rank * LOG_2PI
    value = 0.5 * (parts.logdet_K + parts.quad + const)
    out_dtype = log_s2.dtype if log_s2.is_floating_point() else value.dtype
    value = value.to(device=log_s2.device, dtype=out_dtype)
    if need_grad:
        nll = _SliceNLL.apply(log_s2, log_sigma2, value,
                              parts.grad_log_s.T.to(device=log_s2.device, dtype=log_s2.dtype),
                              parts.grad_log_sigma.to(device=log_sigma2.device, dtype=log_sigma2.dtype))
    else:
        nll = value
    pick = (lambda x: x) if batched else (lambda x: x[0])
    return NLLResult(nll=pick(nll), logdet_K=pick(parts.logdet_K), quad=pick(parts.quad),
                     logdet_R=sl.logdet_R, rank=sl.rank, n_core=sl.n, method=parts.method,
                     cg_iters=parts.cg_iters, residual=parts.residual)


def sample_core_z(sl: LDSlice, log_s: torch.Tensor, log_sigma: torch.Tensor | float,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw core z-scores from the model, z_C ~ N(0, Sigma_C) on range(R_CC): returns (n,).

    Uses u ~ N(0, K) and z_C = Z_C u (Z_C = R_CC T, so T^T z_C = u).
    """
    s = torch.as_tensor(log_s, dtype=sl.dtype, device=sl.device).detach().exp()
    sigma = torch.as_tensor(log_sigma, dtype=sl.dtype, device=sl.device).detach().exp().reshape(1)
    K = KOperator(Z=sl.Z, s=s[None, :], sigma=sigma).dense(0)
    eps = torch.randn(sl.rank, generator=generator, dtype=sl.dtype, device="cpu").to(sl.device)
    u = torch.linalg.cholesky(K) @ eps
    return sl.Z[sl.core_mask.to(sl.device)] @ u


def null_nll(sl: LDSlice, z: torch.Tensor, log_sigma: torch.Tensor | float) -> torch.Tensor:
    """The slice NLL under the null prior s = 0 (K = sigma I): () or (T,) for z (n,) or (n, T).

    0.5 [ r log sigma + u^T u / sigma + logdet_R + r log 2 pi ], in closed form.
    """
    u = sl.whiten(torch.as_tensor(z, dtype=sl.dtype, device=sl.device))
    ls = torch.as_tensor(log_sigma, dtype=sl.dtype, device=sl.device)
    return 0.5 * (sl.rank * ls + u.square().sum(0) * torch.exp(-ls) + sl.logdet_R + sl.rank * LOG_2PI)
