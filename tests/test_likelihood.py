"""The slice NLL and its gradients against brute force on realistic LD (DESIGN.md section 1)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deepwas_dist import InputError, LDSlice, marginal_nll
from deepwas_dist.bench.brute import BruteForce, longdouble_nll
from deepwas_dist.likelihood import sample_core_z
from deepwas_dist.linalg.preconditioner import DEFAULT_RANK

from .ld_fixtures import middle_third_core, panel_ld

N_GWAS, H2, M_GENOME = 450_000, 0.5, 1_000_000


def realistic_prior(m: int, seed: int, spread: float = 1.0) -> torch.Tensor:
    g = np.random.default_rng(seed)
    return torch.tensor(math.log(N_GWAS * H2 / M_GENOME) + g.normal(0, spread, m) - spread ** 2 / 2)


def case(kind: str, m: int, seed: int = 0, log_sigma: float = 0.1):
    R = panel_ld(kind, m)
    core = middle_third_core(m)
    sl = LDSlice.from_ld(R, core)
    log_s = realistic_prior(m, seed)
    ls = torch.tensor(log_sigma, dtype=torch.float64)
    z = sample_core_z(sl, log_s, ls, torch.Generator().manual_seed(seed))
    return R, core, sl, z, log_s, ls


def nll_and_grads(fn, log_s, log_sigma):
    ls, lsg = log_s.clone().requires_grad_(True), log_sigma.clone().requires_grad_(True)
    nll = fn(ls, lsg)
    nll.backward()
    return float(nll.detach()), ls.grad.clone(), float(lsg.grad)


def rel(a, b):
    return abs(a - b) / abs(b)


# ------------------------------------------------------------------------------------------ exact
@pytest.mark.parametrize("kind,m", [("lowrank", 1200), ("fullrank", 900)])
def test_exact_nll_matches_extended_precision_reference(kind, m):
    """Exact NLL within 1e-8 relative of the brute-force NLL computed in 80-bit arithmetic.

    (The float64 brute force is itself only ~1e-7 accurate on rank-deficient panel LD: its
    projected Sigma_C has condition number ~1e6; the whitened K is well conditioned.)"""
    R, core, sl, z, log_s, ls = case(kind, m)
    ref = longdouble_nll(R, core, z.numpy(), log_s.numpy(), float(ls))
    out = marginal_nll(sl, z, log_s, ls, method="exact")
    assert rel(float(out.nll), ref) < 1e-8
    assert out.method == "exact" and out.cg_iters == 0


@pytest.mark.parametrize("kind,m", [("lowrank", 2000), ("fullrank", 1500)])
def test_exact_matches_brute_force_autograd(kind, m):
    """NLL and both gradients against dense Sigma_C + Cholesky + autograd (float64)."""
    R, core, sl, z, log_s, ls = case(kind, m)
    brute = BruteForce(R, core)
    nb, gb, gsb = nll_and_grads(lambda a, b: brute.nll(z, a, b), log_s, ls)
    ne, ge, gse = nll_and_grads(lambda a, b: marginal_nll(sl, z, a, b, method="exact").nll, log_s, ls)
    assert rel(ne, nb) < 1e-6            # brute force's own float64 error; 1e-8 vs the 80-bit reference above
    assert float((ge - gb).norm() / gb.norm()) < 1e-6
    assert float((ge - gb).abs().max() / gb.abs().max()) < 1e-6
    assert rel(gse, gsb) < 1e-6


def test_exact_matches_brute_force_to_1e8_when_well_conditioned():
    """With the eigenvalue threshold at 1e-3 the float64 brute force is accurate, and agrees to 1e-8."""
    R = panel_ld("fullrank", 900)
    core = middle_third_core(900)
    sl = LDSlice.from_ld(R, core, eig_threshold=1e-3)
    log_s, ls = realistic_prior(900, 1), torch.tensor(0.0, dtype=torch.float64)
    z = sample_core_z(sl, log_s, ls, torch.Generator().manual_seed(1))
    brute = BruteForce(R, core, eig_threshold=1e-3)
    nb, gb, gsb = nll_and_grads(lambda a, b: brute.nll(z, a, b), log_s, ls)
    ne, ge, gse = nll_and_grads(lambda a, b: marginal_nll(sl, z, a, b, method="exact").nll, log_s, ls)
    assert rel(ne, nb) < 1e-8
    assert float((ge - gb).norm() / gb.norm()) < 1e-8
    assert rel(gse, gsb) < 1e-8


def test_nll_parts_add_up():
    R, core, sl, z, log_s, ls = case("fullrank", 900)
    out = marginal_nll(sl, z, log_s, ls, method="exact")
    total = 0.5 * (float(out.logdet_K) + float(out.quad) + out.logdet_R + out.rank * math.log(2 * math.pi))
    assert abs(total - float(out.nll)) < 1e-9 * abs(total)
    assert out.rank == sl.rank and out.n_core == sl.n


# --------------------------------------------------------------------------------------- iterative
@pytest.mark.parametrize("kind,m", [("lowrank", 2000), ("fullrank", 1500)])
def test_iterative_accuracy_at_default_settings(kind, m):
    """NLL within 1e-2 relative and gradient cosine >= 0.99 for every one of 5 probe seeds."""
    R, core, sl, z, log_s, ls = case(kind, m)
    ne, ge, gse = nll_and_grads(lambda a, b: marginal_nll(sl, z, a, b, method="exact").nll, log_s, ls)
    for seed in range(5):
        gen = torch.Generator().manual_seed(seed)
        ni, gi, gsi = nll_and_grads(
            lambda a, b: marginal_nll(sl, z, a, b, method="iterative", generator=gen).nll, log_s, ls)
        assert rel(ni, ne) < 1e-2
        g_full_i, g_full_e = torch.cat([gi, torch.tensor([gsi])]), torch.cat([ge, torch.tensor([gse])])
        assert float(torch.nn.functional.cosine_similarity(g_full_i, g_full_e, dim=0)) >= 0.99


def mean_squared_errors(kind: str, m: int, seed0: int, settings: list[dict]) -> list[tuple[float, float]]:
    """Mean squared NLL and gradient (log s) errors of the iterative path against exact over 8 probe
    seeds, for each dict of ``marginal_nll`` settings."""
    R, core, sl, z, log_s, ls = case(kind, m)
    ne, ge, _ = nll_and_grads(lambda a, b: marginal_nll(sl, z, a, b, method="exact").nll, log_s, ls)
    out = []
    for kw in settings:
        e_nll, e_grad = [], []
        for seed in range(8):
            gen = torch.Generator().manual_seed(seed0 + seed)
            ni, gi, _ = nll_and_grads(lambda a, b: marginal_nll(sl, z, a, b, method="iterative", generator=gen,
                                                                **kw).nll, log_s, ls)
            e_nll.append((ni - ne) ** 2)
            e_grad.append(float((gi - ge).square().sum()))
        out.append((float(np.mean(e_nll)), float(np.mean(e_grad))))
    return out


def test_more_probes_give_tighter_estimates():
    """Mean squared NLL and gradient errors over 8 seeds shrink going from 4 to 64 probes."""
    few, many = mean_squared_errors("lowrank", 1500, 100, [{"num_probes": 4}, {"num_probes": 64}])
    assert many[0] < few[0] / 3      # variance ~ 1/t: expect ~16x
    assert many[1] < few[1] / 3


def test_iterative_full_float64_matches_mixed_precision():
    R, core, sl, z, log_s, ls = case("fullrank", 1500)
    a = marginal_nll(sl, z, log_s, ls, method="iterative", generator=torch.Generator().manual_seed(0))
    b = marginal_nll(sl, z, log_s, ls, method="iterative", mixed_precision=False,
                     generator=torch.Generator().manual_seed(0))
    assert rel(float(a.nll), float(b.nll)) < 1e-6


@pytest.mark.parametrize("kind,m", [("lowrank", 3000), ("fullrank", 1500)])
def test_preconditioner_at_least_halves_cg_iterations(kind, m):
    """Measured 6 vs 18 (1000G) and 5 vs 11 (msprime), the same for every one of 10 probe seeds."""
    R, core, sl, z, log_s, ls = case(kind, m)

    def iters(**kw) -> int:
        return marginal_nll(sl, z, log_s, ls, method="iterative", generator=torch.Generator().manual_seed(0),
                            **kw).cg_iters

    with_pc, diag_only, without = iters(), iters(precond_rank=0), iters(precondition=False)
    assert with_pc * 2 <= without, (with_pc, without)
    assert with_pc < diag_only, (with_pc, diag_only)


def test_low_rank_preconditioner_tightens_the_estimates():
    """Mean squared NLL and gradient errors over 8 seeds: the default preconditioner (diagonal plus the
    top SNPs) against the diagonal alone, both with the trace control variate."""
    diag, full = mean_squared_errors("fullrank", 1500, 200, [{"precond_rank": 0}, {"precond_rank": DEFAULT_RANK}])
    assert full[1] < diag[1] / 3, (full, diag)
    assert full[0] < diag[0] / 3, (full, diag)


def test_cg_failure_falls_back_to_exact_with_warning():
    R, core, sl, z, log_s, ls = case("fullrank", 900)
    exact = marginal_nll(sl, z, log_s, ls, method="exact")
    with pytest.warns(RuntimeWarning, match="CG did not reach tolerance"):
        out = marginal_nll(sl, z, log_s, ls, method="iterative", max_iters=2)
    assert out.method == "exact (fallback)"
    assert float(out.nll) == pytest.approx(float(exact.nll), rel=1e-12)


def test_auto_picks_exact_for_small_rank_and_reports_it():
    R, core, sl, z, log_s, ls = case("fullrank", 300)
    assert marginal_nll(sl, z, log_s, ls, method="auto").method == "exact"


# ------------------------------------------------------------------------------------------ batched
@pytest.mark.parametrize("method", ["exact", "iterative"])
def test_batched_traits_equal_single_trait_calls(method):
    R, core, sl, z, log_s, ls = case("fullrank", 900)
    g = torch.Generator().manual_seed(5)
    Zb = torch.stack([z, -0.5 * z, sample_core_z(sl, log_s, ls, g)], dim=1)
    Sb = torch.stack([log_s, log_s - 1.0, log_s + 0.5], dim=1).requires_grad_(True)
    Lb = torch.tensor([0.1, 0.0, 0.3], dtype=torch.float64, requires_grad=True)
    out = marginal_nll(sl, Zb, Sb, Lb, method=method, generator=torch.Generator().manual_seed(9))
    assert out.nll.shape == (3,)
    out.nll.sum().backward()
    for t in range(3):
        s1 = Sb[:, t].detach().clone().requires_grad_(True)
        l1 = Lb[t].detach().clone().requires_grad_(True)
        o1 = marginal_nll(sl, Zb[:, t], s1, l1, method=method, generator=torch.Generator().manual_seed(9))
        o1.nll.backward()
        tol = 1e-10 if method == "exact" else 1e-6     # iterative: float32 products sum in another order
        assert float(o1.nll.detach()) == pytest.approx(float(out.nll[t].detach()), rel=tol)
        scale = float(s1.grad.abs().max())
        assert float((s1.grad - Sb.grad[:, t]).abs().max()) < tol * 10 * scale
        assert float(l1.grad) == pytest.approx(float(Lb.grad[t]), rel=tol * 10)


def test_float32_slice_runs_and_is_close():
    R, core, sl, z, log_s, ls = case("fullrank", 900)
    sl32 = sl.to(dtype=torch.float32)
    a = marginal_nll(sl, z, log_s, ls, method="exact")
    b = marginal_nll(sl32, z.float(), log_s.float(), ls.float(), method="exact")
    assert b.nll.dtype == torch.float32
    assert rel(float(b.nll), float(a.nll)) < 1e-4


# ------------------------------------------------------------------------------------------ bad input
def test_bad_inputs_raise_clear_errors():
    R, core, sl, z, log_s, ls = case("fullrank", 300)
    with pytest.raises(InputError, match="core SNPs"):
        marginal_nll(sl, z[:-1], log_s, ls)
    with pytest.raises(InputError, match="log_s must have shape"):
        marginal_nll(sl, z, log_s[:-1], ls)
    with pytest.raises(InputError, match="log_sigma must have shape"):
        marginal_nll(sl, z, log_s, torch.zeros(2, dtype=torch.float64))
    bad = z.clone()
    bad[7] = float("nan")
    with pytest.raises(InputError, match=r"z\[7\] is nan"):
        marginal_nll(sl, bad, log_s, ls)
    bad[7] = float("inf")
    with pytest.raises(InputError, match=r"z\[7\] is inf"):
        marginal_nll(sl, bad, log_s, ls)
    with pytest.raises(InputError, match="method must be one of"):
        marginal_nll(sl, z, log_s, ls, method="cholesky")
