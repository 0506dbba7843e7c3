"""The preconditioner P = D + A^T A (diagonal plus the largest-prior SNPs) against dense numpy,
and the cost model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from deepwas_dist import LDSlice
from deepwas_dist.linalg.cg import batched_pcg
from deepwas_dist.linalg.cost import ALWAYS_EXACT_RANK, choose_method, exact_cost, iterative_cost
from deepwas_dist.linalg.operator import KOperator
from deepwas_dist.linalg.preconditioner import Preconditioner

from ..ld_fixtures import middle_third_core
from ..test_slice import genotype_ld

RANK = 10


def dense_P(Z: np.ndarray, s: np.ndarray, sigma: float, k: int) -> np.ndarray:
    """P from its definition: the k SNPs with the largest s_j ||z_j||^2 keep s_j, the others share
    their ||z_j||^2-weighted mean s_base."""
    w = (Z ** 2).sum(1)
    top = np.argsort(-s * w)[:k]
    rest = np.setdiff1d(np.arange(len(s)), top)
    s_base = (s[rest] * w[rest]).sum() / w[rest].sum()
    s_eff = np.full_like(s, s_base)
    s_eff[top] = np.maximum(s[top], s_base)
    return sigma * np.eye(Z.shape[1]) + Z.T @ (Z * s_eff[:, None])


@pytest.fixture(scope="module")
def case():
    R = genotype_ld(80, 120, seed=21)
    sl = LDSlice.from_ld(R, middle_third_core(120))
    g = np.random.default_rng(22)
    s = np.exp(g.normal(0, 1, (2, sl.m)))
    sigma = np.array([0.9, 1.4])
    op = KOperator(Z=sl.Z, s=torch.tensor(s), sigma=torch.tensor(sigma))
    pre = Preconditioner.build(op, sl.omega, sl.row_norm2, rank=RANK)
    Z = sl.Z.numpy()
    P = [dense_P(Z, s[t], sigma[t], RANK) for t in range(2)]
    X = g.standard_normal((2, sl.rank, 3))
    return sl, op, pre, Z, s, sigma, P, X


def test_build_matches_definition(case):
    sl, op, pre, Z, s, sigma, P, X = case
    assert pre.d.shape == (2, sl.rank) and pre.V.shape == (2, sl.rank, RANK) and pre.rank == RANK
    eye = np.eye(sl.rank)
    for t in range(2):
        d, V, g = pre.d[t].numpy(), pre.V[t].numpy(), pre.g[t].numpy()
        dense = np.sqrt(d)[:, None] * (eye + (V * g) @ V.T) * np.sqrt(d)[None, :]
        np.testing.assert_allclose(dense, P[t], rtol=1e-9, atol=1e-12 * np.abs(P[t]).max())
        np.testing.assert_allclose(V.T @ V, np.eye(RANK), atol=1e-9)
        # s_base is the weighted mean of the rest, so tr P = tr K
        assert np.trace(P[t]) == pytest.approx(np.trace(op.dense(t).numpy()), rel=1e-12)


def test_rank_zero_is_sigma_plus_sbar_ZtZ(case):
    sl, op, pre, Z, s, sigma, P, X = case
    diag = Preconditioner.build(op, sl.omega, sl.row_norm2, rank=0)
    assert diag.rank == 0
    s_bar = (s * (Z ** 2).sum(1)).sum(1) / np.trace(Z.T @ Z)
    for t in range(2):
        full = sigma[t] * np.eye(sl.rank) + s_bar[t] * (Z.T @ Z)     # diagonal in the slice's basis
        assert np.abs(full - np.diag(diag.d[t].numpy())).max() < 1e-10 * np.abs(full).max()


def test_operations_against_dense(case):
    sl, op, pre, Z, s, sigma, P, X = case
    Xt = torch.tensor(X)
    L = pre.sample(torch.eye(sl.rank, dtype=torch.float64).expand(2, -1, -1).contiguous()).numpy()
    for t in range(2):
        assert float(pre.logdet()[t]) == pytest.approx(np.linalg.slogdet(P[t])[1], rel=1e-12)
        np.testing.assert_allclose(pre.solve(Xt)[t].numpy(), np.linalg.solve(P[t], X[t]), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(L[t] @ L[t].T, P[t], rtol=1e-9, atol=1e-12 * np.abs(P[t]).max())
        # whitened_solve is L^{-T}: so whitened_solve(E) = P^{-1} sample(E)
        np.testing.assert_allclose(pre.whitened_solve(Xt)[t].numpy(), np.linalg.solve(L[t].T, X[t]),
                                   rtol=1e-9, atol=1e-12)
        assert float(pre.inv_trace()[t]) == pytest.approx(np.trace(np.linalg.inv(P[t])), rel=1e-12)


def test_inv_diag_quad_against_dense(case):
    sl, op, pre, Z, s, sigma, P, X = case
    out = pre.inv_diag_quad(sl.Z)
    assert out.shape == (2, sl.m)
    for t in range(2):
        np.testing.assert_allclose(out[t].numpy(), np.diag(Z @ np.linalg.solve(P[t], Z.T)), rtol=1e-9)
    # float32 products keep the output in d's dtype
    out32 = pre.inv_diag_quad(sl.Z.float())
    assert out32.dtype == torch.float64
    np.testing.assert_allclose(out32.numpy(), out.numpy(), rtol=1e-5)


def test_identity_preconditioner(case):
    sl, op, pre, Z, s, sigma, P, X = case
    eye = Preconditioner.identity(op)
    Xt = torch.tensor(X)
    assert torch.equal(eye.solve(Xt), Xt) and torch.equal(eye.whitened_solve(Xt), Xt)
    assert torch.equal(eye.sample(Xt), Xt) and bool((eye.logdet() == 0).all())


def test_constant_prior_makes_P_exact(case):
    """With one s for every SNP, P = K: preconditioned CG converges in one iteration."""
    sl, op, pre, Z, s, sigma, P, X = case
    const = KOperator(Z=sl.Z, s=torch.full((1, sl.m), 0.7, dtype=torch.float64),
                      sigma=torch.tensor([1.2], dtype=torch.float64))
    pc = Preconditioner.build(const, sl.omega, sl.row_norm2, rank=RANK)
    out = batched_pcg(const.matmul, torch.tensor(X[:1]), pc.solve, tol=1e-10)
    assert out.converged_iters == 1


def test_more_rank_means_fewer_iterations(case):
    sl, op, pre, Z, s, sigma, P, X = case
    B = torch.tensor(X)
    iters = [batched_pcg(op.matmul, B, Preconditioner.build(op, sl.omega, sl.row_norm2, rank=k).solve,
                         tol=1e-8).converged_iters for k in (0, 10, 40)]
    assert iters[0] > iters[1] > iters[2], iters


def test_cost_model_choice():
    for m in (200, 5_000, 100_000):
        for r in (1, 64, ALWAYS_EXACT_RANK):
            assert choose_method(m, r, 1, 16) == "exact"
    assert choose_method(20_000, 6_000, 1, 16) == "iterative"
    assert choose_method(20_000, 6_000, 4, 16) == "iterative"
    assert exact_cost(20_000, 6_000, 1) > iterative_cost(20_000, 6_000, 1, 16)
    # costs are per trait: linear in T (iterative up to the fixed per-iteration overhead)
    assert exact_cost(1000, 300, 3) == pytest.approx(3 * exact_cost(1000, 300, 1))
    assert iterative_cost(1000, 300, 2, 16) > iterative_cost(1000, 300, 1, 16)
