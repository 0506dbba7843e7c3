"""deepwas predict: a run's prior applied to a dataset reproduces the run's own SNPVAR, and refuses data
that lacks one of its features."""
from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.errors import InputError
from deepwas_dist.evaluate.predict import feature_columns, predict_dataset, read_saved_prior

from .conftest import TRAIT, base_config, train_in_process


@pytest.fixture(scope="module")
def finished_run(sim_dataset, tmp_path_factory):
    storage = tmp_path_factory.mktemp("runs")
    cfg = base_config(sim_dataset, str(storage), "pred", epochs=1, workers=1, model="linear",
                      jackknife="fixed", method="exact", accumulation=3)
    ds, *_ = train_in_process(cfg)
    return storage / "pred", ds


def _read(path) -> pd.DataFrame:
    with gzip.open(path, "rt") as fh:
        return pd.read_csv(fh, sep="\t")


def test_predict_reproduces_the_runs_snpvar(finished_run, sim_dataset, tmp_path):
    run_dir, ds = finished_run
    out = tmp_path / "pred"
    summary = predict_dataset(str(run_dir), sim_dataset, str(out), log=lambda s: None)
    assert summary["snps"] == ds.n_snps and summary["features"] == list(ds.feature_names)
    for c in ds.chromosomes:
        got = _read(out / "snpvar" / f"{TRAIT}.{c}.snpvar.gz")
        want = _read(run_dir / "snpvar" / f"{TRAIT}.{c}.snpvar.gz")
        assert got["SNP"].tolist() == want["SNP"].tolist()
        np.testing.assert_allclose(got["SNPVAR"], want["SNPVAR"], rtol=1e-5)


def test_missing_feature_is_named_and_extra_ones_listed(finished_run):
    run_dir, ds = finished_run
    saved = read_saved_prior(str(run_dir))
    names = list(ds.feature_names)
    with pytest.raises(InputError, match=f"lacks the annotation\\(s\\) {names[0]}"):
        feature_columns(saved, names[1:], "data/x")
    need, ignored = feature_columns(saved, names + ["extra_col"], "data/x")
    assert need == names and ignored == ["extra_col"]
    assert saved["feature_mean"] == pytest.approx(ds.manifest.features.mean)


def test_a_run_without_model_pt_is_refused(tmp_path, sim_dataset):
    with pytest.raises(InputError, match="no model.pt"):
        predict_dataset(str(tmp_path), sim_dataset, str(tmp_path / "out"), log=lambda s: None)
