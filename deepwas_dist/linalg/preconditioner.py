"""The preconditioner P = sigma I + s_bar Z^T Z of the iterative path (DESIGN.md section 1).

LDSlice stores Z in the basis where Z^T Z = diag(omega), so P is diagonal:
P_t = diag(sigma_t + s_bar_t omega). Its inverse, square root and log-determinant are exact and
cost O(r) per vector. s_bar is the ||Z_j||^2-weighted mean of s, which makes tr P = tr K.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .operator import KOperator


@dataclass(frozen=True)
class DiagPreconditioner:
    """P_t = diag(d_t) for T traits: d (T, r)."""

    d: torch.Tensor

    @classmethod
    def build(cls, op: KOperator, omega: torch.Tensor, row_norm2: torch.Tensor) -> "DiagPreconditioner":
        """P matched to ``op``: sigma + s_bar * omega, with omega = diag(Z^T Z) (r,) and
        row_norm2 = ||Z_j||^2 (m,) (which sums to tr Z^T Z)."""
        s_bar = (op.s @ row_norm2) / omega.sum().clamp_min(torch.finfo(omega.dtype).tiny)
        return cls(d=op.sigma[:, None] + s_bar[:, None] * omega[None, :])

    @classmethod
    def identity(cls, op: KOperator) -> "DiagPreconditioner":
        """P = I (to measure what the preconditioner buys)."""
        return cls(d=torch.ones(op.num_traits, op.r, dtype=op.Z.dtype, device=op.Z.device))

    def mul_pow(self, X: torch.Tensor, power: float) -> torch.Tensor:
        """P^power X for X (T, r, k)."""
        return self.d.pow(power)[:, :, None] * X

    def solve(self, X: torch.Tensor) -> torch.Tensor:
        """P^{-1} X for X (T, r, k)."""
        return X / self.d[:, :, None]

    def logdet(self) -> torch.Tensor:
        """log det P_t for each trait: (T,)."""
        return self.d.log().sum(1)

    def inv_diag_quad(self, Z: torch.Tensor) -> torch.Tensor:
        """diag(Z P_t^{-1} Z^T) for each trait: (T, m), in d's dtype (computed in Z's dtype)."""
        return torch.matmul(Z * Z, (1.0 / self.d).T.to(Z.dtype)).T.to(self.d.dtype)
