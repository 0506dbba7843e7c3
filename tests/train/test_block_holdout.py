"""A single-chromosome dataset: ``--holdout-chroms auto`` falls back to block hold-out, so the run gets
finite held-out metrics; buffers are neither trained on nor scored; evaluate.py reproduces the split."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from deepwas_dist.data.reader import Dataset
from deepwas_dist.train.holdout import block_split
from deepwas_dist.train.plan import make_plan, slice_keys

from .conftest import base_config, run

TRAIT_1C = "one"


@pytest.fixture(scope="module")
def one_chrom_dataset(tmp_path_factory) -> str:
    """One simulated chromosome of 10 Mb (500 people; 10 slices of 1 Mb cores, 500 kb flanks)."""
    from deepwas_dist.simulate.dataset import SimulationSpec, write_simulated_dataset
    from deepwas_dist.simulate.traits import TraitSpec

    url = str(tmp_path_factory.mktemp("one-chrom") / "sim")
    spec = SimulationSpec(n_individuals=500, chroms=(1,), length_mb=10.0, seed=2, n_tracks=0, n_binary=4,
                          n_continuous=2, traits=(TraitSpec(TRAIT_1C, h2=0.3, N=30_000, truth="linear"),),
                          core_kb=1000.0, bandwidth_kb=500.0)
    write_simulated_dataset(url, spec, log=lambda s: None)
    return url


def test_plan_excludes_buffers_from_training_and_scoring(one_chrom_dataset):
    ds = Dataset.open(one_chrom_dataset)
    keys = slice_keys(ds)
    assert len(keys) == 10
    cfg = base_config(one_chrom_dataset, "unused", "plan-only", holdout_chroms="auto", epochs=1)
    plan, split = make_plan(cfg, ds, [TRAIT_1C])
    assert split == block_split(keys, 1)               # 10 slices // 16 -> one run
    assert split.heldout_keys == [(1, 7), (1, 8), (1, 9)] and split.buffer_keys == [(1, 6)]
    assert plan.heldout_keys == split.heldout_keys and plan.buffer_keys == [(1, 6)]
    assert set(plan.train_keys) == set(keys) - {(1, 6), (1, 7), (1, 8), (1, 9)}
    assert plan.h2_moment is not None and math.isfinite(plan.h2_moment[0])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_single_chromosome_run_has_finite_heldout_metrics(one_chrom_dataset, run_storage):
    """In this process (--workers 0): the hold-out is the driver's plan, the same with Ray workers."""
    from deepwas_dist.train.evaluation import evaluate_run_dir

    cfg = base_config(one_chrom_dataset, str(run_storage), "one-chrom", holdout_chroms="auto", workers=0,
                      model="linear", epochs=4, accumulation=2, method="exact")
    r = run(cfg)
    m = r.metrics["traits"][TRAIT_1C]
    print({k: v for k, v in m.items() if k != "enrichment"})
    assert r.metrics["holdout"]["mode"] == "blocks"
    assert r.metrics["holdout"]["heldout_keys"] == [[1, 7], [1, 8], [1, 9]]
    assert r.metrics["holdout"]["buffer_keys"] == [[1, 6]]
    assert m["heldout_slices"] == 3 and m["heldout_snps"] > 500
    for k in ("heldout_nll_per_snp", "null_nll_per_snp", "constant_nll_per_snp", "improvement_vs_null_per_snp",
              "improvement_vs_constant_per_snp", "h2"):
        assert np.isfinite(m[k]), k
    assert m["improvement_vs_null_per_snp"] > 0
    assert "nothing_held_out" not in [w["code"] for w in m["warnings"]]
    # held-out truth recovery is over the held-out slices' core SNPs (not a held-out chromosome)
    assert m["recovery_heldout"]["n"] == m["heldout_snps"]
    saved = json.loads((r.run_dir / "config.json").read_text())
    assert saved["holdout"]["heldout_keys"] == [[1, 7], [1, 8], [1, 9]]
    assert (r.run_dir / "summary.txt").read_text().splitlines()[0].endswith(
        "held out: 3 slices in 1 block(s) within chromosomes, 1 buffer slices excluded")

    # evaluate.py reuses the recorded split and reproduces the metrics
    again = evaluate_run_dir(str(r.run_dir), log=lambda s: None)
    assert again["holdout"] == r.metrics["holdout"]
    assert again["traits"][TRAIT_1C]["heldout_nll"] == pytest.approx(m["heldout_nll"], rel=1e-9)


def test_collapsed_fit_is_flagged_and_its_enrichment_masked(one_chrom_dataset, tmp_path):
    """A prior driven to f ~ 0 (bias -40): evaluation warns h2_collapsed and writes the enrichment table
    with NaN standard errors and p-values (no training needed: evaluate_model on a built network)."""
    import pandas as pd
    import torch

    from deepwas_dist.evaluate.report import evaluate_model
    from deepwas_dist.train.loop import build_model

    ds = Dataset.open(one_chrom_dataset)
    cfg = base_config(one_chrom_dataset, str(tmp_path), "collapsed", holdout_chroms="auto", model="linear",
                      method="exact")
    plan, split = make_plan(cfg, ds, [TRAIT_1C])
    net = build_model(cfg, plan)
    with torch.no_grad():
        net.bias.fill_(-40.0)
    net.eval()
    lines: list[str] = []
    metrics = evaluate_model(cfg, ds, plan, split, net, [], log=lines.append)
    m = metrics["traits"][TRAIT_1C]
    codes = [w["code"] for w in m["warnings"]]
    assert m["h2_collapsed"] and "h2_collapsed" in codes and "enrichment_masked" in codes
    assert np.isfinite(m["heldout_nll_per_snp"])
    tab = pd.read_csv(tmp_path / "collapsed" / "enrichment" / f"{TRAIT_1C}.results", sep="\t")
    assert len(tab) == len(ds.binary_features) > 0
    assert tab["Enrichment_p"].isna().all() and tab["Enrichment_std_error"].isna().all()
    assert tab["Enrichment"].notna().all()
    saved = json.loads((tmp_path / "collapsed" / "metrics.json").read_text())
    assert [w["code"] for w in saved["traits"][TRAIT_1C]["warnings"]] == codes
    assert any(f"warning [{TRAIT_1C}] h2_collapsed" in s for s in lines)
