"""The experiments in their reduced (CI) size: they run end to end, write their outputs, and show the
direction of the main effect where it is robust."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.experiments.real import RealSpec, run_real
from deepwas_dist.experiments.scaling import ScalingSpec, run_scaling


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_scaling_reduced(tmp_path):
    summary = run_scaling(ScalingSpec().reduced(), str(tmp_path), processes=2, log=lambda s: None)
    for f in ("table.md", "results.csv", "paired.csv", "cells.csv", "scaling.png"):
        assert (tmp_path / f).stat().st_size > 0, f
    mean = summary[summary["trait"] == "mean"].set_index(["objective", "model"])["nll_vs_null_per_snp"]
    # Out-of-sample design (800-person panel, separate cohort, European history), the defaults (lambda learned
    # on the eigenpairs holding 99.5% of R_CC's variance, sigma at the S-LDSC intercept of the training
    # slices, for both objectives). Measured (nats/SNP held out over the null, one seed, 8 epochs): likelihood
    # constant 0.2780, linear 0.2806, mlp/small 0.2819; LDSC-trained 0.2728, 0.2755, 0.2788 (scored by the
    # likelihood with lambda fitted, f fixed): gaps 0.0051, 0.0051, 0.0032. (Before sigma was held and the
    # history changed, with sigma learned: gains 0.029-0.034 and gaps 0.008.) Asserted, as before: every
    # likelihood-trained prior beats the null by half the smallest measured gain and the LDSC-trained prior
    # of the same size by half the smallest measured gap. (h2 errors: likelihood -0.07 to -0.08 on a truth
    # of 0.3, LDSC -0.01 to -0.04; r(log f) of the MLP 0.59 vs LDSC's 0.53: not asserted.)
    lik = [m for o, m in mean.index if o == "likelihood"]
    assert all(mean[("likelihood", m)] > 0.139 for m in lik)
    assert all(mean[("likelihood", m)] > mean[("ldsc", m)] + 0.0016 for m in lik)


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.timeout(1200)
def test_real_reduced(shared_data, tmp_path):
    spec = RealSpec().reduced()
    spec = RealSpec(**{**spec.__dict__, "blocks": 3, "epochs": 4})
    table = run_real(spec, str(tmp_path), processes=2, log=lambda s: None)
    assert (tmp_path / "table.md").exists() and (tmp_path / "folds.csv").exists()
    t = table.set_index(["objective", "model"])
    assert len(t) == 4
    # held-out blocks cover the whole chromosome once: ~14,900 SNPs scored by every prior
    assert (t["heldout_snps"] > 14_000).all()
    # Default LD treatment (lambda learned, truncation 99.5%), no shrinkage. Measured (3 blocks, 4 epochs):
    # likelihood constant/linear +0.0028/+0.0035 nats/SNP over the null, h2 0.0030 (S-LDSC: 0.0053);
    # LDSC-trained -0.0036/-0.0028 (scored by the likelihood, sigma and lambda fitted), h2 0.0095.
    # (The old table's +0.07 was with shrinkage 0.1, whose h2 was 15x S-LDSC's.)
    lik = t.xs("likelihood", level="objective")
    assert (lik["improvement_vs_null_per_snp"] > 0.001).all()
    # the likelihood-trained priors score better held out than the LDSC-trained ones (1% of NLL measured)
    for m in ("constant", "linear"):
        assert t.loc[("likelihood", m), "heldout_nll"] < t.loc[("ldsc", m), "heldout_nll"]
    # chr22 h2 of height is small and positive, with a positive jackknife SE
    assert ((t["h2"] > 1e-3) & (t["h2"] < 0.05)).all()
    assert (t["h2_jackknife_se"] > 0).all()
    # results.csv is the table returned, and folds.csv the per-block fits it summarises
    saved = pd.read_csv(tmp_path / "results.csv").set_index(["objective", "model"])
    np.testing.assert_allclose(saved.loc[t.index, "h2"], t["h2"], rtol=1e-9)
    folds = pd.read_csv(tmp_path / "folds.csv")
    assert len(folds) == 4 * spec.blocks
    per = folds.groupby(["objective", "model"])["h2"].mean()
    np.testing.assert_allclose(per.loc[t.index], t["h2"], rtol=1e-9)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_realistic_reduced(tmp_path):
    """Out-of-sample design (500-person panel, 5,000-person cohort, 3 x 3 Mb, true h2 0.4): the default
    treatment (truncation + lambda, sigma at the LDSC intercept) against no mismatch term.

    Measured (one seed, 6 epochs): one intercept, 3.17, held by every default cell (9 Mb is far too little
    data for it: the full benchmark has 80 Mb); h2 0.24 (likelihood) and 0.35 (LDSC objective). Without
    the mismatch term, sigma held, the panel's LD error goes into h2: 0.70. No h2 accuracy is asserted at
    this size. Without validation (the default validates; the test below covers it).
    """
    from deepwas_dist.experiments.realistic import LEARN, RealisticSpec, run_realistic
    table = run_realistic(RealisticSpec().unvalidated().reduced(), str(tmp_path), processes=2, log=lambda s: None)
    assert (tmp_path / "table.md").stat().st_size > 0 and (tmp_path / "cells.csv").exists()
    t = table.set_index(["treatment", "objective", "model"])
    default = t.loc[LEARN.name]
    assert default["sigma"].nunique() == 1 and default["sigma"].iloc[0] > 0      # one intercept, held
    assert (default["lambda"] > 0).all() and (default["h2"] > 0).all()
    off = t.loc[("no mismatch term", "likelihood", "constant")]
    assert np.isnan(off["lambda"]) and off["h2"] > default.loc[("likelihood", "constant"), "h2"]
    # per-MAF-bin h2 of every fit and of the truth partition their totals
    cells = pd.read_csv(tmp_path / "cells.csv")
    bins = [c for c in cells.columns if c.startswith("h2_maf")]
    assert len(bins) == 5
    np.testing.assert_allclose(cells[bins].sum(1), cells["h2"], rtol=1e-9)
    np.testing.assert_allclose(cells[["true_" + c for c in bins]].sum(1), 0.4, rtol=1e-6)
    assert (cells["epoch_kept"] == 6).all() and cells["val_nll_per_snp"].isna().all()   # no validation: the last


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_realistic_reduced_validates_and_chooses_weight_decay(tmp_path):
    """The default protocol, reduced: train chromosome 1, validate 2, test 3; the linear prior fitted with two
    weight decays keeps the one whose kept epoch has the lower validation NLL, the constant prior is fitted
    once; paired.csv has likelihood minus LDSC per prior."""
    from dataclasses import replace

    from deepwas_dist.experiments.realistic import RealisticSpec, run_realistic
    spec = replace(RealisticSpec().reduced(), weight_decays=(1e-4, 10.0)).select(["default"])
    assert spec.val_chroms == "2"
    run_realistic(spec, str(tmp_path), processes=2, log=lambda s: None)
    fits, cells = pd.read_csv(tmp_path / "fits.csv"), pd.read_csv(tmp_path / "cells.csv")
    assert sorted(fits.groupby("model").size().items()) == [("constant", 2), ("linear", 4)]
    assert len(cells) == 4 and cells["val_nll_per_snp"].notna().all()
    assert cells["epoch_kept"].between(1, 6).all()
    for _, c in cells.iterrows():
        same = fits[(fits["objective"] == c["objective"]) & (fits["model"] == c["model"])]
        assert c["val_nll_per_snp"] == same["val_nll_per_snp"].min()
    pairs = pd.read_csv(tmp_path / "paired.csv")
    assert list(pairs["contrast"]) == ["likelihood minus LDSC"] * 2 and (pairs["seeds"] == 1).all()
    assert "weight decay" in (tmp_path / "table.md").read_text()
