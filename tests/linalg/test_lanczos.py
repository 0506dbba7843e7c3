"""Lanczos quadrature from CG coefficients, and the SLQ log-determinant of the iterative path."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from deepwas_dist import LDSlice
from deepwas_dist.linalg.cg import batched_pcg
from deepwas_dist.linalg.iterative import iterative_parts
from deepwas_dist.linalg.lanczos import quadrature_logdet, tridiagonal_from_cg
from deepwas_dist.linalg.operator import KOperator
from deepwas_dist.linalg.preconditioner import Preconditioner

from ..ld_fixtures import middle_third_core
from ..test_slice import genotype_ld

R_DIM = 30


def spd(seed: int, r: int = R_DIM, lo: float = 0.5, hi: float = 50.0):
    g = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(g.standard_normal((r, r)))
    ev = np.exp(g.uniform(math.log(lo), math.log(hi), r))
    A = (Q * ev) @ Q.T
    return 0.5 * (A + A.T), Q, ev


def run_cg(A: np.ndarray, V: np.ndarray, tol: float = 1e-13):
    """Unpreconditioned CG on A W = V for the columns of V (r, k); returns the CGResult."""
    At = torch.tensor(A)
    B = torch.tensor(V)[None]
    return batched_pcg(lambda X: At @ X, B, lambda X: X, tol=tol, max_iters=A.shape[0])


def test_quadrature_equals_v_logm_v_after_full_cg():
    A, _, _ = spd(0)
    v = np.random.default_rng(1).standard_normal(R_DIM)
    cg = run_cg(A, v[:, None])
    Tm = tridiagonal_from_cg(cg.alpha, cg.beta, cg.n_iters)                 # (1, 1, J, J)
    est = float(quadrature_logdet(Tm)[0, 0]) * float(v @ v)
    ref = float(v @ np.real(scipy.linalg.logm(A)) @ v)
    assert est == pytest.approx(ref, rel=1e-6)
    assert float(cg.residual.max()) < 1e-6          # CG ran (close) to convergence in r steps


def test_quadrature_of_diagonal_tridiagonal_matrix():
    Tm = torch.diag(torch.tensor([3.0, 0.5, 7.0], dtype=torch.float64))[None]
    assert float(quadrature_logdet(Tm)[0]) == pytest.approx(math.log(3.0), rel=1e-14)
    assert quadrature_logdet(torch.zeros(2, 0, 0, dtype=torch.float64)).shape == (2,)


def test_padding_of_early_stopped_columns_does_not_change_the_value():
    A, Q, ev = spd(2)
    g = np.random.default_rng(3)
    v_full = g.standard_normal(R_DIM)
    v_three = Q[:, [1, 7, 20]] @ np.array([1.0, -2.0, 0.5])                # Krylov dimension 3
    v_one = 1.5 * Q[:, 11]                                               # an eigenvector
    V = np.stack([v_full, v_three, v_one], axis=1)
    cg = run_cg(A, V)
    assert [int(x) for x in cg.n_iters[0]] [1:] == [3, 1]
    batched = quadrature_logdet(tridiagonal_from_cg(cg.alpha, cg.beta, cg.n_iters))[0]     # (3,)
    logmA = Q @ np.diag(np.log(ev)) @ Q.T
    for k in range(3):
        v = V[:, k]
        ref = float(v @ logmA @ v) / float(v @ v)
        assert float(batched[k]) == pytest.approx(ref, rel=1e-6, abs=1e-9)
        alone = run_cg(A, v[:, None])                                     # no padding at all
        J = int(alone.n_iters[0, 0])
        own = quadrature_logdet(tridiagonal_from_cg(alone.alpha[:J], alone.beta[:J], alone.n_iters))[0, 0]
        assert float(batched[k]) == pytest.approx(float(own), rel=1e-10, abs=1e-12)
    # garbage (instead of zeros) beyond each column's n_iters is ignored too
    alpha, beta = cg.alpha.clone(), cg.beta.clone()
    stopped = torch.arange(alpha.shape[0])[:, None, None] >= cg.n_iters[None]
    alpha[stopped] = 0.37
    beta[stopped] = 5.0
    noisy = quadrature_logdet(tridiagonal_from_cg(alpha, beta, cg.n_iters))[0]
    torch.testing.assert_close(noisy, batched, rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def slice_op():
    R = genotype_ld(400, 240, seed=11)
    core = middle_third_core(240)
    sl = LDSlice.from_ld(R, core)
    g = np.random.default_rng(12)
    s = torch.tensor(0.5 * np.exp(g.normal(0, 1, sl.m)))[None]
    op = KOperator(Z=sl.Z, s=s, sigma=torch.tensor([1.1], dtype=torch.float64))
    K = op.dense(0).numpy()
    exact = float(np.log(np.linalg.eigvalsh(K)).sum())
    u = torch.tensor(g.standard_normal(sl.rank))[None]
    return sl, op, u, K, exact


def test_slq_logdet_with_many_probes(slice_op):
    sl, op, u, K, exact = slice_op
    out = iterative_parts(op, u, Preconditioner.identity(op), False, num_probes=2000, tol=1e-8,
                          max_iters=200, generator=torch.Generator().manual_seed(0))
    assert float(out.logdet_K[0]) == pytest.approx(exact, rel=0.01)
    assert out.converged
    # the quadratic term of the same solve
    assert float(out.quad[0]) == pytest.approx(float(u[0].numpy() @ np.linalg.solve(K, u[0].numpy())), rel=1e-6)


@pytest.mark.parametrize("rank", [0, 20])
def test_preconditioned_slq_is_unbiased(slice_op, rank):
    """With the diagonal preconditioner and with a low-rank part (whose factor L is not symmetric)."""
    sl, op, u, K, exact = slice_op
    pre = Preconditioner.build(op, sl.omega, sl.row_norm2, rank=rank)
    ests = np.array([float(iterative_parts(op, u, pre, False, num_probes=16,
                                           generator=torch.Generator().manual_seed(seed)).logdet_K[0])
                     for seed in range(40)])
    se = ests.std(ddof=1) / math.sqrt(len(ests))
    assert abs(ests.mean() - exact) < 3 * se, (ests.mean(), exact, se)
    assert se < 0.01 * abs(exact)                 # and not vacuous: the estimator is tight
    many = iterative_parts(op, u, pre, False, num_probes=2000, generator=torch.Generator().manual_seed(99))
    assert float(many.logdet_K[0]) == pytest.approx(exact, rel=0.005)
