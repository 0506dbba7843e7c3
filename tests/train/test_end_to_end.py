"""End to end on Ray: 2 CPU workers train the mlp prior on simulated threshold-truth data; it must beat
the null and constant priors on the held-out chromosome and recover the true log f; every output exists
and parses."""
from __future__ import annotations

import gzip
import io
import json

import numpy as np
import pandas as pd
import pytest
import torch

from deepwas_dist.data.reader import Dataset
from deepwas_dist.evaluate.effects import EFFECT_COLUMNS
from deepwas_dist.evaluate.enrichment import COLUMNS as ENRICHMENT_COLUMNS

from .conftest import TRAIT, base_config, run

EPOCHS = 20
SNPVAR_COLUMNS = ["CHR", "SNP", "BP", "A1", "A2", "SNPVAR", "Z", "N"]


@pytest.fixture(scope="module")
def e2e(ray_session, sim_dataset, run_storage):
    cfg = base_config(sim_dataset, str(run_storage), "e2e", epochs=EPOCHS)
    return run(cfg)


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.timeout(600)
def test_trained_prior_beats_null_and_constant_and_recovers_truth(e2e):
    """mlp/small, 2 workers, accumulation 1 (5 steps per epoch), lr 1e-2, 20 epochs, held-out chromosome 4
    (3 slices), on the out-of-sample design (600-person LD panel, separate 6,000-person GWAS cohort) with the
    learned LD-mismatch lambda (the default).

    Measured on this configuration (nats per held-out SNP; Pearson r of log f vs the true log f), with the
    European population history (the simulator's default since; 903 held-out SNPs), sigma learned as in
    every test on these small datasets: vs null 0.082, vs constant 0.028, r(log f) 0.36 (held-out SNPs
    0.34), h2 0.254 (true 0.3), sigma 5.3, lambda 0.12. Before, with the constant-Ne history: vs null
    0.031, vs constant 0.025, r 0.40 (0.36), h2 0.155, sigma 10.1; without the mismatch term that run
    collapsed to the null (vs null -0.002, h2 0.066, sigma 23.9).
    On the old in-sample design the same run measured vs null 0.174-0.198 over 6 variants: LD mismatch
    makes the held-out gain ~6x smaller, which is why the threshold is not that design's 0.05.

    Thresholds: vs null > 0.015 (half the measured value), vs constant > 0.005 (a fifth), r > 0.25 (all
    SNPs) and > 0.2 (held-out), h2 in (0.1, 1.0). A network that has not learnt the annotations' effect sits
    at vs constant <= 0 and r ~ 0. h2 is underestimated (0.254 vs 0.3): with sigma learned the likelihood is
    biased low (README, "Does it work?"); this test does not hide that.
    """
    m = e2e.metrics["traits"][TRAIT]
    print({k: v for k, v in m.items() if k != "enrichment"})
    assert m["improvement_vs_null_per_snp"] > 0.015
    assert m["improvement_vs_constant_per_snp"] > 0.005
    assert m["recovery_all"]["pearson_r"] > 0.25
    assert m["recovery_heldout"]["pearson_r"] > 0.2
    # the held-out slices are chromosome 4's 3 slices, and every one of its SNPs with a z-score is scored
    held = len(Dataset.open(e2e.cfg.data).sumstats(TRAIT, [4]))
    assert m["heldout_slices"] == 3 and m["heldout_snps"] == held > 500
    assert m["true_h2"] == pytest.approx(0.3)
    assert 0.1 < m["h2"] < 1.0


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.timeout(600)
def test_outputs_exist_and_parse(e2e, sim_dataset):
    run_dir = e2e.run_dir
    ds = Dataset.open(sim_dataset)

    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(e2e.metrics, default=float))
    assert metrics["heldout_chroms"] == [4]
    hist = metrics["history"]
    assert [r["epoch"] for r in hist] == list(range(1, EPOCHS + 1))
    assert [r["step"] for r in hist] == [5 * e for e in range(1, EPOCHS + 1)]
    assert all(np.isfinite(r["train_loss_per_snp"]) and np.isfinite(r["heldout_nll_per_snp"]) for r in hist)
    # the per-epoch held-out NLL uses method 'auto' (the stochastic iterative path on most of these slices,
    # 16 probes); the final evaluation is exact: same parameters, so they agree to the estimator's ~0.3%
    assert hist[-1]["heldout_nll_per_snp"] == pytest.approx(metrics["traits"][TRAIT]["heldout_nll_per_snp"],
                                                           rel=1e-2)

    # snpvar: one PolyFun file per chromosome; SNPVAR = f_j sums to the reported h2
    files = sorted((run_dir / "snpvar").iterdir())
    assert [f.name for f in files] == [f"{TRAIT}.{c}.snpvar.gz" for c in ds.chromosomes]
    total, n = 0.0, 0
    ss = ds.sumstats(TRAIT).set_index("SNP")
    for c, f in zip(ds.chromosomes, files):
        with gzip.open(f, "rt") as fh:
            df = pd.read_csv(fh, sep="\t")
        assert list(df.columns) == SNPVAR_COLUMNS
        assert (df["CHR"] == c).all()
        snps = ds.snps(c)
        assert df["SNP"].tolist() == snps["SNP"].tolist()
        assert (df["BP"].to_numpy() == snps["BP"].to_numpy()).all()
        assert (df["SNPVAR"] > 0).all() and np.isfinite(df["SNPVAR"]).all()
        np.testing.assert_allclose(df["Z"], ss.loc[df["SNP"], "Z"], rtol=1e-5)
        assert (df["N"] == 30_000).all()
        total += df["SNPVAR"].sum()
        n += len(df)
    assert n == metrics["n_snps"] == ds.n_snps
    assert total == pytest.approx(metrics["traits"][TRAIT]["h2"], rel=1e-4)

    # effects: posterior effect sizes per chromosome, PLINK --score columns first, every SNP core somewhere
    for c in ds.chromosomes:
        with gzip.open(run_dir / "effects" / f"{TRAIT}.{c}.effects.gz", "rt") as fh:
            eff = pd.read_csv(fh, sep="\t")
        snps = ds.snps(c)
        assert list(eff.columns) == list(EFFECT_COLUMNS)
        assert eff["SNP"].tolist() == snps["SNP"].tolist() and eff["A1"].tolist() == snps["A1"].tolist()
        assert np.isfinite(eff["BETA"]).all() and (eff["POSTERIOR_SD"] > 0).all()
        p = snps["MAF"].to_numpy()
        np.testing.assert_allclose(eff["BETA"] * np.sqrt(2 * p * (1 - p)), eff["BETA_STD"], rtol=1e-4, atol=1e-12)
        # shrunk towards 0 but pointing where the z-scores point
        gamma = eff["BETA_STD"].to_numpy() * np.sqrt(30_000)
        z = ss.loc[eff["SNP"], "Z"].to_numpy()
        assert np.corrcoef(gamma, z)[0, 1] > 0.3
        assert np.abs(gamma).mean() < np.abs(z).mean()

    # enrichment table (S-LDSC columns), one row per binary annotation
    tab = pd.read_csv(run_dir / "enrichment" / f"{TRAIT}.results", sep="\t")
    assert list(tab.columns) == ENRICHMENT_COLUMNS
    assert tab["Category"].tolist() == list(ds.binary_features)
    assert tab["Prop._SNPs"].between(0, 1).all() and tab["Prop._h2"].between(0, 1).all()
    assert (tab["Enrichment_std_error"] >= 0).all()

    # plots
    pngs = sorted(p.name for p in (run_dir / "plots").glob("*.png"))
    assert pngs == sorted(["curves.png", f"enrichment_{TRAIT}.png", f"truth_{TRAIT}.png"])
    for p in (run_dir / "plots").glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # model.pt rebuilds the prior and reproduces the snpvar values
    from deepwas_dist.models import load_saved_prior
    saved = torch.load(io.BytesIO((run_dir / "model.pt").read_bytes()), weights_only=True)
    assert saved["model"] == "mlp" and saved["size"] == "small" and saved["traits"] == [TRAIT]
    assert saved["mismatch"] == "learn"
    net = load_saved_prior(saved)
    _, X, tracks = ds.features(1)
    with torch.no_grad():
        f = net(X, tracks).exp()[:, 0].double().numpy()
    with gzip.open(files[0], "rt") as fh:
        np.testing.assert_allclose(pd.read_csv(fh, sep="\t")["SNPVAR"], f, rtol=1e-5)

    assert (run_dir / "summary.txt").read_text().startswith("model mlp/small")
    assert json.loads((run_dir / "config.json").read_text())["holdout_chroms"] == [4]
