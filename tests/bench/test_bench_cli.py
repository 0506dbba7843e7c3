"""The likelihood benchmark's command line, end to end on a small full-rank slice."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("brute_s", "exact_s", "iterative_s", "auto_method", "speedup_auto", "cg_iters_pc", "cg_iters_diag",
        "cg_iters_nopc", "iter_nll_rel_err", "iter_grad_cos")


def test_likelihood_benchmark_cli(tmp_path):
    out = tmp_path / "bench.json"
    res = subprocess.run([sys.executable, "-m", "deepwas_dist.bench", "likelihood", "--sizes", "300",
                          "--kinds", "fullrank", "--repeats", "1", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    header = next(line for line in res.stdout.splitlines() if "brute_s" in line).split()
    for col in ("kind", "m", "n", "rank", "brute_s", "exact_s", "iterative_s", "auto_method", "speedup_auto",
                "cg_iters_pc", "cg_iters_diag", "cg_iters_nopc", "iter_nll_rel_err", "iter_grad_cos",
                "exact_vs_brute_nll_rel"):
        assert col in header, (col, header)
    data = json.loads(out.read_text())
    assert data["benchmark"] == "likelihood" and "torch" in data["machine"]
    (row,) = data["rows"]
    for key in KEYS:
        assert key in row, key
    assert row["kind"] == "fullrank" and row["m"] == 300 and row["n"] == 100 and 0 < row["rank"] <= 100
    assert row["auto_method"] in ("exact", "iterative")
    assert row["auto_method"] == "exact"                          # rank <= 128: always exact
    assert min(row["brute_s"], row["exact_s"], row["iterative_s"]) > 0
    assert row["speedup_auto"] > 0 and np.isfinite(row["speedup_auto"])
    assert 1 <= row["cg_iters_pc"] <= row["cg_iters_diag"] <= row["cg_iters_nopc"]
    assert row["iter_grad_cos"] > 0.9
    assert row["iter_nll_rel_err"] < 0.05
    assert row["exact_vs_brute_nll_rel"] < 1e-6
    # the printed table row carries the same numbers
    line = next(line for line in res.stdout.splitlines() if line.split()[:2] == ["fullrank", "300"])
    assert f"{row['iter_grad_cos']:.4f}" in line.split()
    assert any(tok.rstrip("x") == f"{row['speedup_auto']:.1f}" for tok in line.split()), line


def test_mismatch_bias_runs_and_orders_families(tmp_path):
    """The KL-projection benchmark on a small case: the mismatch term raises the limit h2 above the
    no-mismatch model's (whose fit collapses towards 0 on a 300-person panel)."""
    from deepwas_dist.bench.mismatch_bias import FAMILIES, fit, slices
    data, M = slices(300, 3000, 3000.0, 0.4, chroms=(1,), length_mb=3.0)
    rows = {f: fit(data, f, M, 3000.0, 3000.0 * 0.4 / M) for f in FAMILIES}
    assert all(0 <= r["h2"] < 1 and r["sigma"] > 0 for r in rows.values())
    assert rows["lambda"]["h2"] > rows["off"]["h2"]


def test_mismatch_bias_thresholded_truth_and_annotated_prior():
    """With a thresholded truth the annotated families fit the annotation's enrichment; their h2 counts the
    annotation's SNPs at e times the rest, and with the band truth and sigma at 1 the annotated prior's
    limit recovers the truth's h2 and enrichment far better than a constant prior's shape allows."""
    from deepwas_dist.bench.mismatch_bias import ANNOT_FAMILIES, fit, slices, threshold_annotation
    a = threshold_annotation(10_000, np.random.default_rng(0))
    assert set(np.unique(a)) == {0.0, 1.0} and 0.07 < a.mean() < 0.11
    data, M = slices(1000, 4000, 4000.0, 0.4, chroms=(1,), length_mb=3.0, truth="band", enrichment=10.0)
    M_A = sum(d["core_A"] for d in data)
    assert 0.05 * M < M_A < 0.15 * M
    rows = {f: fit(data, f, M, 4000.0, 4000.0 * 0.4 / M, M_A) for f in ("sigma1",) + ANNOT_FAMILIES}
    ann = rows["sigma1_annot"]
    assert rows["sigma1"]["enrichment"] is None and ann["sigma"] == 1.0
    assert 5.0 < ann["enrichment"] < 20.0, ann
    assert abs(ann["h2"] - 0.4) < 0.1, ann
