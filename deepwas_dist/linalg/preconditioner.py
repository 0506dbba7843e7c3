"""The preconditioner of the iterative path: diagonal plus the slice's largest-prior SNPs, exactly.

K = sigma I + sum_j s_j z_j z_j^T (z_j: row j of Z). Replacing every s_j by one scalar s_bar gives
P = sigma I + s_bar Z^T Z, which is diagonal because LDSlice stores Z in the basis where Z^T Z =
diag(omega) (DESIGN.md section 1). What that misses is the spread of s across SNPs. So the k SNPs
with the largest prior contributions s_j ||z_j||^2 keep their own variance, as an exact low-rank term:

    P = D + A^T A,   D = diag(sigma + s_base omega),   A_i = sqrt(s_j - s_base) z_j  (j: i-th top SNP)

with s_base the ||z_j||^2-weighted mean of s over the other SNPs (so tr P = tr K). Writing
B = A D^{-1/2} = U diag(sqrt g) V^T (V: r x k orthonormal, from the eigenpairs of B B^T),

    P = D^{1/2} (I + V diag(g) V^T) D^{1/2} = L L^T,   L = D^{1/2} (I + V diag(sqrt(1 + g) - 1) V^T),

so P^{-1}, L, L^{-T} and log det P are exact and cost O(r k) per vector, against O(m r) for K.
Building costs O(k^2 r + k^3) per trait. ``rank=0`` is the purely diagonal preconditioner.

With the mismatch term (K = sigma I + lambda diag(mu) + Z^T S Z, in R_CC's eigenbasis where the mismatch
term is diagonal: :mod:`deepwas_dist.mismatch`) D gains lambda mu exactly, and omega is then only the
diagonal of Z^T Z (its off-diagonal part, the flanks' LD, is what P misses besides the spread of s).
Measured on 1000G and msprime LD with lambda 0.005-0.5: 7-12 CG iterations in this basis, against
8-46 in the basis where Z^T Z is diagonal, where lambda M is not.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .operator import KOperator

#: SNPs per slice and trait kept exactly in P. On 1000G and msprime LD with a log-normal prior of
#: spread 1 this takes preconditioned CG from 7-8 to 6 iterations at about the same cost per solve, and
#: cuts the gradient error (1 - cosine) 3-5x (python -m deepwas_dist.bench likelihood).
DEFAULT_RANK = 64


@dataclass(frozen=True)
class Preconditioner:
    """P_t = D_t^{1/2} (I + V_t diag(g_t) V_t^T) D_t^{1/2} for T traits.

    d: (T, r) diagonal of D; V: (T, r, k) orthonormal columns; g: (T, k) non-negative gains.
    """

    d: torch.Tensor
    V: torch.Tensor
    g: torch.Tensor

    @classmethod
    def build(cls, op: KOperator, omega: torch.Tensor, row_norm2: torch.Tensor,
              rank: int = DEFAULT_RANK, tiny_gain: float = 1e-12) -> "Preconditioner":
        """P matched to ``op``, with omega = diag(Z^T Z) (r,), row_norm2 = ||z_j||^2 (m,) and ``rank``
        SNPs (capped at min(m, r)) kept exactly; with ``op``'s mismatch term, D gains lambda mu."""
        k = max(0, min(int(rank), int(op.Z.shape[0]), op.r))
        w = row_norm2.to(op.s.dtype)
        top = torch.topk(op.s * w, k, dim=1).indices                       # (T, k)
        rest = torch.ones_like(op.s, dtype=torch.bool).scatter_(1, top, False)
        w_rest = torch.where(rest, w.expand_as(op.s), torch.zeros_like(op.s))
        s_base = (op.s * w_rest).sum(1) / w_rest.sum(1).clamp_min(torch.finfo(w.dtype).tiny)
        d = op.sigma[:, None] + s_base[:, None] * omega[None, :]           # (T, r)
        if op.has_mismatch:
            d = d + op.lam[:, None] * op.mu[None, :].to(d.dtype)
        if k == 0:
            return cls.diagonal(d)
        excess = (op.s.gather(1, top) - s_base[:, None]).clamp_min(0.0)    # (T, k)
        B = op.Z[top] * (excess.sqrt()[:, :, None] / d.sqrt()[:, None, :])  # (T, k, r)
        # B^T = V diag(sqrt g) U^T from the eigenpairs of the small Gram B B^T (k x k): 6x faster than
        # an SVD of B. Directions with g below ``tiny_gain`` are dropped (they change P by < 1e-12).
        g, U = torch.linalg.eigh(B @ B.transpose(1, 2))
        keep = g > tiny_gain
        g = torch.where(keep, g, torch.zeros_like(g))
        V = (B.transpose(1, 2) @ U) * torch.where(keep, g, torch.ones_like(g)).rsqrt()[:, None, :]
        return cls(d=d, V=V * keep[:, None, :], g=g)

    @classmethod
    def diagonal(cls, d: torch.Tensor) -> "Preconditioner":
        """P_t = diag(d_t) for d (T, r): no low-rank part."""
        T, r = d.shape
        return cls(d=d, V=d.new_zeros(T, r, 0), g=d.new_zeros(T, 0))

    @classmethod
    def identity(cls, op: KOperator) -> "Preconditioner":
        """P = I (to measure what the preconditioner buys)."""
        return cls.diagonal(torch.ones(op.num_traits, op.r, dtype=op.s.dtype, device=op.s.device))

    @property
    def rank(self) -> int:
        return int(self.V.shape[2])

    def _mul_G(self, X: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
        """(I + V diag(coef) V^T) X for X (T, r, k')."""
        if self.rank == 0:
            return X
        return X + self.V @ (coef[:, :, None] * (self.V.transpose(1, 2) @ X))

    def sample(self, E: torch.Tensor) -> torch.Tensor:
        """L E for E (T, r, t): probes with covariance P when E has identity covariance."""
        return self.d.sqrt()[:, :, None] * self._mul_G(E, (1.0 + self.g).sqrt() - 1.0)

    def whitened_solve(self, E: torch.Tensor) -> torch.Tensor:
        """L^{-T} E for E (T, r, t); equals P^{-1} (L E)."""
        return self._mul_G(E, (1.0 + self.g).rsqrt() - 1.0) / self.d.sqrt()[:, :, None]

    def solve(self, X: torch.Tensor) -> torch.Tensor:
        """P^{-1} X for X (T, r, k')."""
        root = self.d.sqrt()[:, :, None]
        return self._mul_G(X / root, -self.g / (1.0 + self.g)) / root

    def logdet(self) -> torch.Tensor:
        """log det P_t for each trait: (T,)."""
        return self.d.log().sum(1) + torch.log1p(self.g).sum(1)

    def lowrank_basis(self) -> torch.Tensor:
        """W = D^{-1/2} V (T, r, k): P^{-1} = D^{-1} - W diag(g / (1 + g)) W^T."""
        return self.V / self.d.sqrt()[:, :, None]

    def inv_trace(self) -> torch.Tensor:
        """tr P_t^{-1} for each trait: (T,)."""
        W = self.lowrank_basis()
        return (1.0 / self.d).sum(1) - ((self.g / (1.0 + self.g)) * W.square().sum(1)).sum(1)

    def inv_trace_diag(self, mu: torch.Tensor) -> torch.Tensor:
        """tr(P_t^{-1} diag(mu)) for mu (r,): (T,)."""
        out = (mu[None, :] / self.d).sum(1)
        if self.rank == 0:
            return out
        W = self.lowrank_basis()
        return out - ((self.g / (1.0 + self.g)) * (mu[None, :, None] * W.square()).sum(1)).sum(1)

    def inv_diag_quad(self, Z: torch.Tensor, ZW: torch.Tensor | None = None) -> torch.Tensor:
        """diag(Z P_t^{-1} Z^T) for each trait: (T, m), in d's dtype (products in Z's dtype).

        ``ZW``: (Z @ lowrank_basis())^T (T, k, m) if the caller already has it (else computed here).
        """
        out = torch.matmul(1.0 / self.d.to(Z.dtype), (Z * Z).T).to(self.d.dtype)
        if self.rank == 0:
            return out
        if ZW is None:
            ZW = torch.matmul(self.lowrank_basis().transpose(1, 2).to(Z.dtype), Z.T)
        return out - ((self.g / (1.0 + self.g))[:, :, None] * ZW.to(self.d.dtype).square()).sum(1)
