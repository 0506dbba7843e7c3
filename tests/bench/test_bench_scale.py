"""``python -m deepwas_dist.bench scale``: a tiny genome end to end, the cost model's fit against brute force,
the projection's arithmetic, the stage meter, the dataset cache and the README splice."""
from __future__ import annotations

import json
import math
import mmap
import os

import numpy as np
import pytest

from deepwas_dist.bench.__main__ import main
from deepwas_dist.bench.cost_model import (
    CostFit,
    Geometry,
    SliceTiming,
    allreduce_per_step,
    brute_force_nnls,
    design,
    fit_cost,
    project_epoch,
)
from deepwas_dist.bench.scale_data import ScaleDataSpec, build_or_reuse, parse_size, size_label
from deepwas_dist.bench.scale_report import BEGIN, END, update_readme
from deepwas_dist.bench.stages import measure, reset_peak
from deepwas_dist.errors import InputError

STAGES = ["simulate", "plan", "epoch 1", "later epochs (mean)", "evaluation", "outputs"]
TINY = ["scale", "--sizes", "2000", "--chroms", "2", "--panel", "200", "--gwas", "400", "--epochs", "2",
        "--slice-sample", "3", "--synthetic", "300", "--no-scaling"]


@pytest.mark.timeout(600)
def test_tiny_genome_end_to_end(tmp_path):
    """2 chromosomes, ~2,000 SNPs: every stage has positive wall, CPU and peak memory; epoch 1 reads the
    slices and later epochs read nothing (the cache holds the shard); unmeasured sizes are projected;
    a second build of the same spec is a cache hit."""
    out = tmp_path / "scale.json"
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{BEGIN}\nold\n{END}\ntail\n")
    assert main([*TINY, "--cache", str(tmp_path / "cache"), "--json", str(out), "--readme", str(readme)]) == 0
    res = json.loads(out.read_text())
    assert res["benchmark"] == "scale" and len(res["rows"]) == 1
    row = res["rows"][0]
    assert [s["name"] for s in row["stages"]] == STAGES
    for s in row["stages"]:
        assert s["wall_s"] > 0 and s["cpu_s"] > 0 and s["peak_rss_bytes"] > 0, s
    assert 1500 < row["snps"] < 2600 and row["slices"] >= row["train_slices"] > 0
    assert row["dataset_bytes"] > 0 and not row["cached"]
    assert row["bytes_read_first_epoch"] > 0 and row["bytes_read_per_later_epoch"] == 0
    assert [e["slice_reads"] for e in row["epochs"]] == [row["train_slices"], 0]
    assert row["snps_per_s_per_worker"] > 0
    assert res["load"]["start"]["cores"] >= 1 and "loadavg_1m" in res["load"]["end"]
    cm = res["cost_model"]
    assert cm["n"] == len(cm["timings"]) == 3 * 3 + 3    # 3 slices x T in (1, 2, 3), 1 synthetic x 3
    assert all(c >= 0 for c in cm["coef"])
    proj = res["projections"]
    assert all(p["projected"] for p in proj)
    assert {(p["snps"], p["workers"]) for p in proj} >= {(1_100_000, 8), (1_100_000, 32), (10_000_000, 8),
                                                         (10_000_000, 32), (100_000, 1), (1_000_000, 1)}
    wide = [p for p in proj if p["rank_cap"] == 2000]                 # a larger panel's rank: --project-ranks
    assert len(wide) == 6 and all(p["r"] <= min(p["m"], 2000) for p in wide)
    assert max(p["r"] for p in wide) > max(p["r"] for p in proj if p["rank_cap"] != 2000)
    text = readme.read_text()
    assert "old" not in text and "| later epochs (mean) |" in text and text.endswith(f"{END}\ntail\n")
    again = build_or_reuse(ScaleDataSpec(2000, n_chroms=2, n_panel=200, n_gwas=400), tmp_path / "cache",
                           log=lambda *_: None)
    assert again.cached and again.simulate.wall_s == row["stages"][0]["wall_s"]


def _timings(coef: dict, noise: float = 0.0, seed: int = 0) -> list[SliceTiming]:
    g = np.random.default_rng(seed)
    out = []
    for _ in range(60):
        m = int(g.integers(200, 5000))
        r = int(g.integers(50, min(m, 2000) + 1))
        T = int(g.integers(1, 4))
        t = float(sum(c * design(np.array([m]), np.array([r]), np.array([T]), (k,))[0, 0] for k, c in coef.items()))
        out.append(SliceTiming(m, r, T, t * (1 + noise * g.standard_normal())))
    return out


def test_cost_model_recovers_known_coefficients():
    true = {"1": 2e-3, "T": 1e-3, "m*r": 1e-8, "T*m*r": 3e-8, "T*m*r^2": 2e-11, "T*r^3": 5e-11}
    fit = fit_cost(_timings(true))
    np.testing.assert_allclose(fit.coef, [true[t] for t in fit.terms], rtol=1e-6)
    assert fit.r2 == pytest.approx(1.0) and fit.max_abs_rel_residual < 1e-6


def test_cost_model_is_the_brute_force_nonnegative_least_squares():
    """Noisy timings and a true model with a zero term: fit_cost equals the enumeration over column
    subsets of the same relative-error system, and no coefficient is negative."""
    ts = _timings({"1": 1e-3, "T*m*r": 4e-8, "T*m*r^2": 1e-11}, noise=0.3, seed=3)
    fit = fit_cost(ts)
    m, r, T, y = (np.array([getattr(t, k) for t in ts], dtype=float) for k in ("m", "r", "traits", "seconds"))
    A = design(m, r, T, fit.terms)
    scale = A.max(axis=0)
    brute = brute_force_nnls(A / scale / y[:, None], np.ones_like(y)) / scale
    np.testing.assert_allclose(fit.coef, brute, rtol=1e-6, atol=1e-15)
    assert min(fit.coef) >= 0 and 0 < fit.r2 < 1
    pred = fit.predict(m, r, T)
    assert fit.median_abs_rel_residual == pytest.approx(float(np.median(np.abs(pred - y) / y)))


