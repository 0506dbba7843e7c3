"""An LD slice and its trait-independent precomputation (DESIGN.md section 1, "whitened form").

A slice is m SNPs: a core C of n SNPs whose z-scores are modelled, plus flanks whose effects leak
into the core through LD. From the slice's LD matrix R (m x m) we keep, once per slice:

    R_CC = U Lambda U^T,  keep the r eigenpairs with lambda > eig_threshold * lambda_max
    T    = U_r Lambda_r^{-1/2}          (n x r)   whitens core z-scores: u = T^T z_C
    Z    = R_{:,C} T                     (m x r)   K = sigma I + Z^T S Z
    logdet_R = sum log lambda_r

and then rotate the r-dimensional whitened space by the eigenvectors Q of Z^T Z (Z <- Z Q, T <- T Q),
so that Z^T Z = diag(omega). The NLL is invariant under this rotation, and in this basis the diagonal
part sigma I + s_bar Z^T Z of the iterative path's preconditioner is diagonal. Identities used below:
the core rows of Z are Z_C = R_CC T, and R_{:,C} = Z Z_C^T on range(R_CC).

None of it depends on the trait or on the prior network, so it is computed at ingestion and reused
by every trait, epoch and Tune trial.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import torch

from .device import resolve_dtype, to_device
from .errors import InputError

#: Default relative eigenvalue threshold: eigenpairs of R_CC with lambda <= EIG_THRESHOLD * lambda_max are
#: dropped (the default of every ingestion path: data.slicing.SliceGeometry.eig_threshold).
EIG_THRESHOLD = 1e-6
#: Relative asymmetry |R - R^T| / max|R| above which R is rejected.
SYMMETRY_TOL = 1e-6
#: R_CC eigenvalues below -PSD_TOL * lambda_max mean R is not a valid LD matrix. Negative eigenvalues
#: above that (float rounding, float16 storage) are clipped: they fall under eig_threshold and are dropped.
PSD_TOL = 1e-3


def unbiased_r2(r2, n: int):
    """LDSC's bias-corrected squared correlation from ``n`` people, r^2 - (1 - r^2) / (n - 2): unbiased for
    the population's rho^2 to O(1/n), so unlinked pairs add ~0 to an LD score. Arrays or tensors alike."""
    return r2 - (1.0 - r2) / (n - 2)


