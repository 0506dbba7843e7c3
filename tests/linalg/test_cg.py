"""Batched preconditioned CG against dense solves."""
from __future__ import annotations

import torch

from deepwas_dist.linalg.cg import batched_pcg

R_DIM, T, K = 40, 2, 3


def spd_batch(seed: int = 0, cond: float = 100.0, r: int = R_DIM, t: int = T):
    """(t, r, r) SPD matrices with eigenvalues log-spaced in [1, cond], and their eigenvectors."""
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(t, r, r, generator=g, dtype=torch.float64))
    ev = torch.logspace(0, torch.log10(torch.tensor(cond)).item(), r, dtype=torch.float64).expand(t, r)
    A = Q @ (ev[:, :, None] * Q.transpose(1, 2))
    return 0.5 * (A + A.transpose(1, 2)), Q, ev


def identity(X):
    return X


def test_solves_random_spd_systems_to_tolerance():
    A, _, _ = spd_batch(0)
    B = torch.randn(T, R_DIM, K, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    tol = 1e-10
    res = batched_pcg(lambda X: A @ X, B, identity, tol=tol, max_iters=200)
    X_ref = torch.linalg.solve(A, B)
    true_res = (A @ res.X - B).norm(dim=1) / B.norm(dim=1)
    assert float(true_res.max()) < 10 * tol
    assert float(res.residual.max()) <= tol
    assert float(((res.X - X_ref).norm(dim=1) / X_ref.norm(dim=1)).max()) < 100 * 10 * tol    # cond * residual
    assert res.n_iters.shape == (T, K) and bool((res.n_iters > 2).all())
    assert res.alpha.shape == res.beta.shape == (res.converged_iters, T, K)


def test_per_column_iterations_and_no_nan_after_early_convergence():
    A, Q, ev = spd_batch(2)
    g = torch.Generator().manual_seed(3)
    B = torch.randn(T, R_DIM, K, generator=g, dtype=torch.float64)
    B[0, :, 0] = 2.0 * Q[0, :, 5]                       # an eigenvector: 1 step
    B[1, :, 1] = Q[1, :, 3] - 0.7 * Q[1, :, 30]         # two eigenvectors: 2 steps (Krylov dimension 2)
    B[1, :, 2] = 0.0                                    # zero right-hand side: 0 steps, X = 0
    res = batched_pcg(lambda X: A @ X, B, identity, tol=1e-10, max_iters=200)
    n = res.n_iters
    assert int(n[0, 0]) == 1 and int(n[1, 1]) == 2 and int(n[1, 2]) == 0
    assert int(n[0, 1]) > 2 and int(n[0, 2]) > 2 and int(n[1, 0]) > 2
    for x in (res.X, res.alpha, res.beta, res.residual):
        assert bool(torch.isfinite(x).all())
    # coefficients are zero once a column has stopped
    steps = torch.arange(res.alpha.shape[0])[:, None, None]
    stopped = steps >= n[None]
    assert bool((res.alpha[stopped] == 0).all()) and bool((res.beta[stopped] == 0).all())
    assert bool((res.alpha[~stopped] > 0).all())
    X_ref = torch.linalg.solve(A, B)
    assert float((res.X - X_ref).abs().max()) < 1e-7 * float(X_ref.abs().max())
    assert bool((res.X[1, :, 2] == 0).all())
    # the eigenvector column: X = B / lambda exactly
    torch.testing.assert_close(res.X[0, :, 0], B[0, :, 0] / ev[0, 5], rtol=1e-10, atol=1e-12)


def test_identity_and_diagonal_preconditioner_give_the_same_solution():
    A0, _, _ = spd_batch(4, cond=20.0)
    # badly scaled rows/columns: D^{1/2} A0 D^{1/2}, which a diagonal (Jacobi) preconditioner undoes
    d = torch.logspace(-2, 2, R_DIM, dtype=torch.float64)
    A = d.sqrt()[None, :, None] * A0 * d.sqrt()[None, None, :]
    diag = torch.diagonal(A, dim1=1, dim2=2)                       # (T, r)
    B = torch.randn(T, R_DIM, K, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    plain = batched_pcg(lambda X: A @ X, B, identity, tol=1e-11, max_iters=2000)
    jacobi = batched_pcg(lambda X: A @ X, B, lambda X: X / diag[:, :, None], tol=1e-11, max_iters=2000)
    X_ref = torch.linalg.solve(A, B)
    scale = float(X_ref.abs().max())
    assert float((plain.X - X_ref).abs().max()) < 1e-5 * scale
    assert float((jacobi.X - X_ref).abs().max()) < 1e-5 * scale
    assert float((jacobi.X - plain.X).abs().max()) < 1e-5 * scale
    assert int(jacobi.n_iters.max()) < int(plain.n_iters.max())


def test_max_iters_is_respected_and_residual_reported():
    A, _, _ = spd_batch(6, cond=1e4)
    B = torch.randn(T, R_DIM, K, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    tol = 1e-10
    res = batched_pcg(lambda X: A @ X, B, identity, tol=tol, max_iters=3)
    assert bool((res.n_iters == 3).all()) and res.alpha.shape[0] == 3 and res.converged_iters == 3
    true_res = (B - A @ res.X).norm(dim=1) / B.norm(dim=1)
    assert bool((res.residual > tol).all())
    torch.testing.assert_close(res.residual, true_res, rtol=1e-8, atol=1e-12)


def test_checking_convergence_every_k_iterations_changes_nothing_but_padding():
    """check_every > 1 (the CUDA default, fewer host syncs) runs a few no-op iterations past convergence:
    same solutions, iteration counts and Lanczos log-determinants; alpha/beta only gain zero rows."""
    from deepwas_dist.linalg.lanczos import quadrature_logdet, tridiagonal_from_cg
    A, _, _ = spd_batch(4)
    B = torch.randn(T, R_DIM, K, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    one = batched_pcg(lambda X: A @ X, B, identity, tol=1e-6, max_iters=200, check_every=1)
    for k in (2, 3, 8):
        res = batched_pcg(lambda X: A @ X, B, identity, tol=1e-6, max_iters=200, check_every=k)
        J = one.alpha.shape[0]
        assert J <= res.alpha.shape[0] < J + k
        assert torch.equal(res.n_iters, one.n_iters) and torch.equal(res.X, one.X)
        assert torch.equal(res.alpha[:J], one.alpha) and not bool(res.alpha[J:].any())
        ld = quadrature_logdet(tridiagonal_from_cg(res.alpha, res.beta, res.n_iters))
        ld1 = quadrature_logdet(tridiagonal_from_cg(one.alpha, one.beta, one.n_iters))
        torch.testing.assert_close(ld, ld1, rtol=1e-12, atol=1e-12)
