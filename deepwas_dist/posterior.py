"""Posterior effect sizes of a slice's SNPs given its core z-scores, under a fitted prior.

Effects are in z units, gamma_j = sqrt(N) beta_j (beta on standardised genotypes), with the prior
gamma ~ N(0, S), S = diag(s), s = N f, and the model of :mod:`deepwas_dist.likelihood`:

    z_C = R_{C,:} gamma + e,   e ~ N(0, sigma R_CC + lambda I_n).

Whitening with u = T^T z_C (as in :mod:`deepwas_dist.slice`) and Z^T = T^T R_{C,:} gives

    u = Z^T gamma + eps,   eps ~ N(0, D),   D = sigma I + lambda T^T T,

so (gamma, u) is jointly Gaussian with Cov(gamma, u) = S Z and Cov(u) = K = Z^T S Z + D, the likelihood's
K. The null space of R_CC carries no information on gamma: there U_0^T z_C = U_0^T e, and U_0^T e is
independent of T^T e because U_0^T (sigma R_CC + lambda I) U_r = 0. Hence

    E[gamma | z_C]   = S Z K^{-1} u                       (the likelihood's a = K^{-1} u, mapped back)
    Cov[gamma | z_C] = S - S Z K^{-1} Z^T S,   Var_j = s_j - s_j^2 ||L^{-1} Z^T e_j||^2   (K = L L^T)

which equal the dense Gaussian conditioning E = S R_{:,C} Sigma_C^{-1} z_C and
S - S R_{:,C} Sigma_C^{-1} R_{C,:} S (Sigma_C = R_{C,:} S R_{:,C} + sigma R_CC + lambda I) whenever every
eigenpair of R_CC is kept (tests/test_posterior.py checks both to 1e-8).

A slice gives estimates for all m of its SNPs, but only its core SNPs have their whole LD neighbourhood
(core and both flanks) inside the slice and their own z-score and most of their partners' z-scores among
the modelled ones. A flank SNP's estimate sees the z-scores on one side only, so each SNP's estimate is
taken from the slice where it is core (``core_only``); cores tile the chromosome, so every SNP gets one.
Cost: one Cholesky of K (r^3 / 3) and m r^2 for the variances, per trait.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .checks import check_log_lambda, check_slice_inputs
from .linalg.operator import KOperator
from .slice import LDSlice


@dataclass(frozen=True)
class Posterior:
    """Posterior moments of gamma = sqrt(N) beta for a slice's SNPs: ``mean`` and ``var``, (m,) for one
    trait or (m, T) for T traits, in z units. ``core_mask`` marks the slice's core SNPs."""

    mean: torch.Tensor
    var: torch.Tensor
    core_mask: torch.Tensor

    def core_only(self) -> "Posterior":
        """The rows of the core SNPs (in slice order): the estimates to report (module docstring)."""
        keep = self.core_mask.to(self.mean.device)
        return Posterior(self.mean[keep], self.var[keep], self.core_mask[self.core_mask])

    def per_allele(self, N: float, allele_freq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, sd) of the per-allele effect beta / sqrt(2 p (1 - p)) in phenotype-sd units, for
        ``allele_freq`` p of the counted allele, one per row of this posterior."""
        p = torch.as_tensor(allele_freq, dtype=self.mean.dtype, device=self.mean.device)
        scale = (2.0 * p * (1.0 - p)).sqrt() * float(N) ** 0.5
        if self.mean.ndim == 2:
            scale = scale[:, None]
        return self.mean / scale, self.var.sqrt() / scale


def posterior_effects(sl: LDSlice, z: torch.Tensor, log_s: torch.Tensor, log_sigma: torch.Tensor | float,
                      log_lambda: torch.Tensor | float | None = None) -> Posterior:
    """Posterior mean and variance of gamma = sqrt(N) beta for every slice SNP (exact path).

    Args are those of :func:`deepwas_dist.likelihood.marginal_nll`: ``z`` (n,) or (n, T) core z-scores,
    ``log_s`` (m,) or (m, T) log prior variances in z units, ``log_sigma`` () or (T,), and the optional
    ``log_lambda`` of the mismatch model. No gradients are taken.
    """
    batched, z2, log_s2, log_sigma2 = check_slice_inputs(sl, z, log_s, log_sigma)
    log_lam2 = check_log_lambda(log_lambda, batched, z2.shape[1], log_s2)
    if log_lam2 is not None:
        sl = sl.core_basis                      # T^T T is diagonal there (mu), as in the likelihood
    dt, dev = sl.dtype, sl.device
    with torch.no_grad():
        s = log_s2.detach().to(dtype=dt, device=dev).exp().T.contiguous()          # (T, m)
        sigma = log_sigma2.detach().to(dtype=dt, device=dev).exp()
        mm = {} if log_lam2 is None else {"lam": log_lam2.detach().to(dtype=dt, device=dev).exp(),
                                          "mu": sl.core_diag}
        op = KOperator(Z=sl.Z, s=s, sigma=sigma, **mm)
        u = sl.whiten(z2.to(dtype=dt, device=dev))                                 # (r, T)
        means, variances = [], []
        for t in range(op.num_traits):
            L = torch.linalg.cholesky(op.dense(t))
            a = torch.cholesky_solve(u[:, t:t + 1], L)[:, 0]                        # K^{-1} u
            W = torch.linalg.solve_triangular(L, sl.Z.T, upper=False)              # L^{-1} Z^T: (r, m)
            means.append(s[t] * (sl.Z @ a))
            variances.append(s[t] - s[t].square() * W.square().sum(0))
        mean, var = torch.stack(means, 1), torch.stack(variances, 1)
    if not batched:
        mean, var = mean[:, 0], var[:, 0]
    return Posterior(mean=mean, var=var.clamp_min(0.0), core_mask=sl.core_mask)
