"""Reference-panel mismatch in the likelihood: a per-trait lambda >= 0 (SuSiE-RSS's residual model).

LD comes from a small panel, z-scores from a separate cohort, so R is an estimate with errors of order
1/sqrt(n_ref) while z is precise. The model adds white noise of variance lambda to every core z-score:

    z_C ~ N(0, Sigma_C + lambda I_n),   Sigma_C = R_{C,:} S R_{:,C} + sigma R_CC.

Derivation of the whitened form. Write R_CC = U_r Lambda_r U_r^T + U_0 0 U_0^T (r kept eigenpairs, n - r
null directions). Panel LD is a Gram matrix (R = X^T X / n_ref), so the columns of R_{C,:} lie in
range(R_CC): U_0^T R_{C,:} = 0 and U_0^T Sigma_C = 0. The covariance therefore splits into two blocks,

    U_r^T (Sigma_C + lambda I) U_r = Lambda^{1/2} [ Z^T S Z + sigma I + lambda Lambda^{-1} ] Lambda^{1/2}
    U_0^T (Sigma_C + lambda I) U_0 = lambda I_{n-r},

with Z = R_{:,C} U_r Lambda^{-1/2} as in :mod:`deepwas_dist.slice`. With u = T^T z_C (T = U_r Lambda^{-1/2})
the range block has covariance K = sigma I + lambda M + Z^T S Z, where M = T^T T. In the stored basis
(rotated by Q so that Z^T Z is diagonal) M = Q^T Lambda^{-1} Q is dense, so the mismatch model works in
R_CC's eigenbasis instead (``LDSlice.core_basis``, computed once per slice), where M = diag(mu),
mu = 1 / Lambda: the operator, the exact gradient and the preconditioner then stay diagonal in it.
Directions with small panel eigenvalues Lambda_i get the extra whitened variance lambda / Lambda_i,
i.e. they are down-weighted by the model instead of by a hard eigenvalue threshold. The null block contributes, with
q0 = ||U_0^T z_C||^2 = ||z_C||^2 - ||U_r^T z_C||^2 and ||U_r^T z_C||^2 = ||Z_C u||^2 (Z_C = R_CC T, so
Z_C u is the projection of z_C on range(R_CC)),

    NLL = 1/2 [ logdet K + u^T K^{-1} u + logdet_R + r log 2 pi ]            (range of R_CC)
        + 1/2 [ (n - r) log(2 pi lambda) + q0 / lambda ]                      (its null space)

which is the Gaussian NLL of all n core z-scores (checked against the dense N(0, Sigma_C + lambda I) in
tests/test_mismatch.py). With lambda = 0 the range part is the original NLL and the null part is
dropped (the original model scores only the projection of z_C on range(R_CC)). Gradients:

    dNLL/dlog lambda = 1/2 lambda [ tr(K^{-1} M) - a^T M a ] + 1/2 [ (n - r) - q0 / lambda ],   a = K^{-1} u.

Under the LDSC objective E[z_i^2] gains + lambda, the same as sigma's intercept, so the two are not
separately identifiable there; LDSC keeps one intercept (sigma) and lambda is not learned with it.
"""
from __future__ import annotations

import math

import torch

from .slice import LDSlice

LOG_2PI = math.log(2.0 * math.pi)
#: Smallest lambda a learned mismatch can reach (z^2 units): the prior networks return
#: log(lambda_raw + LAMBDA_FLOOR). Without a floor the likelihood is unbounded where z_C lies exactly in
#: range(R_CC) (in-sample LD, q0 = 0 with n > r): (n - r) log lambda -> -inf. 1e-4 is 10^4 times below
#: the null z-score variance, so it changes no realistic fit.
LAMBDA_FLOOR = 1e-4
#: Starting lambda of a learned mismatch before the constant-prior fit that initialises every run.
LAMBDA_INIT = 0.05


def floored_log_lambda(raw: torch.Tensor) -> torch.Tensor:
    """log(exp(raw) + LAMBDA_FLOOR): how every fit parametrises a learned lambda above its floor."""
    return torch.logaddexp(raw, torch.full_like(raw, math.log(LAMBDA_FLOOR)))


def range_norm2(sl: LDSlice, u: torch.Tensor) -> torch.Tensor:
    """||U_r^T z_C||^2 = ||Z_C u||^2 per trait, for whitened u (T, r): returns (T,)."""
    Z_C = sl.Z[sl.core_mask.to(sl.Z.device)]
    return (u @ Z_C.T).square().sum(1)


def null_space_parts(sl: LDSlice, z: torch.Tensor, u: torch.Tensor, lam: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """The null-space term of the NLL and its gradient to log lambda, per trait.

    ``z`` (n, T) core z-scores, ``u`` (T, r) their whitened form, ``lam`` (T,) > 0. Returns
    (value (T,), dvalue/dlog lambda (T,)) where value = 1/2 [(n - r) log(2 pi lambda) + q0 / lambda].
    q0 is clipped at 0 (a float32-stored slice projects z with ~1e-7 relative rounding).
    """
    q0 = (z.square().sum(0) - range_norm2(sl, u)).clamp_min(0.0)
    k = sl.n - sl.rank
    value = 0.5 * (k * (LOG_2PI + lam.log()) + q0 / lam)
    grad = 0.5 * (k - q0 / lam)
    return value, grad
