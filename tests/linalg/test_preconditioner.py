"""The diagonal preconditioner P = sigma I + s_bar Z^T Z against dense numpy, and the cost model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from deepwas_dist import LDSlice
from deepwas_dist.linalg.cost import ALWAYS_EXACT_RANK, choose_method, exact_cost, iterative_cost
from deepwas_dist.linalg.operator import KOperator
from deepwas_dist.linalg.preconditioner import DiagPreconditioner

from ..ld_fixtures import middle_third_core
from ..test_slice import genotype_ld


@pytest.fixture(scope="module")
def case():
    R = genotype_ld(80, 120, seed=21)
    sl = LDSlice.from_ld(R, middle_third_core(120))
    g = np.random.default_rng(22)
    s = np.exp(g.normal(0, 1, (2, sl.m)))
    sigma = np.array([0.9, 1.4])
    op = KOperator(Z=sl.Z, s=torch.tensor(s), sigma=torch.tensor(sigma))
    pre = DiagPreconditioner.build(op, sl.omega, sl.row_norm2)
    Z = sl.Z.numpy()
    s_bar = (s * (Z ** 2).sum(1)).sum(1) / np.trace(Z.T @ Z)
    P = [sigma[t] * np.eye(sl.rank) + s_bar[t] * (Z.T @ Z) for t in range(2)]          # dense, not assumed diagonal
    X = g.standard_normal((2, sl.rank, 3))
    return sl, op, pre, Z, s, sigma, s_bar, P, X


def test_build_matches_sigma_plus_sbar_ZtZ(case):
    sl, op, pre, Z, s, sigma, s_bar, P, X = case
    assert pre.d.shape == (2, sl.rank)
    for t in range(2):
        np.testing.assert_allclose(pre.d[t].numpy(), sigma[t] + s_bar[t] * np.diag(Z.T @ Z), rtol=1e-12)
        # P is diagonal in the slice's basis, so diag(d) is all of it
        assert np.abs(P[t] - np.diag(pre.d[t].numpy())).max() < 1e-10 * np.abs(P[t]).max()
        # s_bar makes tr P = tr K
        K = op.dense(t).numpy()
        assert np.trace(P[t]) == pytest.approx(np.trace(K), rel=1e-12)


def test_logdet_solve_and_powers_against_dense(case):
    sl, op, pre, Z, s, sigma, s_bar, P, X = case
    Xt = torch.tensor(X)
    for t in range(2):
        assert float(pre.logdet()[t]) == pytest.approx(np.linalg.slogdet(P[t])[1], rel=1e-12)
        np.testing.assert_allclose(pre.solve(Xt)[t].numpy(), np.linalg.solve(P[t], X[t]), rtol=1e-9, atol=1e-12)
        ev, V = np.linalg.eigh(P[t])
        for power in (0.5, -0.5, 1.0, 2.0):
            ref = (V * ev ** power) @ V.T @ X[t]
            np.testing.assert_allclose(pre.mul_pow(Xt, power)[t].numpy(), ref, rtol=1e-8, atol=1e-10)


def test_inv_diag_quad_against_dense(case):
    sl, op, pre, Z, s, sigma, s_bar, P, X = case
    out = pre.inv_diag_quad(sl.Z)
    assert out.shape == (2, sl.m)
    for t in range(2):
        np.testing.assert_allclose(out[t].numpy(), np.diag(Z @ np.linalg.solve(P[t], Z.T)), rtol=1e-9)
    # float32 products keep the output in d's dtype
    out32 = pre.inv_diag_quad(sl.Z.float())
    assert out32.dtype == torch.float64
    np.testing.assert_allclose(out32.numpy(), out.numpy(), rtol=1e-5)


def test_identity_preconditioner(case):
    sl, op, pre, Z, s, sigma, s_bar, P, X = case
    eye = DiagPreconditioner.identity(op)
    Xt = torch.tensor(X)
    assert torch.equal(eye.solve(Xt), Xt) and torch.equal(eye.mul_pow(Xt, -0.5), Xt)
    assert bool((eye.logdet() == 0).all())


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