def test_projection_arithmetic():
    fit = CostFit(("1", "T*m*r"), (0.01, 1e-6), 1.0, 0.0, 0.0, 10)
    geo = Geometry(core_kb=1000.0, flank_kb=500.0, rank_cap=400)
    n, m, r = geo.slices(1_000_000, 2000.0)                     # 500 SNPs/Mb: 2 Mb windows of 1,000 SNPs
    assert (n, m, r) == (2000, 1000, 400)
    p = project_epoch(fit, geo, 1_000_000, 2000.0, workers=8, traits=2, overhead=1.5, allreduce_step_s=0.004,
                      accumulation=2)
    per = 0.01 + 1e-6 * 2 * 1000 * 400                           # 0.81 s per slice
    assert p.slice_s == pytest.approx(per)
    assert p.steps == math.ceil(2000 / 16) == 125
    assert p.compute_s == pytest.approx(1.5 * 2000 * per / 8)
    assert p.allreduce_s == pytest.approx(125 * 0.004 * 3)        # log2(8) = 3
    assert p.epoch_s == pytest.approx(p.compute_s + p.allreduce_s) and p.projected
    one = project_epoch(fit, geo, 1_000_000, 2000.0, workers=1, traits=2, overhead=1.5, allreduce_step_s=0.004,
                        accumulation=2)
    assert one.allreduce_s == 0 and one.epoch_s == pytest.approx(1.5 * 2000 * per)
    assert Geometry(1000.0, 500.0, 2000).slices(1_000_000, 2000.0)[2] == 500      # r <= the core's 500 SNPs
    assert allreduce_per_step(10.0, 6.0, 50) == pytest.approx(0.02)
    assert allreduce_per_step(10.0, 4.0, 50) == 0.0


def test_stage_peak_is_the_stage_own():
    if not reset_peak():
        pytest.skip("no /proc/self/clear_refs: peaks are process-wide here")
    with measure("big") as big:
        # 64 MiB of fresh pages, touched: an anonymous map, not malloc, which can serve it from heap memory that
        # an earlier test freed and that is still resident (then the RSS does not move)
        buf = mmap.mmap(-1, 64 * 2 ** 20)
        np.frombuffer(buf, dtype=np.uint8)[:] = 1
        buf.close()
    with measure("small") as small:
        pass
    assert big.cost.peak_scope == small.cost.peak_scope == "stage"
    assert big.cost.peak_rss_bytes - small.cost.peak_rss_bytes > 48 * 2 ** 20
    assert big.cost.wall_s > 0 and big.cost.cpu_s >= 0


def test_sizes_and_cache_key():
    assert [parse_size(s) for s in ("100k", "300K", "1m", "2500", "1.1m")] == [100_000, 300_000, 1_000_000, 2500,
                                                                                 1_100_000]
    assert [size_label(n) for n in (100_000, 1_000_000, 1_100_000, 2500)] == ["100k", "1m", "1.1m", "2500"]
    with pytest.raises(InputError):
        parse_size("lots")
    a, b = ScaleDataSpec(100_000), ScaleDataSpec(100_000, n_gwas=3000)
    assert a.key() == ScaleDataSpec(100_000).key() and a.key() != b.key()
    assert a.simulation().length_mb * 22 * 367 == pytest.approx(100_000, rel=1e-3)


def test_readme_needs_its_markers(tmp_path):
    p = tmp_path / "README.md"
    p.write_text("no markers\n")
    with pytest.raises(InputError):
        update_readme(p, "x")


def test_a_failed_scaling_run_is_reported_not_fatal(monkeypatch):
    from deepwas_dist.bench import scale

    def no_ray(*args, **kwargs):
        raise RuntimeError("The current node timed out during startup")

    monkeypatch.setattr(scale, "run_training_bench", no_ray)
    monkeypatch.delenv(scale.RAY_WAIT_VAR, raising=False)
    lines: list[str] = []
    assert scale.measure_scaling({"size": "2k", "dataset": "x"}, scale.ScaleSettings(), lines.append) is None
    assert "timed out" in lines[-1] and scale.RAY_WAIT_VAR not in os.environ


_GRANDCHILD = """
import os, sys, time
code = "import time\\nx = bytearray(200 * 2**20)\\nt = time.process_time()\\nwhile time.process_time() - t < 0.8: pass"
pid = os.posix_spawn(sys.executable, [sys.executable, "-c", code], os.environ)   # never waited for (reaped)
while open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":   # until it has finished
    time.sleep(0.05)
time.sleep(0.7)          # a zombie still shows its CPU time: let a 0.5 s sample see it, then exit unreaped
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_tree_counts_what_rusage_children_misses(tmp_path):
    """A grandchild (like a Ray worker: started and reaped by a process this one started) burns 0.8 s of
    CPU and touches 200 MiB: RUSAGE_CHILDREN alone misses it, the tree sampler counts it once."""
    import subprocess
    import sys
    for tree in (False, True):
        with measure("spawn", tree=tree) as st:
            subprocess.run([sys.executable, "-c", _GRANDCHILD], check=True)
        if tree:
            assert 0.7 < st.cost.cpu_s < 2.5 and st.cost.children_peak_rss_bytes > 200 * 2**20
        else:
            assert st.cost.cpu_s < 0.6             # the direct child's own start-up only
