"""The scaling experiment's paired table: differences of cells on the same seed's dataset."""
from __future__ import annotations

import numpy as np
import pandas as pd

from deepwas_dist.experiments.scaling import paired_differences, paired_table


def _cells() -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(0)
    for seed in range(3):
        shift = rng.normal(0.0, 1.0)                     # the dataset's own level, shared by its cells
        for objective, gain in (("ldsc", 0.0), ("likelihood", 0.01 * (seed + 1))):
            for model, extra in (("constant", 0.0), ("mlp/small", 0.002)):
                for trait, t in (("a", 0.0), ("b", 0.004)):
                    rows.append({"objective": objective, "model": model, "seed": seed, "trait": trait,
                                 "nll_vs_null_per_snp": shift + gain + extra + t,
                                 "log_f_pearson_r": 0.5 + gain})
    return pd.DataFrame(rows)


def test_paired_differences_cancel_the_seeds_shared_level():
    d = paired_differences(_cells()).set_index("comparison")
    row = d.loc["likelihood minus LDSC, mlp/small"]
    # per seed 0.01, 0.02, 0.03: the dataset shift (sd 1) cancels exactly
    assert np.isclose(row["nll_vs_null_per_snp"], 0.02)
    assert np.isclose(row["nll_vs_null_per_snp_se"], np.std([0.01, 0.02, 0.03], ddof=1) / np.sqrt(3))
    assert row["ahead"] == 3 and row["seeds"] == 3
    assert np.isclose(d.loc["ldsc: mlp/small minus constant", "nll_vs_null_per_snp"], 0.002)
    # pairs whose cells did not run (linear, mlp/medium) are left out, not reported as NaN
    assert "likelihood minus LDSC, linear" not in d.index and "likelihood: mlp/medium minus constant" not in d.index
    text = paired_table(paired_differences(_cells()))
    assert "| likelihood minus LDSC, mlp/small | +0.0200 ± 0.0058 | 3/3 | +0.020 ± 0.006 |" in text
