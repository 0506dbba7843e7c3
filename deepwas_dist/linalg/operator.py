"""K = sigma I_r + lambda diag(mu) + Z^T diag(s) Z for T traits at once, applied without forming it.

lambda diag(mu) is the optional reference-panel mismatch term (:mod:`deepwas_dist.mismatch`), with
lambda (T,) per trait and mu = 1 / Lambda (r,) per slice, diagonal because slices are then expressed in
R_CC's eigenbasis; without it K = sigma I + Z^T S Z.

Shapes: Z (m, r) is shared by all traits; s (T, m) and sigma (T,) are per trait. A product
K @ X with X of shape (T, r, k) costs 4 m r k T flops: two matrix products with Z. With few
columns these products are limited by memory traffic over Z, so the operator can run them on a
lower-precision copy ``Z_mul`` (e.g. float32) while inputs, outputs and everything else stay in
the slice's dtype.
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
    Z_mul: torch.Tensor | None = None   # copy of Z used for products (None: Z itself)
    lam: torch.Tensor | None = None     # (T,) mismatch variances (None: no mismatch term)
    mu: torch.Tensor | None = None      # (r,) diagonal of T^T T = 1 / Lambda, needed with lam

    @property
    def has_mismatch(self) -> bool:
        return self.lam is not None

    @property
    def r(self) -> int:
        return int(self.Z.shape[1])

    @property
    def num_traits(self) -> int:
        return int(self.s.shape[0])

    def _rows_times_Zt(self, Xr: torch.Tensor) -> torch.Tensor:
        """Xr @ Z^T for row vectors Xr (T, k, r): (T, k, m) in Z_mul's dtype.

        Vectors are rows here so that torch folds the trait batch into one (T k, r) x (r, m) product
        that reads Z once; the column layout Z @ X runs T separate products, and MKL is several times
        slower for them when k < 16 (measured: 6.5 ms vs 1.0 ms at m=3000, r=934, k=2).
        """
        Zm = self.Z if self.Z_mul is None else self.Z_mul
        return torch.matmul(Xr.to(Zm.dtype), Zm.T)

    def z_matmul_rows(self, X: torch.Tensor) -> torch.Tensor:
        """(Z @ X)^T for X (T, r, k): (T, k, m) in X's dtype (computed in Z_mul's dtype)."""
        return self._rows_times_Zt(X.transpose(1, 2).contiguous()).to(X.dtype)

    def matmul(self, X: torch.Tensor) -> torch.Tensor:
        """K @ X for X (T, r, k): returns (T, r, k)."""
        Zm = self.Z if self.Z_mul is None else self.Z_mul
        ZX = self._rows_times_Zt(X.transpose(1, 2).contiguous())                 # (T, k, m)
        KX = torch.matmul(ZX * self.s.to(Zm.dtype)[:, None, :], Zm)             # (T, k, r)
        out = self.sigma[:, None, None] * X + KX.transpose(1, 2).to(X.dtype)
        if self.lam is not None:
            out = out + (self.lam[:, None] * self.mu[None, :].to(X.dtype))[:, :, None] * X
        return out

    def dense(self, t: int) -> torch.Tensor:
        """K of trait t as a dense (r, r) matrix in Z's dtype (2 m r^2 flops)."""
        K = self.Z.T @ (self.Z * self.s[t][:, None])
        K.diagonal().add_(self.sigma[t])
        if self.lam is not None:
            K.diagonal().add_(self.lam[t] * self.mu.to(K.dtype))
        return K

