"""LDSlice: the whitened factors against direct numpy linear algebra on R (DESIGN.md section 1)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepwas_dist import InputError, LDSlice, marginal_nll

from .ld_fixtures import middle_third_core, panel_ld

EIG_THRESHOLD = 1e-6


def genotype_ld(n_ind: int, m: int, seed: int = 0) -> np.ndarray:
    """LD of a random standardized genotype matrix with local correlation (rank <= n_ind - 1)."""
    g = np.random.default_rng(seed)
    latent = g.standard_normal((n_ind, m))
    latent = (latent + np.roll(latent, 1, axis=1) + 0.5 * np.roll(latent, 2, axis=1))   # local LD
    G = (latent > -0.3).astype(float) + (latent > 0.8)                                    # 0/1/2 genotypes
    assert (G.std(0) > 0).all()
    X = (G - G.mean(0)) / G.std(0)
    return X.T @ X / n_ind


def kept_eigs(R_CC: np.ndarray, tau: float = EIG_THRESHOLD) -> np.ndarray:
    ev = np.linalg.eigvalsh(R_CC)
    return ev[ev > tau * ev[-1]]


def dense_nll(R: np.ndarray, core: np.ndarray, z: np.ndarray, s: np.ndarray, sigma: float,
              tau: float = EIG_THRESHOLD) -> float:
    """NLL of z_C ~ N(0, R_C: S R_:C + sigma R_CC) on range(R_CC), straight from R (numpy)."""
    R_C = R[core]
    R_CC = R_C[:, core]
    ev, U = np.linalg.eigh(R_CC)
    U = U[:, ev > tau * ev[-1]]
    Sig = U.T @ (R_C @ (s[:, None] * R_C.T) + sigma * R_CC) @ U
    zt = U.T @ z
    _, logdet = np.linalg.slogdet(Sig)
    return 0.5 * (logdet + zt @ np.linalg.solve(Sig, zt) + U.shape[1] * math.log(2 * math.pi))


@pytest.fixture(scope="module")
def rankdef():
    """m = 150 SNPs, core = middle 50, from 40 people: R_CC has rank <= 39 < 50."""
    R = genotype_ld(40, 150, seed=1)
    core = middle_third_core(150)
    return R, core


def random_trait(sl_m: int, n: int, seed: int):
    g = np.random.default_rng(seed)
    z = torch.tensor(g.standard_normal(n) * 2.0)
    log_s = torch.tensor(math.log(0.05) + g.normal(0, 1, sl_m))
    return z, log_s, torch.tensor(0.1, dtype=torch.float64)


# ----------------------------------------------------------------------------------- identities
def test_factor_identities_rank_deficient(rankdef):
    R, core = rankdef
    sl = LDSlice.from_ld(R, core)
    Z, T, omega = sl.Z.numpy(), sl.T.numpy(), sl.omega.numpy()
    R_CC = R[np.ix_(core, core)]
    lam = kept_eigs(R_CC)
    assert sl.m == 150 and sl.n == 50
    assert sl.rank == len(lam) == np.linalg.matrix_rank(R_CC) <= 39
    # Z^T Z = diag(omega)
    ZtZ = Z.T @ Z
    np.testing.assert_allclose(np.diag(ZtZ), omega, rtol=1e-12, atol=1e-12)
    assert np.abs(ZtZ - np.diag(np.diag(ZtZ))).max() < 1e-10 * omega.max()
    # core rows of Z: Z_C = R_CC T;  whitening: T^T R_CC T = I_r
    np.testing.assert_allclose(Z[core], R_CC @ T, atol=1e-10)
    np.testing.assert_allclose(T.T @ R_CC @ T, np.eye(sl.rank), atol=1e-10)
    # Z = R_:C T
    np.testing.assert_allclose(Z, R[:, core] @ T, atol=1e-10)
    # log-determinant and eigenvalues of the range
    assert sl.logdet_R == pytest.approx(float(np.log(lam).sum()), rel=1e-12, abs=1e-10)
    np.testing.assert_allclose(np.sort(sl.lam.numpy()), lam, rtol=1e-10)
    assert sl.Z.dtype == sl.T.dtype == torch.float64 and sl.core_mask.dtype == torch.bool


def test_factor_identities_full_rank():
    R = genotype_ld(400, 90, seed=2)
    core = middle_third_core(90)
    sl = LDSlice.from_ld(R, core)
    R_CC = R[np.ix_(core, core)]
    assert sl.rank == 30
    assert sl.logdet_R == pytest.approx(np.linalg.slogdet(R_CC)[1], rel=1e-12)
    # full rank: T T^T = R_CC^{-1}
    np.testing.assert_allclose(sl.T.numpy() @ sl.T.numpy().T, np.linalg.inv(R_CC), rtol=1e-9, atol=1e-9)


def test_eig_threshold_controls_rank(rankdef):
    R, core = rankdef
    R_CC = R[np.ix_(core, core)]
    for tau in (1e-6, 1e-2, 0.1):
        assert LDSlice.from_ld(R, core, eig_threshold=tau).rank == len(kept_eigs(R_CC, tau))
    assert LDSlice.from_ld(R, core, eig_threshold=0.1).rank < LDSlice.from_ld(R, core).rank


@pytest.mark.parametrize("kind", ["genotypes", "lowrank"])
def test_ld_core_rows_reconstruct_panel_ld(kind, rankdef):
    if kind == "genotypes":
        R, core = rankdef
    else:
        R = panel_ld("lowrank", 450)
        core = middle_third_core(450)
    sl = LDSlice.from_ld(R, core)
    assert sl.rank < sl.n                                      # rank-deficient case
    np.testing.assert_allclose(sl.ld_core_rows().numpy(), R[core], rtol=0, atol=1e-10)


def test_ld2_core_raw_and_bias_corrected(rankdef):
    R, core = rankdef
    r2 = R[core] ** 2
    np.testing.assert_allclose(LDSlice.from_ld(R, core).ld2_core.numpy(), r2, atol=1e-10)
    sl = LDSlice.from_ld(R, core, n_ref=40)
    assert sl.n_ref == 40
    np.testing.assert_allclose(sl.ld2_core.numpy(), r2 - (1 - r2) / 38.0, atol=1e-10)
    # the diagonal (r = 1) is not changed by the correction
    np.testing.assert_allclose(np.diag(sl.ld2_core.numpy()[:, core]), 1.0, atol=1e-10)


def test_exact_nll_matches_dense_reference(rankdef):
    """The factors feed marginal_nll to the dense projected-Sigma NLL (a sanity link to from_ld)."""
    R, core = rankdef
    sl = LDSlice.from_ld(R, core)
    z, log_s, ls = random_trait(sl.m, sl.n, 3)
    ref = dense_nll(R, core, z.numpy(), log_s.exp().numpy(), math.exp(float(ls)))
    assert float(marginal_nll(sl, z, log_s, ls, method="exact").nll) == pytest.approx(ref, rel=1e-10)


# --------------------------------------------------------------------------------- crop/restrict
def test_crop_equals_from_ld_on_cropped_matrix(rankdef):
    R, core = rankdef
    sl = LDSlice.from_ld(R, core, n_ref=40)
    keep = np.ones(sl.m, dtype=bool)
    keep[:30] = False
    keep[-12:] = False
    keep[70:75] = True
    cropped = sl.crop(keep)
    direct = LDSlice.from_ld(R[np.ix_(keep, keep)], core[keep])
    assert cropped.m == int(keep.sum()) and cropped.n == sl.n and cropped.rank == direct.rank
    assert cropped.n_ref == 40
    ZtZ = cropped.Z.numpy().T @ cropped.Z.numpy()
    np.testing.assert_allclose(ZtZ, np.diag(cropped.omega.numpy()), atol=1e-10)
    np.testing.assert_allclose(cropped.ld_core_rows().numpy(), R[core][:, keep], atol=1e-10)
    z, log_s, ls = random_trait(cropped.m, cropped.n, 4)
    a = float(marginal_nll(cropped, z, log_s, ls, method="exact").nll)
    b = float(marginal_nll(direct, z, log_s, ls, method="exact").nll)
    assert a == pytest.approx(b, rel=1e-10)
    assert a == pytest.approx(dense_nll(R[np.ix_(keep, keep)], core[keep], z.numpy(), log_s.exp().numpy(),
                                        math.exp(float(ls))), rel=1e-10)


def test_crop_dropping_a_core_snp_raises(rankdef):
    R, core = rankdef
    sl = LDSlice.from_ld(R, core)
    keep = np.ones(sl.m, dtype=bool)
    keep[np.flatnonzero(core)[3]] = False
    with pytest.raises(InputError, match="drops core SNPs"):
        sl.crop(keep)
    with pytest.raises(InputError, match="mask must have shape"):
        sl.crop(np.ones(sl.m - 1, dtype=bool))


@pytest.mark.parametrize("which", ["rankdef", "fullrank"])
def test_restrict_core_equals_from_ld_with_smaller_core(which, rankdef):
    if which == "rankdef":
        R, core = rankdef
    else:
        R = genotype_ld(400, 90, seed=2)
        core = middle_third_core(90)
    sl = LDSlice.from_ld(R, core)
    keep_core = np.ones(sl.n, dtype=bool)
    keep_core[::4] = False
    keep_core[-1] = False
    new_core = core.copy()
    new_core[np.flatnonzero(core)[~keep_core]] = False
    out = sl.restrict_core(keep_core)
    direct = LDSlice.from_ld(R, new_core)
    assert out.n == int(keep_core.sum()) and out.m == sl.m and out.rank == direct.rank
    assert torch.equal(out.core_mask, torch.as_tensor(new_core))
    z, log_s, ls = random_trait(sl.m, out.n, 5)
    a = float(marginal_nll(out, z, log_s, ls, method="exact").nll)
    b = float(marginal_nll(direct, z, log_s, ls, method="exact").nll)
    assert a == pytest.approx(b, rel=1e-9)
    assert out.logdet_R == pytest.approx(direct.logdet_R, rel=1e-9, abs=1e-9)
    # keeping every core SNP is a no-op
    assert sl.restrict_core(np.ones(sl.n, dtype=bool)) is sl


# -------------------------------------------------------------------------------- dtype / bytes
def test_to_float32_and_nbytes(rankdef):
    R, core = rankdef
    sl = LDSlice.from_ld(R, core)
    sl32 = sl.to(dtype=torch.float32)
    for name in ("Z", "T", "lam", "omega"):
        t64, t32 = getattr(sl, name), getattr(sl32, name)
        assert t32.dtype == torch.float32
        np.testing.assert_allclose(t32.numpy(), t64.numpy(), rtol=1e-6, atol=1e-6)
    assert sl32.core_mask.dtype == torch.bool and torch.equal(sl32.core_mask, sl.core_mask)
    assert sl32.logdet_R == sl.logdet_R
    also32 = LDSlice.from_ld(R, core, dtype="float32")
    assert also32.Z.dtype == torch.float32
    m, n, r = sl.m, sl.n, sl.rank
    n_float = m * r + n * r + r + r                          # Z, T, lam, omega
    assert sl.nbytes() == 8 * n_float + m                     # + bool core mask
    assert sl32.nbytes() == 4 * n_float + m
    z, log_s, ls = random_trait(m, n, 6)
    a = float(marginal_nll(sl, z, log_s, ls, method="exact").nll)
    b = marginal_nll(sl32, z.float(), log_s.float(), ls.float(), method="exact").nll
    assert b.dtype == torch.float32 and float(b) == pytest.approx(a, rel=1e-4)


# ------------------------------------------------------------------------------------ bad input
def _spd_with_eigs(eigs: np.ndarray, seed: int = 0) -> np.ndarray:
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigs), len(eigs))))
    A = (Q * eigs) @ Q.T
    return 0.5 * (A + A.T)


def test_bad_ld_matrix_errors():
    core = np.ones(6, dtype=bool)
    with pytest.raises(InputError, match="must be square"):
        LDSlice.from_ld(np.eye(6)[:5], core)
    R = np.eye(6)
    R[3, 5] = R[5, 3] = np.nan
    with pytest.raises(InputError, match=r"non-finite entry at \(3, 5\)"):
        LDSlice.from_ld(R, core)
    R = np.eye(6)
    R[2, 4] = 0.3
    with pytest.raises(InputError, match=r"not symmetric \(\|R\[2,4\] - R\[4,2\]\|"):
        LDSlice.from_ld(R, core)
    R = _spd_with_eigs(np.array([2.0, 1.5, 1.0, 0.8, 0.7, -0.5]))
    with pytest.raises(InputError, match="not positive semi-definite"):
        LDSlice.from_ld(R, core)


def test_tiny_negative_eigenvalues_are_clipped_silently():
    """Eigenvalues of -1e-12 * lambda_max (rounding, compact storage) are not an error: they fall under
    the eigenvalue threshold and are dropped from the rank."""
    eigs = np.array([3.0, 1.5, 1.0, 0.5, 0.2, -1e-12 * 3.0, -1e-12 * 3.0, 0.0])
    R = _spd_with_eigs(eigs, seed=3)
    sl = LDSlice.from_ld(R, np.ones(8, dtype=bool))
    assert sl.rank == 5
    assert sl.logdet_R == pytest.approx(float(np.log(eigs[:5]).sum()), rel=1e-10)


def test_bad_mask_and_threshold_errors(rankdef):
    R, core = rankdef
    with pytest.raises(InputError, match="empty core"):
        LDSlice.from_ld(R, np.zeros(len(core), dtype=bool))
    with pytest.raises(InputError, match=r"mask must have shape \(150,\)"):
        LDSlice.from_ld(R, core[:-1])
    with pytest.raises(InputError, match="boolean"):
        LDSlice.from_ld(R, core.astype(int))
    for tau in (0.0, 1.0, -1e-6, 2.0):
        with pytest.raises(InputError, match="eig_threshold must be in"):
            LDSlice.from_ld(R, core, eig_threshold=tau)
