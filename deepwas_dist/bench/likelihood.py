"""Benchmark of the slice NLL + gradient: brute force vs exact vs iterative vs auto (vs GPyTorch).

    python -m deepwas_dist.bench likelihood [--sizes 1000 2000 4000 6000 8000] [--kinds lowrank fullrank]
                                            [--repeats 3] [--json FILE]

For each LD kind and slice size m (core = middle third) it times NLL + gradient with every method
in the same process, side by side, and reports speed-ups against brute force, CG iterations with and
without the preconditioner (and with its diagonal part only), and the iterative path's worst accuracy
against exact over several probe seeds.
"""
from __future__ import annotations

import math
import statistics
import time
import warnings
from typing import Callable

import numpy as np
import torch

from ..likelihood import marginal_nll, sample_core_z
from ..linalg.cost import choose_method
from ..linalg.preconditioner import DEFAULT_RANK
from ..slice import LDSlice
from .brute import BruteForce
from .panels import fullrank_ld, lowrank_ld, middle_third_core

#: Probe seeds over which the iterative path's accuracy is measured (worst case reported).
ACCURACY_SEEDS = 5
#: A UK Biobank-like trait: N = 450,000, h2 = 0.5 spread over 1M SNPs, log-normal spread of f.
N_GWAS, H2, M_GENOME, LOG_SPREAD = 450_000, 0.5, 1_000_000, 1.0


def prior_log_s(m: int, seed: int) -> torch.Tensor:
    """log s = log(N f) with f log-normal around h2 / M (mean-preserving)."""
    g = np.random.default_rng(seed)
    log_f = math.log(H2 / M_GENOME) + g.normal(0.0, LOG_SPREAD, m) - 0.5 * LOG_SPREAD ** 2
    return torch.tensor(math.log(N_GWAS) + log_f)


def time_call(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn`` in seconds after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _grads(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], log_s: torch.Tensor,
           log_sigma: torch.Tensor) -> tuple[float, torch.Tensor, float]:
    ls, lsg = log_s.clone().requires_grad_(True), log_sigma.clone().requires_grad_(True)
    nll = fn(ls, lsg)
    nll.backward()
    return float(nll.detach()), ls.grad.detach().clone(), float(lsg.grad)


def bench_case(kind: str, R: np.ndarray, repeats: int, num_probes: int, seed: int = 0) -> dict:
    """All measurements for one LD matrix: returns one table row as a dict."""
    m = R.shape[0]
    core = middle_third_core(m)
    sl = LDSlice.from_ld(R, core)
    log_s, log_sigma = prior_log_s(m, seed), torch.tensor(0.0, dtype=torch.float64)
    z = sample_core_z(sl, log_s, log_sigma, torch.Generator().manual_seed(seed))
    brute = BruteForce(R, core)
    gen = torch.Generator().manual_seed(seed + 1)

    def run(method: str, precondition: bool = True):
        return lambda ls, lsg: marginal_nll(sl, z, ls, lsg, method=method, num_probes=num_probes,
                                            precondition=precondition, generator=gen).nll

    def timed(fn) -> float:
        return time_call(lambda: _grads(fn, log_s, log_sigma), repeats)

    row: dict = {"kind": kind, "m": m, "n": sl.n, "rank": sl.rank}
    brute_fn = lambda ls, lsg: brute.nll(z, ls, lsg)  # noqa: E731
    row["brute_s"] = timed(brute_fn)
    row["exact_s"] = timed(run("exact"))
    row["iterative_s"] = timed(run("iterative"))
    row["auto_method"] = choose_method(sl.m, sl.rank, 1, num_probes, DEFAULT_RANK)
    row["auto_s"] = row[f"{row['auto_method']}_s"]
    best = min(row["exact_s"], row["iterative_s"])
    row["auto_vs_best"] = row["auto_s"] / best
    for k in ("exact", "iterative", "auto"):
        row[f"speedup_{k}"] = row["brute_s"] / row[f"{k}_s"]
    with torch.no_grad():
        iters = lambda **kw: marginal_nll(sl, z, log_s, log_sigma, method="iterative",  # noqa: E731
                                          num_probes=num_probes, generator=gen, **kw).cg_iters
        row["cg_iters_pc"], row["cg_iters_diag"] = iters(), iters(precond_rank=0)
        row["cg_iters_nopc"] = iters(precondition=False)
    nll_b, g_b, gs_b = _grads(brute_fn, log_s, log_sigma)
    nll_e, g_e, gs_e = _grads(run("exact"), log_s, log_sigma)
    row["exact_vs_brute_nll_rel"] = abs(nll_e - nll_b) / abs(nll_b)
    errs, cosines, sigma_errs = [], [], []
    for probe_seed in range(ACCURACY_SEEDS):          # worst case over probe draws, not one lucky draw
        gen.manual_seed(1000 + probe_seed)
        nll_i, g_i, gs_i = _grads(run("iterative"), log_s, log_sigma)
        errs.append(abs(nll_i - nll_e) / abs(nll_e))
        cosines.append(float(torch.nn.functional.cosine_similarity(g_i, g_e, dim=0)))
        sigma_errs.append(abs(gs_i - gs_e) / max(abs(gs_e), 1e-12))
    row["iter_nll_rel_err"], row["iter_grad_cos"] = max(errs), min(cosines)
    row["iter_sigma_grad_rel"] = max(sigma_errs)
    gp = _gpytorch_fn(sl, z)
    if gp is not None:
        row["gpytorch_s"] = timed(gp)
    return row


