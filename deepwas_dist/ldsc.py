"""The LD score regression objective on the same slices and networks (DESIGN.md section 1).

    E[z_i^2] = sum_k R_ik^2 s_k + sigma,          i in the core, k over the whole slice
    loss     = mean_i w_i (E[z_i^2] - z_i^2)^2,    w_i = 1 / (l_i (sigma + s_bar l_i)^2)

with l_i = sum_k R_ik^2 the slice LD score, R_ik^2 bias-corrected for the panel size, and s_bar the
per-SNP prior variance guess N h2g / M of LDSC's regression weights (held fixed: weights carry no
gradient). A constant network gives LD score regression with a free intercept; the ``linear``
network on annotations gives S-LDSC. With the mismatch model (``log_lambda``, see
:mod:`deepwas_dist.mismatch`) E[z_i^2] gains + lambda: a second intercept, not identifiable apart from
sigma under this objective, so training keeps lambda fixed when the objective is LDSC.

:func:`ldsc_intercept` solves the constant prior's case in closed form (iteratively re-weighted least
squares): the LDSC intercept that ``--sigma ldsc`` holds sigma at.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .checks import check_log_lambda, check_slice_inputs
from .slice import LDSlice


@dataclass
class LDSCResult:
    """loss: () or (T,) weighted mean squared error of chi^2 (differentiable); expected_chi2: (n, T)."""

    loss: torch.Tensor
    expected_chi2: torch.Tensor
    weights: torch.Tensor


def ldsc_weight_scale(N: float, h2g: float, M: int) -> float:
    """s_bar = N h2g / M: LDSC's per-SNP variance guess in z units."""
    return float(N) * float(h2g) / float(M)


def ldsc_loss(
    sl: LDSlice,
    z: torch.Tensor | np.ndarray,
    log_s: torch.Tensor,
    log_sigma: torch.Tensor | float,
    s_bar: float | torch.Tensor | None = None,
    log_lambda: torch.Tensor | float | None = None,
) -> LDSCResult:
    """LDSC objective of one slice for one trait ((n,) z) or T traits ((n, T) z); shapes as ``marginal_nll``.

    ``s_bar`` (scalar or (T,)) sets the regression weights; None uses the current mean prior variance,
    detached (LDSC's two-step reweighting). ``log_lambda`` (like log_sigma) adds the mismatch variance
    to the intercept.
    """
    batched, z2, log_s2, log_sigma2 = check_slice_inputs(sl, z, log_s, log_sigma)
    log_lam2 = check_log_lambda(log_lambda, batched, z2.shape[1], log_s2)
    dev, dt = log_s2.device, log_s2.dtype if log_s2.is_floating_point() else torch.float64
    r2 = sl.ld2_core.to(device=dev, dtype=dt)                       # (n, m)
    ld_score = r2.sum(1).clamp_min(1.0)                              # (n,)
    s = log_s2.to(dt).exp()                                          # (m, T)
    sigma = log_sigma2.to(dt).exp()                                  # (T,)
    if log_lam2 is not None:
        sigma = sigma + log_lam2.to(dt).exp()                        # intercept: sigma + lambda
    expected = r2 @ s + sigma[None, :]
    if s_bar is None:
        sb = s.detach().mean(0)
    else:
        sb = torch.as_tensor(s_bar, dtype=dt, device=dev).reshape(-1).expand(sigma.shape[0])
    weights = 1.0 / (ld_score[:, None] * (sigma.detach()[None, :] + sb[None, :] * ld_score[:, None]) ** 2)
    chi2 = z2.to(device=dev, dtype=dt).square()
    loss = (weights * (expected - chi2).square()).mean(0)
    pick = (lambda x: x) if batched else (lambda x: x[..., 0])
    return LDSCResult(loss=loss if batched else loss[0], expected_chi2=pick(expected), weights=pick(weights))


def ldsc_intercept(ld_score: np.ndarray, chi2: np.ndarray, strata: np.ndarray | None = None, iters: int = 20,
                   tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """(intercept (T,), slope (T,)): LD score regression in closed form, LDSC's or, with ``strata``, S-LDSC's.

    With a constant s_k = s the expectation is E[z_i^2] = s l_i + sigma (l_i = sum_k R_ik^2, the slice LD
    score), and the weights are w_i = 1 / (l'_i (sigma + s l'_i)^2) with l'_i = max(l_i, 1) and s_bar = s,
    held fixed (no gradient). The stationary point of :func:`ldsc_loss` for a constant prior is therefore
    a fixed point of weighted least squares of chi2 on [1, l] re-weighted at the current (sigma, s):
    LDSC's iteratively re-weighted regression, whose intercept is what LDSC reports.

    ``strata`` (n, C): stratified LD scores l_ic = sum_k R_ik^2 a_kc of C annotations (S-LDSC, Finucane
    et al. 2015): chi2 is regressed on [1, l, l_1..l_C], so s_k = s + sum_c tau_c a_kc may vary with the
    annotations. When the per-SNP
    heritability varies with annotations that correlate with LD score (MAF, LD-related ones), the
    unstratified intercept is biased and this one is not. As in S-LDSC the weights are LDSC's (from the
    unstratified fit: they depend on the total LD score only). ``slope`` is then the coefficient of l.

    ``ld_score``: (n,) over the core SNPs of all slices used; ``chi2``: (n,) or (n, T). Starts at (1, 0)
    like LDSC's first step; rank-deficient strata are solved by least norm (the intercept stays
    identified); a slope or intercept <= 0 is kept (the caller decides what it means)."""
    ell = np.asarray(ld_score, dtype=np.float64)
    y = np.asarray(chi2, dtype=np.float64)
    one = y.ndim == 1
    y = y[:, None] if one else y
    if ell.ndim != 1 or y.shape[0] != ell.shape[0] or ell.size < 3:
        raise ValueError(f"ld_score (n,) and chi2 (n, T) with n >= 3, got {ell.shape} and {np.shape(chi2)}")
    lc = np.maximum(ell, 1.0)
    cols = [np.ones_like(ell), ell]
    if strata is not None:
        S = np.asarray(strata, dtype=np.float64).reshape(ell.size, -1)
        cols += [S[:, c] for c in range(S.shape[1])]
    A = np.stack(cols, 1)
    a, b = np.ones(y.shape[1]), np.zeros(y.shape[1])
    for t in range(y.shape[1]):
        for _ in range(iters):                     # LDSC: re-weighted at the current (sigma, s)
            w = 1.0 / (lc * np.maximum(a[t] + b[t] * lc, 1e-6) ** 2)
            sw = np.sqrt(w)
            coef = np.linalg.lstsq(A[:, :2] * sw[:, None], y[:, t] * sw, rcond=None)[0]
            done = np.abs(coef - (a[t], b[t])).max() < tol * max(1.0, abs(coef[0]))
            a[t], b[t] = coef
            if done:
                break
        if A.shape[1] > 2:                         # S-LDSC: the same weights, all regressors
            w = 1.0 / (lc * np.maximum(a[t] + b[t] * lc, 1e-6) ** 2)
            sw = np.sqrt(w)
            a[t], b[t] = np.linalg.lstsq(A * sw[:, None], y[:, t] * sw, rcond=None)[0][:2]
    return (a[0:1], b[0:1]) if one else (a, b)
