"""K = sigma I_r + Z^T diag(s) Z for T traits at once, applied without forming it.

Shapes: Z (m, r) is shared by all traits; s (T, m) and sigma (T,) are per trait. A product
K @ X with X of shape (T, r, k) costs 4 m r k T flops: two matrix products with Z.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class KOperator:
    """The (T, r, r) batch of K matrices of one slice, as an operator."""

    Z: torch.Tensor       # (m, r)
    s: torch.Tensor       # (T, m) prior variances in z units
    sigma: torch.Tensor   # (T,)

    @property
    def r(self) -> int:
        return int(self.Z.shape[1])

    @property
    def num_traits(self) -> int:
        return int(self.s.shape[0])

    def matmul(self, X: torch.Tensor) -> torch.Tensor:
        """K @ X for X (T, r, k): returns (T, r, k)."""
        ZX = torch.matmul(self.Z, X)                       # (T, m, k)
        return self.sigma[:, None, None] * X + torch.matmul(self.Z.T, self.s[:, :, None] * ZX)

    def dense(self, t: int) -> torch.Tensor:
        """K of trait t as a dense (r, r) matrix (costs 2 m r^2 flops)."""
        K = self.Z.T @ (self.Z * self.s[t][:, None])
        K.diagonal().add_(self.sigma[t])
        return K
