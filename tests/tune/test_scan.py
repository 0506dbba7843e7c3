"""Ray Tune scan: ASHA stops trials early and the scan still finishes (no nested TorchTrainer, so no
placement group left behind: ray#54305), the per-trait table is produced, and resuming redoes nothing."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.simulate.dataset import SimulationSpec, write_simulated_dataset
from deepwas_dist.simulate.traits import TraitSpec
from deepwas_dist.tune.scan import ScanConfig, run_scan, split_chromosomes


@pytest.fixture(scope="module")
def two_trait_data(tmp_path_factory) -> str:
    url = str(tmp_path_factory.mktemp("tune-data") / "ds")
    spec = SimulationSpec(n_individuals=500, chroms=(1, 2, 3, 4), length_mb=2.0, seed=1, n_tracks=0,
                          traits=(TraitSpec("a", h2=0.3, N=30_000, truth="threshold"),
                                  TraitSpec("b", h2=0.2, N=20_000, truth="linear")),
                          core_kb=1000.0, bandwidth_kb=400.0,
                          # in-sample LD: this tests the scan's machinery (ASHA, resume, per-trait choice),
                          # which needs trials that differ clearly; out-of-sample, lr 1e-5 and 1e-2 score
                          # alike (LD mismatch: see tests/experiments and the README)
                          design="in-sample")
    write_simulated_dataset(url, spec, log=lambda s: None)
    return url


def test_split_is_disjoint(two_trait_data):
    from deepwas_dist.data.reader import Dataset
    train, val, test = split_chromosomes(Dataset.open(two_trait_data), "auto", "auto")
    assert (train, val, test) == ([1, 2], [3], [4])


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.timeout(600)
def test_scan_with_early_stopping_finishes_and_resumes(ray_session, two_trait_data, tmp_path):
    # 4 trials over 2 traits; the tiny learning rate makes two trials clearly worse, so ASHA (grace 1,
    # reduction 2, trials run one after another: deterministic) must stop at least one of them.
    space = {"size": {"grid": ["tiny", "small"]}, "lr": {"grid": [1e-5, 1e-2]}}
    sc = ScanConfig(data=two_trait_data, storage=str(tmp_path), name="scan", num_samples=1, epochs=4,
                    grace_period=1, reduction_factor=2, space=space, max_concurrent=1, sigma="learn")
    best = run_scan(sc, log=lambda s: None)
    res = pd.read_csv(tmp_path / "scan" / "results.csv")
    assert len(res) == 4
    assert (res["training_iteration"] < 4).sum() >= 1, "ASHA stopped no trial"
    assert (res["training_iteration"] == 4).sum() >= 1
    table = pd.read_csv(tmp_path / "scan" / "best_per_trait.csv")
    assert list(table["trait"]) == ["a", "b"]
    for col in ("val_nll_per_snp", "test_nll_per_snp", "val_improvement_per_snp", "lr", "size"):
        assert table[col].notna().all(), col
    # the chosen configurations are the finished, well-learning ones
    assert (table["lr"] == 1e-2).all()
    assert (table["val_improvement_per_snp"] > 0).all()
    # what run_scan returns is the table it wrote
    assert list(best["trait"]) == list(table["trait"])
    for col in ("lr", "size", "val_nll_per_snp", "test_nll_per_snp", "val_improvement_per_snp"):
        if pd.api.types.is_numeric_dtype(table[col]):
            np.testing.assert_allclose(best[col].to_numpy(float), table[col].to_numpy(float), rtol=1e-9)
        else:
            assert list(best[col]) == list(table[col]), col

    def reports():
        out = {}
        for d in (tmp_path / "scan").iterdir():
            f = d / "result.json"
            if d.is_dir() and f.exists():
                out[d.name] = len(f.read_text().strip().splitlines())
        return out

    before = reports()
    resumed = run_scan(ScanConfig(**{**sc.__dict__, "resume": True}), log=lambda s: None)
    assert reports() == before, "resuming re-ran finished trials"
    assert list(resumed["trait"]) == ["a", "b"]
    assert json.loads(json.dumps(list(resumed["lr"]))) == list(table["lr"])