@dataclass(frozen=True)
class LDSlice:
    """Precomputed whitened factors of one LD slice.

    Attributes:
        Z: (m, r) whitened LD between every slice SNP and the core's LD eigenbasis.
        T: (n, r) core whitening map; ``u = T.T @ z_core``.
        lam: (r,) kept eigenvalues of R_CC (LD units, dimensionless).
        logdet_R: sum of log(lam), a float.
        core_mask: (m,) bool, True for core SNPs (n of them).
        n_ref: reference-panel size the LD came from (None if unknown); used by LDSC's r^2 bias correction.
        omega: (r,) diagonal of Z^T Z (the basis is rotated so that Z^T Z is diagonal).
        core_diag: None in that basis; in R_CC's eigenbasis (:attr:`core_basis`), the (r,) diagonal
            mu = 1 / Lambda of T^T T, which is then diagonal.
    """

    Z: torch.Tensor
    T: torch.Tensor
    lam: torch.Tensor
    logdet_R: float
    core_mask: torch.Tensor
    omega: torch.Tensor
    n_ref: int | None = None
    core_diag: torch.Tensor | None = None

    # ----------------------------------------------------------------------------------- build
    @classmethod
    def from_ld(
        cls,
        R: np.ndarray | torch.Tensor,
        core_mask: np.ndarray | torch.Tensor,
        eig_threshold: float = EIG_THRESHOLD,
        *,
        n_ref: int | None = None,
        dtype: torch.dtype | str | None = None,
        device: torch.device | str | None = None,
        name: str = "R",
    ) -> "LDSlice":
        """Validate an LD matrix and precompute the slice's whitened factors.

        ``R`` is the (m, m) LD (correlation) matrix of the slice's SNPs, ``core_mask`` the (m,) bool
        mask of core SNPs. Eigenpairs of R_CC with lambda <= eig_threshold * lambda_max are dropped
        (this is how rank-deficient reference-panel LD is handled). ``name`` labels errors.
        Linear algebra runs in float64 on R's device (a CUDA tensor is factored there, numpy on the CPU);
        the stored factors are cast to ``dtype`` (float64 default) and moved to ``device`` if given.
        """
        R64 = _as_float64_matrix(R, name)
        m = R64.shape[0]
        mask = _as_core_mask(core_mask, m, name)
        if not (0.0 < eig_threshold < 1.0):
            raise InputError(f"eig_threshold must be in (0, 1), got {eig_threshold}")
        R64 = 0.5 * (R64 + R64.T)
        core = torch.nonzero(mask).squeeze(1)
        R_CC = R64[core][:, core]
        evals, evecs = torch.linalg.eigh(R_CC)
        lam_max = float(evals[-1])
        if lam_max <= 0:
            raise InputError(f"{name}: the core block of the LD matrix is zero or negative definite; "
                             "check that R holds correlations (diagonal 1)")
        if float(evals[0]) < -PSD_TOL * lam_max:
            raise InputError(
                f"{name}: LD matrix is not positive semi-definite (core eigenvalue {float(evals[0]):.3g} "
                f"vs largest {lam_max:.3g}); fix: compute LD from one reference panel, or shrink it "
                "towards the identity (R = (1 - a) R + a I)")
        keep = evals > eig_threshold * lam_max
        lam = evals[keep]
        U = evecs[:, keep]
        T = U / lam.sqrt()
        Z, T, omega = _diagonalise(R64[:, core] @ T, T)
        sl = cls(Z=Z, T=T, lam=lam, logdet_R=float(lam.log().sum()), core_mask=mask, omega=omega, n_ref=n_ref)
        return sl.to(device=device, dtype=dtype)

    # ------------------------------------------------------------------------------ accessors
    @property
    def m(self) -> int:
        """Number of SNPs in the slice (core + flanks)."""
        return int(self.Z.shape[0])

    @property
    def n(self) -> int:
        """Number of core SNPs."""
        return int(self.T.shape[0])

    @property
    def rank(self) -> int:
        """r, the number of kept eigenpairs of R_CC."""
        return int(self.Z.shape[1])

    @property
    def dtype(self) -> torch.dtype:
        return self.Z.dtype

    @property
    def device(self) -> torch.device:
        return self.Z.device

    def whiten(self, z_core: torch.Tensor) -> torch.Tensor:
        """u = T^T z_C: (r,) or (r, T) whitened z-scores."""
        return self.T.T @ z_core

    def ld_core_rows(self) -> torch.Tensor:
        """R_{C,:} (n x m) reconstructed from the factors: R_{C,:} = Z_C Z^T (exact on range(R_CC))."""
        return self.Z[self.core_mask.to(self.Z.device)] @ self.Z.T

    @cached_property
    def row_norm2(self) -> torch.Tensor:
        """||Z_j||^2 for every slice SNP: (m,). Computed once per slice."""
        return (self.Z * self.Z).sum(1)

    @cached_property
    def Z_float32(self) -> torch.Tensor:
        """A float32 copy of Z for memory-bound products on the iterative path. Computed once per slice."""
        return self.Z.to(torch.float32)

    @cached_property
    def core_basis(self) -> "LDSlice":
        """The same slice expressed in R_CC's eigenbasis (Z <- Z V, T <- T V with V the eigenvectors of
        T^T T), where T^T T = diag(mu), mu = 1 / Lambda: the basis of the mismatch model, whose term
        lambda T^T T is then diagonal (:mod:`deepwas_dist.mismatch`). ``omega`` becomes the diagonal
        of Z^T Z, which is no longer diagonal. Computed once per slice (m r^2 flops), in float64."""
        if self.core_diag is not None:
            return self
        dt = self.Z.dtype
        T64, Z64 = self.T.to(torch.float64), self.Z.to(torch.float64)
        _, V = torch.linalg.eigh(T64.T @ T64)
        Zu, Tu = Z64 @ V, T64 @ V
        return replace(self, Z=Zu.to(dt), T=Tu.to(dt), omega=Zu.square().sum(0).to(dt),
                       core_diag=Tu.square().sum(0).to(dt))

    def truncate(self, keep_variance: float) -> "LDSlice":
        """The slice on R_CC's leading eigenpairs only (SBayesRC-style eigen-truncation): the fewest
        largest eigenvalues whose sum reaches ``keep_variance`` of tr(R_CC) = n. The dropped directions,
        where a small panel's LD is least certain, join the null space (scored by the mismatch model's
        null-space term, or not at all without it). Returned in R_CC's eigenbasis."""
        if not 0.0 < keep_variance <= 1.0:
            raise InputError(f"--ld-keep-variance must be in (0, 1], got {keep_variance}")
        cb = self.core_basis
        Lam = 1.0 / cb.core_diag.to(torch.float64)
        order = torch.argsort(Lam, descending=True)
        cum = torch.cumsum(Lam[order], 0) / float(self.n)
        k = min(int((cum < keep_variance).sum()) + 1, self.rank)
        keep = torch.sort(order[:k]).values
        Z, T = cb.Z[:, keep], cb.T[:, keep]
        return replace(cb, Z=Z, T=T, lam=Lam[keep].to(cb.lam.dtype), logdet_R=float(Lam[keep].log().sum()),
                       omega=Z.square().sum(0), core_diag=cb.core_diag[keep])

    @cached_property
    def ld2_core(self) -> torch.Tensor:
        """Squared LD of core rows, R_{C,:}^2 (n x m), with LDSC's bias correction
        r^2 - (1 - r^2) / (n_ref - 2) when the panel size ``n_ref`` is known. Computed once per slice."""
        r2 = self.ld_core_rows().square()
        if self.n_ref is not None and self.n_ref > 2:
            r2 = unbiased_r2(r2, self.n_ref)
        return r2

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | str | None = None) -> "LDSlice":
        """The same slice on ``device`` with float tensors cast to ``dtype`` (default: keep float64).

        Host-to-CUDA copies of the float factors are pinned and non-blocking
        (:func:`deepwas_dist.device.to_device`)."""
        dt = resolve_dtype(dtype)

        def cast(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else to_device(x, device, dt)

        return replace(self, Z=cast(self.Z), T=cast(self.T), lam=cast(self.lam), omega=cast(self.omega),
                       core_diag=cast(self.core_diag), core_mask=self.core_mask.to(device=device))

    def crop(self, keep: np.ndarray | torch.Tensor) -> "LDSlice":
        """The slice restricted to the SNPs in ``keep`` (an (m,) bool mask that includes every core SNP).

        Dropping flank rows of Z is exactly the slice with a narrower bandwidth: Z's rows are indexed
        by slice SNPs and T only involves the core. The basis is re-rotated so Z^T Z stays diagonal.
        """
        keep_t = _as_core_mask(keep, self.m, "crop mask").to(self.core_mask.device)
        if bool((self.core_mask & ~keep_t).any()):
            raise InputError("crop mask drops core SNPs; a narrower bandwidth may only drop flank SNPs")
        dt = self.Z.dtype
        Z, T, omega = _diagonalise(self.Z[keep_t.to(self.Z.device)].to(torch.float64), self.T.to(torch.float64))
        return replace(self, Z=Z.to(dt), T=T.to(dt), omega=omega.to(dt), core_mask=self.core_mask[keep_t],
                       core_diag=None)

    def restrict_core(self, keep_core: np.ndarray | torch.Tensor, eig_threshold: float = EIG_THRESHOLD) -> "LDSlice":
        """The slice with only the core SNPs in ``keep_core`` (an (n,) bool mask over core SNPs) scored.

        Dropped core SNPs become flank SNPs: their effects still enter through LD, but their z-scores
        are not modelled (use this when a trait has no z-score for them). R_{:,C'} is rebuilt from the
        factors, so the result equals ``from_ld`` on the original R up to the eigenvalue threshold.
        """
        keep_t = _as_core_mask(keep_core, self.n, "core restriction mask").to(self.Z.device)
        if bool(keep_t.all()):
            return self
        dt = self.Z.dtype
        Z64 = self.Z.to(torch.float64)
        R_all_C = Z64 @ Z64[self.core_mask.to(self.Z.device)][keep_t].T      # R_{:,C'}  (m x n')
        core_idx = torch.nonzero(self.core_mask.to(self.Z.device)).squeeze(1)
        new_core = torch.zeros_like(self.core_mask, device=self.Z.device)
        new_core[core_idx[keep_t]] = True
        R_CC = R_all_C[new_core]
        evals, evecs = torch.linalg.eigh(0.5 * (R_CC + R_CC.T))
        keep = evals > eig_threshold * float(evals[-1])
        lam, U = evals[keep], evecs[:, keep]
        Z, T, omega = _diagonalise(R_all_C @ (U / lam.sqrt()), U / lam.sqrt())
        out = LDSlice(Z=Z, T=T, lam=lam, logdet_R=float(lam.log().sum()), core_mask=new_core.cpu(),
                      omega=omega, n_ref=self.n_ref)
        return out.to(device=self.Z.device, dtype=dt)

    def nbytes(self) -> int:
        """Bytes held by the slice's tensors."""
        ts = [self.Z, self.T, self.lam, self.core_mask, self.omega] + \
            ([] if self.core_diag is None else [self.core_diag])
        return int(sum(t.element_size() * t.nelement() for t in ts))


def _diagonalise(Z: torch.Tensor, T: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rotate (Z, T) by the eigenvectors of Z^T Z: returns (Z Q, T Q, omega) with (ZQ)^T (ZQ) = diag(omega)."""
    omega, Q = torch.linalg.eigh(Z.T @ Z)
    return Z @ Q, T @ Q, omega.clamp_min(0.0)


# ------------------------------------------------------------------------------------ checks
def _as_float64_matrix(R: np.ndarray | torch.Tensor, name: str) -> torch.Tensor:
    R_t = torch.as_tensor(np.asarray(R) if not isinstance(R, torch.Tensor) else R).detach()
    if R_t.ndim != 2 or R_t.shape[0] != R_t.shape[1]:
        raise InputError(f"{name}: LD matrix must be square (m, m), got shape {tuple(R_t.shape)}")
    if R_t.shape[0] == 0:
        raise InputError(f"{name}: LD matrix is empty")
    R_t = R_t.to(torch.float64)                     # stays on its device: a CUDA R is factored on the GPU
    bad = ~torch.isfinite(R_t)
    if bool(bad.any()):
        i, j = (int(v) for v in torch.nonzero(bad)[0])
        raise InputError(f"{name}: LD matrix has a non-finite entry at ({i}, {j}); "
                         "fix: drop monomorphic SNPs (zero variance) before computing LD")
    scale = float(R_t.abs().max())
    asym = float((R_t - R_t.T).abs().max())
    if asym > SYMMETRY_TOL * max(scale, 1e-300):
        i, j = (int(v) for v in torch.nonzero((R_t - R_t.T).abs() == asym)[0])
        raise InputError(f"{name}: LD matrix is not symmetric (|R[{i},{j}] - R[{j},{i}]| = {asym:.3g}); "
                         "fix: pass the full symmetric matrix (for a triangular store use R = M + M^T)")
    return R_t


def _as_core_mask(core_mask: np.ndarray | torch.Tensor, m: int, name: str) -> torch.Tensor:
    mask = torch.as_tensor(np.asarray(core_mask) if not isinstance(core_mask, torch.Tensor) else core_mask)
    if mask.ndim != 1 or mask.shape[0] != m:
        raise InputError(f"{name}: mask must have shape ({m},) to match the LD matrix, got {tuple(mask.shape)}")
    if mask.dtype != torch.bool:
        raise InputError(f"{name}: mask must be boolean, got {mask.dtype}")
    if not bool(mask.any()):
        raise InputError(f"{name}: mask selects no SNPs (empty core); every slice needs at least one core SNP")
    return mask.cpu()
