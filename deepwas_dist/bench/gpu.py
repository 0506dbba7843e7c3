"""GPU readiness: the likelihood on CUDA in float64 / float32 / TF32, and one training epoch at UKB slice size.

    python -m deepwas_dist.bench gpu [--device cuda|cpu] [--small] [--json docs/results/bench_gpu.json]

(a) Likelihood: per slice size m (synthetic low-rank plus banded LD, core = middle third, full rank), NLL +
    gradient by brute force (dense Sigma_C), exact (Cholesky) and iterative (PCG + SLQ) in float64,
    float32 and TF32 (float32 with ``torch.backends.cuda.matmul.allow_tf32``): time per NLL + gradient
    (median, synchronised), NLL relative error and gradient cosine against float64 exact.
(b) Training: slices of m ~ 12,000 SNPs with full-rank r ~ 4,000 built in GPU memory, held in a resident
    :class:`~deepwas_dist.data.cache.SliceCache`, trained by the real worker loop
    (:func:`~deepwas_dist.train.loop.run_worker`, one process): SNPs/s per epoch (the first pays for
    warm-up and each slice's one-off core-basis rotation) and peak GPU memory
    (``torch.cuda.max_memory_allocated``, reset after the slices are built).

Without CUDA it prints one line and exits 0, unless ``--device cpu``: with ``--small`` that runs the same
code paths at small sizes on the CPU (what the tests run). TF32 has no effect on the CPU.
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..errors import InputError
from ..likelihood import marginal_nll, sample_core_z
from ..linalg.cost import choose_method
from ..linalg.preconditioner import DEFAULT_RANK
from ..slice import LDSlice
from .brute import BruteForce
from .likelihood import H2, M_GENOME, N_GWAS, _grads, format_table, prior_log_s, time_call
from .panels import middle_third_core, synthetic_ld

NO_CUDA = "bench gpu: no CUDA device available (torch.cuda.is_available() is False); nothing run " \
          "(--device cpu --small runs the same code paths on the CPU)"
PRECISIONS = ("float64", "float32", "tf32")
METHODS = ("brute", "exact", "iterative")


@dataclass(frozen=True)
class Sizes:
    lk_sizes: tuple[int, ...]     # likelihood slice sizes m (core: the middle third)
    repeats: int                  # timed repeats per cell (median)
    probes: int                   # probes of the iterative path
    train_m: int                  # training slice size (r = m / 3, full rank)
    train_slices: int
    epochs: int
    features: int


FULL = Sizes(lk_sizes=(4000, 12000), repeats=3, probes=16, train_m=12000, train_slices=8, epochs=2, features=64)
SMALL = Sizes(lk_sizes=(450,), repeats=1, probes=8, train_m=450, train_slices=4, epochs=1, features=8)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def _tf32(on: bool):
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = on
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


def likelihood_rows(m: int, device: torch.device, repeats: int, probes: int, seed: int = 0) -> list[dict]:
    """One row per (precision, method) on one synthetic slice of ``m`` SNPs."""
    R = synthetic_ld(m, seed=seed, device=device)
    core = middle_third_core(m)
    sl64 = LDSlice.from_ld(R, core)                            # factored on R's device
    brute64 = BruteForce(R, core)
    del R
    log_s = prior_log_s(m, seed).to(device)
    log_sigma = torch.tensor(0.0, dtype=torch.float64, device=device)
    z = sample_core_z(sl64, log_s, log_sigma, torch.Generator().manual_seed(seed))
    gen = torch.Generator().manual_seed(seed + 1)
    last: dict = {}

    def lik(sl: LDSlice, method: str) -> Callable:
        def fn(ls, lsg):
            gen.manual_seed(seed + 1)                          # the same probes every call
            out = marginal_nll(sl, z, ls, lsg, method=method, num_probes=probes, generator=gen)
            last.update(method=out.method, cg_iters=out.cg_iters)
            return out.nll
        return fn

    ref_nll, ref_g, _ = _grads(lik(sl64, "exact"), log_s, log_sigma)
    rows = []
    for prec in PRECISIONS:
        dt = torch.float64 if prec == "float64" else torch.float32
        sl = sl64 if dt == torch.float64 else sl64.to(dtype=dt)
        brute = brute64.to(dt)
        fns = {"brute": lambda ls, lsg, b=brute: b.nll(z, ls, lsg), "exact": lik(sl, "exact"),
               "iterative": lik(sl, "iterative")}
        for method in METHODS:
            row = {"m": m, "n": sl.n, "rank": sl.rank, "precision": prec, "method": method}
            last.clear()
            with _tf32(prec == "tf32"), warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                try:
                    nll, g, _ = _grads(fns[method], log_s, log_sigma)
                    row["seconds"] = time_call(lambda f=fns[method]: (_grads(f, log_s, log_sigma), _sync(device)),
                                               repeats)
                except (InputError, RuntimeError) as e:          # e.g. float32 Cholesky of an ill-conditioned K
                    row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
                    rows.append(row)
                    continue
            row["nll_rel_err"] = abs(nll - ref_nll) / abs(ref_nll)
            row["grad_cos"] = float(torch.nn.functional.cosine_similarity(g.to(ref_g.dtype), ref_g, dim=0))
            if method != "brute":
                row["used"], row["cg_iters"] = last.get("method"), last.get("cg_iters")
            rows.append(row)
    return rows


def synthetic_batches(sizes: Sizes, device: torch.device, seed: int = 0):
    """Training slices built in memory on ``device``: synthetic LD, random features, z drawn from the model."""
    from ..data.reader import SliceBatch
    out = []
    m = sizes.train_m
    core = middle_third_core(m)
    for i in range(sizes.train_slices):
        R = synthetic_ld(m, seed=seed + 100 + i, device=device)
        sl = LDSlice.from_ld(R, core)
        del R
        g = torch.Generator().manual_seed(seed + 200 + i)
        z = sample_core_z(sl, prior_log_s(m, seed + 300 + i).to(device), 0.0, g)
        feats = torch.randn(m, sizes.features, generator=g).to(device)
        out.append(SliceBatch(chrom=1, slice_id=i, snp_index=np.arange(i * m, (i + 1) * m), bp=np.arange(m) * 100,
                              snp_ids=np.array([f"rs{i}_{j}" for j in range(m)]), ld=sl, features=feats,
                              tracks=None, z=z[:, None], N=torch.full((sl.n, 1), float(N_GWAS), dtype=sl.dtype,
                                                                       device=device),
                              f_true=None, traits=["synthetic"]))
    return out


def training_rows(sizes: Sizes, device: torch.device, log: Callable[[str], None] = print) -> list[dict]:
    """One row per epoch of the real worker loop on resident synthetic slices."""
    from ..data.cache import SliceCache
    from ..train.config import TrainConfig
    from ..train.loop import run_worker
    from ..train.runplan import RunPlan
    from ..train.session import LocalSession

    t0 = time.perf_counter()
    batches = synthetic_batches(sizes, device)
    _sync(device)
    build_s = time.perf_counter() - t0
    log(f"  training: {len(batches)} slices of m={sizes.train_m} built in {build_s:.0f} s")
    cache = SliceCache(None, ["synthetic"], bandwidth_kb=None, device=device, max_bytes=float("inf"))
    for b in batches:
        cache.put((b.chrom, b.slice_id), b)
    keys = [(b.chrom, b.slice_id) for b in batches]
    b0 = batches[0]
    plan = RunPlan(data_url="memory://bench-gpu", storage_options={}, traits=["synthetic"], train_keys=keys,
                   train_costs=[1.0] * len(keys), train_ncore=[b.n for b in batches], heldout_keys=[],
                   heldout_costs=[], log_N=[math.log(N_GWAS)], init_log_f=[math.log(H2 / M_GENOME)],
                   n_features=sizes.features, tracks_shape=None)
    cfg = TrainConfig(epochs=sizes.epochs, eval_every=0, log_every_epoch=False, num_probes=16)
    session = LocalSession(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            _, history = run_worker(cfg, plan, session, cache=cache)
    finally:
        session.close()
    peak = torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == "cuda" else None
    auto = choose_method(b0.m, b0.ld.rank, 1, cfg.num_probes, DEFAULT_RANK, mismatch=True)
    rows = []
    for h in history:
        rows.append({"epoch": h["epoch"], "m": b0.m, "rank": b0.ld.rank, "slices": len(batches),
                     "method": auto, "snps_per_s": h["snps_per_s"], "slices_per_s": h["slices_per_s"],
                     "seconds": h["seconds"], "slice_reads": h["slice_reads"],
                     "slices_mib": cache.nbytes / 2 ** 20, "peak_gpu_mib": peak, "build_s": build_s})
    return rows


LK_COLUMNS = [("m", "{}"), ("n", "{}"), ("rank", "{}"), ("precision", "{}"), ("method", "{}"), ("used", "{}"),
              ("seconds", "{:.4f}"), ("nll_rel_err", "{:.1e}"), ("grad_cos", "{:.6f}"), ("cg_iters", "{}"),
              ("error", "{}")]
TR_COLUMNS = [("epoch", "{}"), ("m", "{}"), ("rank", "{}"), ("slices", "{}"), ("method", "{}"),
              ("snps_per_s", "{:,.0f}"), ("slices_per_s", "{:.2f}"), ("seconds", "{:.2f}"),
              ("slices_mib", "{:,.0f}"), ("peak_gpu_mib", "{:,.0f}")]


def run(device: str = "cuda", small: bool = False, log: Callable[[str], None] = print) -> dict | None:
    """Both parts; None (after printing one line) when CUDA is asked for and absent."""
    if device == "cuda" and not torch.cuda.is_available():
        log(NO_CUDA)
        return None
    dev = torch.device(device)
    sizes = SMALL if small else FULL
    t0 = time.perf_counter()
    lk = []
    for m in sizes.lk_sizes:
        t = time.perf_counter()
        lk += likelihood_rows(m, dev, sizes.repeats, sizes.probes)
        log(f"  likelihood m={m}: {time.perf_counter() - t:.0f} s")
    tr = training_rows(sizes, dev, log)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    return {"device": name, "small": small, "wall_s": time.perf_counter() - t0, "likelihood": lk, "training": tr}


def format_report(res: dict) -> str:
    return "\n".join([f"device: {res['device']}{' (small sizes)' if res['small'] else ''}",
                      "likelihood (NLL + gradient; errors against float64 exact):",
                      format_table(res["likelihood"], LK_COLUMNS), "", "training (one process, resident slices):",
                      format_table(res["training"], TR_COLUMNS), f"total {res['wall_s']:.0f} s"])
