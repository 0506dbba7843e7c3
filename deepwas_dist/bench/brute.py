"""The brute-force baseline: dense Sigma_C, Cholesky, autograd (what a user would write).

    Sigma_C = R_{C,:} S R_{:,C} + sigma R_CC,  projected on the kept eigenvectors U_r of R_CC,
    NLL = 1/2 [ logdet(U_r^T Sigma_C U_r) + z~^T (U_r^T Sigma_C U_r)^{-1} z~ + r log 2 pi ],  z~ = U_r^T z_C.

Equal to the whitened NLL in exact arithmetic. In float64 it is only accurate to about
cond(U_r^T Sigma_C U_r) * 1e-16 (about 1e-7 relative on 1000G LD), which is why the likelihood
tests also compare with an 80-bit reference (:func:`longdouble_nll`).
"""
from __future__ import annotations

import math

import numpy as np
import torch


class BruteForce:
    """Trait-independent set-up (R_{C,:}, R_CC and U_r) done once; :meth:`nll` is the timed part."""

    def __init__(self, R: np.ndarray | torch.Tensor, core: np.ndarray, eig_threshold: float = 1e-6,
                 dtype: torch.dtype = torch.float64):
        """``R`` as numpy (CPU) or a torch tensor (kept on its device, e.g. CUDA); U_r is found in float64,
        then R_{C,:}, R_CC and U_r are stored in ``dtype`` (what :meth:`nll` computes in)."""
        Rt = torch.as_tensor(R, dtype=torch.float64)
        c = torch.as_tensor(core).to(Rt.device)
        R_C = Rt[c].contiguous()
        R_CC = R_C[:, c].contiguous()
        ev, U = torch.linalg.eigh(R_CC)
        self.U = U[:, ev > eig_threshold * ev[-1]].to(dtype).contiguous()
        self.R_C, self.R_CC = R_C.to(dtype), R_CC.to(dtype)

    def to(self, dtype: torch.dtype) -> "BruteForce":
        """The same set-up in ``dtype`` (no second eigendecomposition)."""
        out = object.__new__(BruteForce)
        out.R_C, out.R_CC, out.U = self.R_C.to(dtype), self.R_CC.to(dtype), self.U.to(dtype)
        return out

    def nll(self, z: torch.Tensor, log_s: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
        """Differentiable NLL of one trait's core z-scores (n,) given log_s (m,) and log_sigma ()
        (computed in the stored dtype; gradients reach log_s and log_sigma in theirs)."""
        dt = self.R_C.dtype
        z, log_s, log_sigma = z.to(dt), log_s.to(dt), log_sigma.to(dt)
        Sigma = self.R_C @ (log_s.exp()[:, None] * self.R_C.T) + log_sigma.exp() * self.R_CC
        Sp = self.U.T @ Sigma @ self.U
        zt = self.U.T @ z
        L = torch.linalg.cholesky(Sp)
        quad = zt @ torch.cholesky_solve(zt[:, None], L)[:, 0]
        return 0.5 * (2.0 * L.diagonal().log().sum() + quad + self.U.shape[1] * math.log(2 * math.pi))


def longdouble_nll(R: np.ndarray, core: np.ndarray, z: np.ndarray, log_s: np.ndarray, log_sigma: float,
                   eig_threshold: float = 1e-6) -> float:
    """The brute-force NLL in 80-bit extended precision (numpy longdouble), as an accuracy reference.

    Slow (pure-numpy Cholesky): keep n below about 1,000.
    """
    ld = np.longdouble
    Rc = R[np.ix_(core, core)]
    ev, U = np.linalg.eigh(Rc)
    U = U[:, ev > eig_threshold * ev[-1]].astype(ld)
    Rl = R.astype(ld)
    A = Rl[:, core] @ U
    Sp = (A.T @ (np.exp(np.asarray(log_s, dtype=ld))[:, None] * A)
          + np.exp(ld(log_sigma)) * (U.T @ Rl[np.ix_(core, core)] @ U))
    zt = U.T @ np.asarray(z, dtype=ld)
    r = Sp.shape[0]
    L = np.zeros_like(Sp)
    for j in range(r):
        L[j, j] = np.sqrt(Sp[j, j] - L[j, :j] @ L[j, :j])
        L[j + 1:, j] = (Sp[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    y = np.zeros(r, dtype=ld)
    for j in range(r):
        y[j] = (zt[j] - L[j, :j] @ y[:j]) / L[j, j]
    return float(0.5 * (2 * np.log(np.diag(L)).sum() + y @ y + r * np.log(2 * np.pi, dtype=ld)))
