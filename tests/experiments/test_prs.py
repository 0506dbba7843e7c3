"""The PRS experiment and its parts: the test cohort, the true effects it is scored against, the scoring."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.data import schema as S
from deepwas_dist.data.reader import Dataset
from deepwas_dist.errors import InputError
from deepwas_dist.evaluate.effects import effects_table
from deepwas_dist.evaluate.prs import per_allele_weights, polygenic_score, r2
from deepwas_dist.experiments.prs import PRSSpec, run_prs, score_effects
from deepwas_dist.simulate.dataset import SimulationSpec, write_simulated_dataset
from deepwas_dist.simulate.genotypes import ChromPanel, simulate_with_test
from deepwas_dist.simulate.testcohort import cohort_location, open_test_cohort
from deepwas_dist.simulate.traits import TraitSpec, draw_z, true_beta

TRAIT = TraitSpec("t", h2=0.4, N=5000, truth="threshold")


def test_test_cohort_is_a_third_disjoint_sample_of_the_same_run():
    trios = simulate_with_test(60, 200, 80, chroms=(1, 2), length_mb=0.5, seed=3)
    panel, cohort, test = trios[0]
    assert (panel.n_individuals, cohort.n_individuals, test.n_individuals) == (60, 200, 80)
    assert panel.snps[S.SNP].equals(test.snps[S.SNP]) and panel.n_snps == test.n_snps > 50
    # no person copied: no test person's genome (both chromosomes, ~350 SNPs) equals a panel or cohort
    # member's (one chromosome alone does repeat: people share haplotype pairs over 0.5 Mb)
    rows = lambda k: {r.tobytes() for r in np.concatenate([t[k].genotypes for t in trios], 1)}  # noqa: E731
    assert not rows(2) & rows(0) and not rows(2) & rows(1)
    # the same population: allele frequencies agree to sampling error (not independent SNPs)
    p_test, p_coh = test.genotypes.mean(0) / 2, cohort.genotypes.mean(0) / 2
    assert np.corrcoef(p_test, p_coh)[0, 1] > 0.9
    with pytest.raises(InputError, match="n_test"):
        simulate_with_test(60, 200, 0, chroms=(1,), length_mb=0.5)


def test_true_beta_is_the_effect_draw_z_used():
    """z(sigma) = R b + sqrt(sigma) X^T e / sqrt(n) with the same e for every sigma (same seed), so two
    sigmas give R b exactly; it must be R (sqrt(N) true_beta)."""
    g = np.random.default_rng(0)
    G = g.integers(0, 3, size=(300, 40)).astype(np.int8)
    snps = pd.DataFrame({S.CHR: 1, S.SNP: [f"s{j}" for j in range(40)], S.BP: np.arange(40) + 1})
    x = ChromPanel(snps, G)
    f = g.uniform(0, 0.01, 40)
    z1, z4 = draw_z(x, f, 5000.0, sigma=1.0, seed=11), draw_z(x, f, 5000.0, sigma=4.0, seed=11)
    Rb = 2 * z1 - z4                                        # (sqrt(4) z1 - sqrt(1) z4) / (2 - 1)
    X = x.standardized()
    np.testing.assert_allclose(Rb, X.T @ X / 300 @ (np.sqrt(5000.0) * true_beta(f, 5000.0, 11)), atol=1e-9)


def test_scoring_helpers_against_brute_force():
    g = np.random.default_rng(1)
    G = g.integers(0, 3, size=(50, 30)).astype(np.int8)
    w = g.normal(size=30)
    brute = np.array([sum(int(G[i, j]) * w[j] for j in range(30)) for i in range(50)])
    np.testing.assert_allclose(polygenic_score(G, w), brute, rtol=1e-12)
    t = g.normal(size=50)
    assert r2(3 * brute - 7, t) == pytest.approx(r2(brute, t), rel=1e-12)        # scale- and shift-free
    assert r2(brute, brute) == pytest.approx(1.0)
    # the weights are the BETA column of the effects files, 0 where a SNP has no estimate
    maf, mean = g.uniform(0.05, 0.5, 30), g.normal(size=30)
    mean[3] = np.nan
    snps = pd.DataFrame({S.SNP: [f"s{j}" for j in range(30)], S.A1: "A", S.A2: "C", S.CHR: 1,
                         S.BP: np.arange(30), S.MAF: maf})
    beta = effects_table(snps, mean, np.ones(30), 1000.0)["BETA"].to_numpy()
    got = per_allele_weights(mean, 1000.0, maf)
    assert got[3] == 0 and np.isnan(beta[3])
    np.testing.assert_allclose(np.delete(got, 3), np.delete(beta, 3), rtol=1e-12)


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    url = str(tmp_path_factory.mktemp("prs") / "ds")
    spec = SimulationSpec(n_individuals=150, n_gwas=1500, n_test=300, chroms=(1, 2), length_mb=1.0,
                          traits=(TRAIT,), n_tracks=0, seed=5)
    write_simulated_dataset(url, spec, log=lambda s: None)
    return url


def test_test_cohort_files_and_phenotypes(small_dataset):
    ds = Dataset.open(small_dataset)
    tc = open_test_cohort(small_dataset, ds.manifest.write_id)
    assert tc.n == 300 and tc.chromosomes == [1, 2] and tc.traits == {"t": 0.4}
    g = np.zeros(300)
    for c in (1, 2):
        a = tc.chromosome(c)
        assert a["genotypes"].dtype == np.int8 and a["genotypes"].shape == (300, ds.manifest.snps.per_chrom[c])
        assert list(a["snp"]) == list(ds.snps(c)[S.SNP])
        G = a["genotypes"].astype(float)
        np.testing.assert_allclose(a["g_t"], (G - G.mean(0)) @ a["beta_t"], atol=1e-10)
        g += a["g_t"]
    np.testing.assert_allclose(tc.phenotypes["g_t"], g, atol=1e-10)
    e = tc.phenotypes["y_t"] - tc.phenotypes["g_t"]
    assert abs(e.var() - 0.6) < 4 * 0.6 * np.sqrt(2 / 300)                    # Var(e) = 1 - h2
    with pytest.raises(InputError, match="another version"):
        open_test_cohort(small_dataset, "not-this-write")
    with pytest.raises(InputError, match="--test-individuals"):
        open_test_cohort(small_dataset + "-none")


def test_true_effects_give_a_perfect_score(small_dataset):
    """Scoring the true per-allele effects (as gamma) must reproduce g exactly: r^2 = 1 held out and
    genome-wide. This checks the scale conversions and the held-out bookkeeping end to end."""
    ds = Dataset.open(small_dataset)
    tc = open_test_cohort(small_dataset, ds.manifest.write_id)
    effects = {}
    for c in (1, 2):
        maf = ds.snps(c)[S.MAF].to_numpy()
        effects[c] = (np.sqrt(TRAIT.N) * tc.chromosome(c)["beta_t"] * np.sqrt(2 * maf * (1 - maf)))[:, None]
    (row,), _ = score_effects(ds, effects, ["t"], [TRAIT.N], heldout=[2])
    assert row["r2_g_heldout"] == pytest.approx(1.0, abs=1e-10)
    assert row["r2_g_all"] == pytest.approx(1.0, abs=1e-10)
    g = tc.phenotypes["g_t"]
    assert row["r2_y_all"] == pytest.approx(r2(g.to_numpy(), tc.phenotypes["y_t"].to_numpy()), abs=1e-10)
    # a score from chromosome 1 only predicts nothing of chromosome 2's genetic value beyond chance
    (row1,), _ = score_effects(ds, {1: effects[1], 2: 0 * effects[2]}, ["t"], [TRAIT.N], heldout=[2])
    assert row1["r2_g_heldout"] == 0.0 and 0 < row1["r2_g_all"] < 1


def test_no_test_cohort_by_default(tmp_path):
    url = str(tmp_path / "ds")
    write_simulated_dataset(url, SimulationSpec(n_individuals=60, n_gwas=200, chroms=(1,), length_mb=0.3,
                                                traits=(TRAIT,), n_tracks=0), log=lambda s: None)
    assert not (tmp_path / "ds.testcohort").exists() and cohort_location(url).endswith(".testcohort")
    with pytest.raises(InputError, match="test-individuals"):
        SimulationSpec(n_test=-1).check()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_prs_quick_end_to_end(tmp_path):
    """The quick experiment (3 x 2 Mb, panel 300, cohort 3,000, test 400, one seed, 4 epochs; 25 s on 2 idle
    cores, 110 s on a loaded machine, hence slow). Measured:
    held-out r^2 with g (mean of the two traits) true prior 0.737, likelihood mlp/small 0.675, constant
    0.673, LDSC-trained mlp/small 0.673; r^2 with g of random weights ~0.01."""
    spec = PRSSpec().quick()
    table = run_prs(spec, str(tmp_path / "out"), data_dir=str(tmp_path / "data"), processes=2, log=lambda s: None)
    for f in ("prs_table.md", "prs_results.csv", "prs_cells.csv", "prs_r2.png", "prs_regions.png"):
        assert (tmp_path / "out" / f).stat().st_size > 0, f
    cells = pd.read_csv(tmp_path / "out" / "prs_cells.csv")
    assert len(cells) == len(spec.priors) * 2
    r = cells.set_index(["prior", "trait"])
    assert ((cells[["r2_g_heldout", "r2_y_heldout", "r2_g_all", "r2_y_all"]] >= 0).all().all()
            and (cells[["r2_g_heldout", "r2_g_all"]] <= 1).all().all())
    # a random-weight PRS on the same test genotypes: the floor every prior must clear by far
    ds = Dataset.open(str(tmp_path / "data" / "seed0"))
    tc = open_test_cohort(ds.url, ds.manifest.write_id)
    arr = tc.chromosome(3)
    rand = polygenic_score(arr["genotypes"], np.random.default_rng(0).normal(size=arr["genotypes"].shape[1]))
    for t in ("threshold", "network"):
        floor = r2(rand, arr[f"g_{t}"])
        assert r.loc[("true prior (ceiling)", t), "r2_g_heldout"] > max(0.3, 10 * floor)
        assert r.loc[("constant (LDpred-inf-like)", t), "r2_g_heldout"] > max(0.3, 10 * floor)
    # the true prior is the ceiling here (margin measured 0.06 on the trait mean)
    m = table[table["trait"] == "mean"].set_index("prior")["r2_g_heldout"]
    assert m["true prior (ceiling)"] > m.drop("true prior (ceiling)").max()
    # results are the seed means of the cells
    per = cells.groupby(["prior", "trait"])["r2_g_all"].mean()
    t2 = table[table["trait"] != "mean"].set_index(["prior", "trait"])["r2_g_all"]
    np.testing.assert_allclose(t2.loc[per.index], per, rtol=1e-12)
