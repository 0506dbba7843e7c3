"""The realistic benchmark's paired differences against a hand computation on made-up cells."""
from __future__ import annotations

import numpy as np
import pandas as pd

from deepwas_dist.experiments.realistic_report import markdown_table, paired, summarise


def _cells() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(5):
        for objective in ("likelihood", "ldsc"):
            for model in ("constant", "linear", "mlp/small"):
                rows.append({"treatment": "default", "objective": objective, "model": model, "seed": seed,
                             "parameters": 1, "h2": 0.4, "h2_bias": 0.0, "annotation": "a", "enrichment": 1.0,
                             "true_enrichment": 2.0, "log_f_pearson_r": rng.uniform(), "sigma": 1.0, "lambda": 0.1,
                             "nll_vs_null_per_snp": rng.normal(), "epoch_kept": 10, "weight_decay": 1e-4})
    return pd.DataFrame(rows)


def test_paired_differences_match_a_hand_computation():
    cells = _cells()
    pairs = paired(cells).set_index(["contrast", "prior"])
    assert list(pairs.index) == [("likelihood minus LDSC", m) for m in ("constant", "linear", "mlp/small")] + \
        [("likelihood: mlp/small minus linear", "mlp/small"), ("ldsc: mlp/small minus linear", "mlp/small")]
    c = cells.set_index(["objective", "model", "seed"])
    nll = c["nll_vs_null_per_snp"]
    d = nll.loc[("likelihood", "mlp/small")] - nll.loc[("ldsc", "mlp/small")]
    row = pairs.loc[("likelihood minus LDSC", "mlp/small")]
    assert row["seeds"] == 5 and row["d_nll_vs_null_per_snp_ahead"] == int((d > 0).sum())
    np.testing.assert_allclose([row["d_nll_vs_null_per_snp"], row["d_nll_vs_null_per_snp_se"]],
                               [d.mean(), d.std(ddof=1) / np.sqrt(5)], rtol=1e-12)
    r = (c.loc[("ldsc", "mlp/small"), "log_f_pearson_r"] - c.loc[("ldsc", "linear"), "log_f_pearson_r"])
    np.testing.assert_allclose(pairs.loc[("ldsc: mlp/small minus linear", "mlp/small"), "d_log_f_pearson_r"],
                               r.mean(), rtol=1e-12)


def test_paired_uses_only_the_seeds_both_fits_have_and_the_table_marks_resolved_ones():
    cells = _cells()
    cells = cells[~((cells["objective"] == "ldsc") & (cells["seed"] == 4))]          # one LDSC seed missing
    cells.loc[(cells["objective"] == "likelihood") & (cells["model"] == "linear"), "nll_vs_null_per_snp"] += 100
    pairs = paired(cells).set_index(["contrast", "prior"])
    assert pairs.loc[("likelihood minus LDSC", "linear"), "seeds"] == 4
    md = markdown_table(summarise(cells), "header", paired(cells))
    line = next(x for x in md.splitlines() if x.startswith("| likelihood minus LDSC | default | linear"))
    assert line.split("|")[4].strip().startswith("**+") and ", 4/4" in line
    const = next(x for x in md.splitlines() if x.startswith("| likelihood minus LDSC | default | constant"))
    assert "**" not in const.split("|")[-2]            # r(log f) of a constant prior: 0 +- 0, not "resolved"
