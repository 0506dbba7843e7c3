"""S-LDSC-style enrichment table: exact values on a hand-made case, and jackknife SEs that match the
spread of the estimate over independent replicate genomes."""
from __future__ import annotations

import numpy as np

from deepwas_dist.evaluate.enrichment import COLUMNS, enrichment_table


def test_exact_values():
    M = 1000
    A = np.zeros((M, 2))
    A[:500, 0] = 1                      # first half
    A[::4, 1] = 1                       # every 4th SNP
    f = np.where(A[:, 0] == 1, 2.0, 1.0)
    t = enrichment_table(f, A, ["half", "quarter"], n_blocks=50)
    assert list(t.columns) == COLUMNS
    assert np.isclose(t.loc[0, "Prop._SNPs"], 0.5) and np.isclose(t.loc[0, "Prop._h2"], 2 / 3)
    assert np.isclose(t.loc[0, "Enrichment"], 4 / 3)
    assert np.isclose(t.loc[1, "Enrichment"], 1.0)        # interleaved: no enrichment
    assert t.loc[0, "Enrichment_p"] < 1e-6 and t.loc[1, "Enrichment_p"] > 0.05


def test_jackknife_se_matches_replicate_spread():
    rng = np.random.default_rng(0)
    M, reps = 4000, 300
    est, ses = [], []
    for _ in range(reps):       # replicate genomes: annotation runs and per-SNP h2 both redrawn
        A = np.repeat((rng.random((M // 20, 1)) < 0.2).astype(float), 20, axis=0)   # clustered runs
        f = np.exp(rng.normal(0, 1, M) + 0.7 * A[:, 0])
        t = enrichment_table(f, A, ["a"], n_blocks=200)
        est.append(t.loc[0, "Enrichment"])
        ses.append(t.loc[0, "Enrichment_std_error"])
    sd, mean_se = np.std(est), np.mean(ses)
    assert 0.75 < mean_se / sd < 1.33, (mean_se, sd)
