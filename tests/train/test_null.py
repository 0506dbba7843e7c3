"""One null prior per run (evaluate.heldout.fit_run_null, fitted once in the plan): the training
history's "vs null" and evaluate.py's are the same figure for the same model and slices."""
from __future__ import annotations

import math

import pytest

from deepwas_dist.settings import MismatchSetting

from .conftest import TRAIT, base_config, train_in_process


@pytest.mark.parametrize("mismatch", ["0.05", "learn", "off"])
def test_history_and_evaluate_share_the_null(sim_dataset, tmp_path, mismatch):
    cfg = base_config(sim_dataset, str(tmp_path), f"null-{mismatch}", epochs=1, workers=1, mismatch=mismatch,
                      jackknife="fixed", method="exact", accumulation=3)
    _, plan, _, _, history, metrics = train_in_process(cfg)
    m = metrics["traits"][TRAIT]
    row = history[-1]
    assert m["null_sigma"] == pytest.approx(math.exp(plan.null_log_sigma[0]), rel=1e-12)
    assert row[f"heldout_nll_per_snp/{TRAIT}"] == pytest.approx(m["heldout_nll_per_snp"], rel=1e-6)
    assert row[f"heldout_improvement_per_snp/{TRAIT}"] == pytest.approx(m["improvement_vs_null_per_snp"],
                                                                        rel=1e-6, abs=1e-9)
    if mismatch == "0.05":          # the null holds lambda where the run does
        assert m["null_lambda"] == pytest.approx(0.05, rel=1e-9)
    elif mismatch == "off":
        assert m["null_lambda"] is None and plan.null_log_lambda is None


def test_fit_run_null_follows_the_mismatch_setting(sim_dataset):
    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.evaluate.heldout import fit_null, fit_run_null

    ds = Dataset.open(sim_dataset)
    batches = [ds.read_slice(1, s, [TRAIT], tracks=False) for s in range(3)]
    off = fit_run_null(batches, 1, MismatchSetting.parse("off"))
    plain, _ = fit_null(batches, 1)
    assert off.log_lambda is None and off.log_sigma == off.log_sigma_no_lambda == plain.tolist()
    fixed = fit_run_null(batches, 1, MismatchSetting.parse("0.2"))
    assert fixed.log_lambda == pytest.approx([math.log(0.2)]) and fixed.log_sigma_no_lambda == plain.tolist()
    learn = fit_run_null(batches, 1, MismatchSetting.parse("learn"))
    ls, ll = fit_null(batches, 1, mismatch=True)
    assert learn.log_sigma == ls.tolist() and learn.log_lambda == ll.tolist()
    assert learn.for_prior(False)[1] is None and learn.for_prior(True)[1] is not None
