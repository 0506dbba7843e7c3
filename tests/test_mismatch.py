"""The mismatch model z_C ~ N(0, Sigma_C + lambda I) against a dense brute force (deepwas_dist/mismatch.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepwas_dist import LDSlice, marginal_nll
from deepwas_dist.ldsc import ldsc_loss
from deepwas_dist.likelihood import null_nll, sample_core_z

from .ld_fixtures import middle_third_core, panel_ld
from .test_likelihood import realistic_prior


def brute_nll(R: np.ndarray, core: np.ndarray, z, log_s, log_sigma, log_lambda) -> torch.Tensor:
    """Dense Gaussian NLL of all n core z-scores under Sigma_C + lambda I (float64, autograd)."""
    Rt = torch.as_tensor(R, dtype=torch.float64)
    c = torch.as_tensor(core)
    R_C = Rt[c]
    C = R_C @ (log_s.exp()[:, None] * R_C.T) + log_sigma.exp() * R_C[:, c] \
        + log_lambda.exp() * torch.eye(int(c.sum()), dtype=torch.float64)
    L = torch.linalg.cholesky(C)
    quad = z @ torch.cholesky_solve(z[:, None], L)[:, 0]
    return 0.5 * (2.0 * L.diagonal().log().sum() + quad + z.shape[0] * math.log(2 * math.pi))


def grads(fn, *params):
    ps = [p.clone().requires_grad_(True) for p in params]
    out = fn(*ps)
    out.backward()
    return float(out.detach()), [p.grad.clone() for p in ps]


def case(kind: str, m: int, log_lambda: float, seed: int = 0):
    R = panel_ld(kind, m)
    core = middle_third_core(m)
    sl = LDSlice.from_ld(R, core)
    log_s = realistic_prior(m, seed)
    ls = torch.tensor(0.05, dtype=torch.float64)
    ll = torch.tensor(log_lambda, dtype=torch.float64)
    z = sample_core_z(sl, log_s, ls, torch.Generator().manual_seed(seed), log_lambda=ll)
    return R, core, sl, z, log_s, ls, ll


@pytest.mark.parametrize("kind,m", [("lowrank", 900), ("fullrank", 600)])
@pytest.mark.parametrize("log_lambda", [math.log(1e-3), math.log(0.1), 0.0])
def test_exact_matches_dense_brute_force(kind, m, log_lambda):
    """Exact NLL within 1e-8 relative of the dense N(0, Sigma_C + lambda I); gradients within 1e-6."""
    R, core, sl, z, log_s, ls, ll = case(kind, m, log_lambda)
    ref, g_ref = grads(lambda a, b, c: brute_nll(R, core, z, a, b, c), log_s, ls, ll)
    val, g = grads(lambda a, b, c: marginal_nll(sl, z, a, b, method="exact", log_lambda=c).nll, log_s, ls, ll)
    assert abs(val - ref) / abs(ref) < 1e-8
    for got, want in zip(g, g_ref):
        assert float((got - want).abs().max()) <= 1e-6 * max(1.0, float(want.abs().max()))
    if kind == "lowrank":
        assert sl.rank < sl.n        # the null-space term is exercised


@pytest.mark.parametrize("kind,m", [("lowrank", 1500), ("fullrank", 1200)])
def test_iterative_matches_exact(kind, m):
    """Iterative NLL within 1e-2 relative of exact, gradient cosine >= 0.99, over probe seeds."""
    R, core, sl, z, log_s, ls, ll = case(kind, m, math.log(0.05), seed=1)
    ex, g_ex = grads(lambda a, b, c: marginal_nll(sl, z, a, b, method="exact", log_lambda=c).nll, log_s, ls, ll)
    for seed in range(3):
        gen = torch.Generator().manual_seed(seed)
        it, g_it = grads(lambda a, b, c: marginal_nll(sl, z, a, b, method="iterative", log_lambda=c,
                                                      generator=gen).nll, log_s, ls, ll)
        assert abs(it - ex) / abs(ex) < 1e-2
        cos = float(torch.nn.functional.cosine_similarity(g_it[0], g_ex[0], dim=0))
        assert cos >= 0.99
        assert abs(float(g_it[2]) - float(g_ex[2])) <= 0.05 * abs(float(g_ex[2])) + 0.5


def test_lambda_to_zero_range_part_is_todays_nll():
    """With lambda -> 0 the range part reproduces the NLL without the mismatch term."""
    R, core, sl, z, log_s, ls, _ = case("fullrank", 600, math.log(0.1))
    old = marginal_nll(sl, z, log_s, ls, method="exact")
    new = marginal_nll(sl, z, log_s, ls, method="exact", log_lambda=torch.tensor(-40.0, dtype=torch.float64))
    range_part = 0.5 * (float(new.logdet_K + new.quad) + new.logdet_R + new.rank * math.log(2 * math.pi))
    assert abs(range_part - float(old.nll)) < 1e-9 * abs(float(old.nll))
    assert old.null_space is None and new.null_space is not None


@pytest.mark.parametrize("kind,m", [("lowrank", 900), ("fullrank", 600)])
def test_null_nll_closed_form(kind, m):
    """null_nll with lambda equals marginal_nll at s -> 0, for several traits at once."""
    R, core, sl, z, log_s, ls, ll = case(kind, m, math.log(0.2))
    Z2 = torch.stack([z, z.flip(0)], 1)
    lsig = torch.tensor([0.05, -0.1], dtype=torch.float64)
    llam = torch.tensor([math.log(0.2), math.log(0.02)], dtype=torch.float64)
    tiny = torch.full((sl.m, 2), -60.0, dtype=torch.float64)
    want = marginal_nll(sl, Z2, tiny, lsig, method="exact", log_lambda=llam).nll
    got = null_nll(sl, Z2, lsig, llam)
    assert torch.allclose(got, want, rtol=1e-10)
    assert torch.allclose(null_nll(sl, z, lsig[0], llam[0]), want[0], rtol=1e-10)


def test_batched_traits_match_single():
    R, core, sl, z, log_s, ls, ll = case("fullrank", 600, math.log(0.1))
    Z2 = torch.stack([z, 0.5 * z], 1)
    S2 = torch.stack([log_s, log_s - 1.0], 1)
    lsig = torch.stack([ls, ls + 0.2])
    llam = torch.tensor([math.log(0.1), math.log(0.3)], dtype=torch.float64)
    both = marginal_nll(sl, Z2, S2, lsig, method="exact", log_lambda=llam).nll
    for t in range(2):
        one = marginal_nll(sl, Z2[:, t], S2[:, t], lsig[t], method="exact", log_lambda=llam[t]).nll
        assert abs(float(both[t] - one)) < 1e-10 * abs(float(one))


def test_mle_recovers_lambda():
    """Fitting log lambda (s, sigma fixed at the truth) on draws from the model recovers lambda."""
    R, core, sl, _, log_s, ls, _ = case("lowrank", 1200, 0.0)
    true = 0.3
    gen = torch.Generator().manual_seed(5)
    Z = torch.stack([sample_core_z(sl, log_s, ls, gen, log_lambda=math.log(true)) for _ in range(8)], 1)
    ll = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([ll], max_iter=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = sum(marginal_nll(sl, Z[:, k], log_s, ls, method="exact", log_lambda=ll).nll for k in range(8))
        loss.backward()
        return loss
    opt.step(closure)
    assert abs(math.exp(float(ll.detach())) - true) < 0.15 * true


def test_ldsc_lambda_adds_to_intercept():
    """LDSC parity: E[z^2] gains + lambda, the same as sigma (not separately identifiable)."""
    R, core, sl, z, log_s, ls, _ = case("fullrank", 600, 0.0)
    lam = 0.25
    a = ldsc_loss(sl, z, log_s, ls, s_bar=1.0, log_lambda=torch.tensor(math.log(lam), dtype=torch.float64))
    b = ldsc_loss(sl, z, log_s, torch.log(ls.exp() + lam), s_bar=1.0)
    assert torch.allclose(a.expected_chi2, b.expected_chi2)


@pytest.mark.parametrize("kind,m", [("lowrank", 900), ("fullrank", 600)])
def test_truncate_keeps_leading_eigenpairs(kind, m):
    """truncate(q) keeps the fewest largest eigenvalues reaching q of tr(R_CC); at q = 1 the NLL is unchanged
    (the same slice in another basis), and with lambda the dropped directions move to the null space."""
    R, core, sl, z, log_s, ls, ll = case(kind, m, math.log(0.1))
    lam = np.sort(np.linalg.eigvalsh(R[np.ix_(core, core)]))[::-1]
    tr = sl.truncate(0.9)
    want = int(np.searchsorted(np.cumsum(lam) / core.sum(), 0.9)) + 1
    assert tr.rank == want and tr.n == sl.n and tr.m == sl.m
    assert abs(tr.logdet_R - float(np.log(lam[:want]).sum())) < 1e-6 * abs(tr.logdet_R) + 1e-6
    same = sl.truncate(1.0)
    for lg in (None, ll):
        a = marginal_nll(sl, z, log_s, ls, method="exact", log_lambda=lg).nll
        b = marginal_nll(same, z, log_s, ls, method="exact", log_lambda=lg).nll
        assert abs(float(a - b)) < 1e-9 * abs(float(a))
    # with lambda, truncation changes only which directions the range part models: all n z's are scored
    ref = brute_nll(R, core, z, log_s, ls, ll)
    out = marginal_nll(tr, z, log_s, ls, method="exact", log_lambda=ll)
    assert out.null_space is not None and math.isfinite(float(out.nll)) and float(out.nll) != float(ref)