def _gpytorch_fn(sl: LDSlice, z: torch.Tensor):
    """GPyTorch/linear_operator's inv_quad_logdet on the same K, if installed (else None)."""
    try:
        from linear_operator.operators import DiagLinearOperator, RootLinearOperator
    except ImportError:
        return None
    u = sl.whiten(z)
    const = 0.5 * (sl.logdet_R + sl.rank * math.log(2 * math.pi))

    def fn(ls: torch.Tensor, lsg: torch.Tensor) -> torch.Tensor:
        A = sl.Z * (0.5 * ls).exp()[:, None]                      # K = A^T A + sigma I
        K = RootLinearOperator(A.T) + DiagLinearOperator(lsg.exp().expand(sl.rank))
        quad, logdet = K.inv_quad_logdet(inv_quad_rhs=u[:, None], logdet=True)
        return 0.5 * (quad + logdet) + const

    return fn


COLUMNS = [("kind", "{}"), ("m", "{}"), ("n", "{}"), ("rank", "{}"), ("brute_s", "{:.3f}"), ("exact_s", "{:.3f}"),
           ("iterative_s", "{:.3f}"), ("auto_method", "{}"), ("speedup_exact", "{:.1f}x"),
           ("speedup_iterative", "{:.1f}x"), ("speedup_auto", "{:.1f}x"), ("auto_vs_best", "{:.2f}"),
           ("cg_iters_pc", "{}"), ("cg_iters_diag", "{}"), ("cg_iters_nopc", "{}"),
           ("iter_nll_rel_err", "{:.1e}"),
           ("iter_grad_cos", "{:.4f}"), ("exact_vs_brute_nll_rel", "{:.1e}"), ("gpytorch_s", "{:.3f}")]


def format_table(rows: list[dict], columns: list[tuple[str, str]] = COLUMNS) -> str:
    """Rows as an aligned text table (columns absent from every row are left out; a None cell is "-")."""
    cols = [(k, f) for k, f in columns if any(k in r for r in rows)]
    cells = [[k for k, _ in cols]] + [[f.format(r[k]) if r.get(k) is not None else "-" for k, f in cols]
                                      for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(line, widths)) for line in cells)


def run_benchmark(sizes: list[int], kinds: list[str], repeats: int = 3, num_probes: int = 16,
                  log: Callable[[str], None] = print) -> list[dict]:
    """Benchmark every (kind, size); returns the rows (also printed progressively through ``log``)."""
    rows = []
    makers = {"lowrank": lowrank_ld, "fullrank": fullrank_ld}
    for kind in kinds:
        for m in sizes:
            t0 = time.perf_counter()
            R = makers[kind](m)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                row = bench_case(kind, R, repeats, num_probes)
            log(f"  {kind} m={m}: LD built and timed in {time.perf_counter() - t0:.0f} s")
            rows.append(row)
    return rows
