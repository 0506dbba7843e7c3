"""write_simulated_dataset: the design recorded in the manifest, LD from the panel only, spec errors."""
from __future__ import annotations

import numpy as np
import pytest

from deepwas_dist.data import Dataset
from deepwas_dist.data import schema as S
from deepwas_dist.errors import InputError
from deepwas_dist.simulate.dataset import (
    GWAS_PER_PANEL,
    SimulationSpec,
    write_simulated_dataset,
)
from deepwas_dist.simulate.demography import DEFAULT_HISTORY
from deepwas_dist.simulate.genotypes import simulate_panel, simulate_panel_and_cohort
from deepwas_dist.simulate.traits import TraitSpec
from tests.conftest import make_legacy

TRAITS = (TraitSpec("t", h2=0.3, N=10_000, truth="linear"),)


def _spec(**kw) -> SimulationSpec:
    values = {"n_individuals": 120, "chroms": (1, 2), "length_mb": 1.0, "seed": 3, "traits": TRAITS, "n_tracks": 0,
              "n_binary": 2, "n_continuous": 1, "core_kb": 400.0, "bandwidth_kb": 200.0, "storage_dtype": "float64"}
    values.update(kw)
    return SimulationSpec(**values)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim-designs")
    out = {}
    for design in ("out-of-sample", "in-sample"):
        url = str(root / design)
        write_simulated_dataset(url, _spec(design=design), log=lambda s: None, workers=1)
        out[design] = Dataset.open(url)
    return out


def test_manifest_records_the_design(datasets):
    oos, ins = datasets["out-of-sample"], datasets["in-sample"]
    assert oos.simulation == {"design": "out-of-sample", "n_panel": 120, "n_gwas": GWAS_PER_PANEL * 120,
                              "demography": DEFAULT_HISTORY}
    assert ins.simulation == {"design": "in-sample", "n_panel": 120, "n_gwas": None, "demography": DEFAULT_HISTORY}
    assert oos.ld_info["n_ref"] == ins.ld_info["n_ref"] == 120               # LD from the panel
    assert "design='out-of-sample'" in oos.manifest.description


def test_ld_is_the_panels_and_z_the_cohorts(datasets):
    """The stored LD equals the panel's LD (not the cohort's); z equals a draw with the cohort's LD."""
    ds = datasets["out-of-sample"]
    panel, cohort = simulate_panel_and_cohort(120, 1200, chroms=(1,), length_mb=1.0, seed=3)[0]
    assert ds.snps(1)[S.SNP].tolist() == panel.snps[S.SNP].tolist()
    row = ds.slice_index().iloc[0]
    T = ds.read_slice(1, 0, dtype="float64").ld.T.numpy()               # T^T R_CC T = I for the stored R
    core = slice(int(row[S.CORE_LO]), int(row[S.CORE_HI]))
    for x, should_match in ((panel, True), (cohort, False)):
        X = x.standardized()[:, core]
        W = T.T @ (X.T @ X / X.shape[0]) @ T
        assert np.allclose(W, np.eye(W.shape[0]), atol=1e-6) == should_match
    ss = ds.sumstats("t")
    assert ss[S.N].eq(10_000).all() and np.isfinite(ss[S.Z]).all()


def test_in_sample_dataset_keeps_the_previous_panel(datasets):
    ds = datasets["in-sample"]
    panel = simulate_panel(120, chroms=(2,), length_mb=1.0, seed=3)[0]
    assert ds.snps(2)[S.SNP].tolist() == panel.snps[S.SNP].tolist()
    assert not np.array_equal(ds.sumstats("t")[S.Z], datasets["out-of-sample"].sumstats("t")[S.Z])


def test_old_manifest_without_simulation_is_readable(datasets, tmp_path):
    import shutil
    src = datasets["in-sample"].url
    dst = tmp_path / "old"
    shutil.copytree(src, dst)
    make_legacy(str(dst), lambda m: m.pop(S.MANIFEST_SIMULATION))
    old = Dataset.open(str(dst))
    assert old.simulation is None and old.n_snps == datasets["in-sample"].n_snps


def test_spec_errors_name_the_flag():
    with pytest.raises(InputError, match=r"--design"):
        _spec(design="both").check()
    with pytest.raises(InputError, match=r"--gwas-individuals.*>= 2"):
        _spec(n_gwas=1).check()
    with pytest.raises(InputError, match=r"--gwas-individuals"):
        _spec(design="in-sample", n_gwas=500).check()
    panels = simulate_panel(50, chroms=(1,), length_mb=0.3, seed=1)
    with pytest.raises(InputError, match=r"--design in-sample"):
        _spec(panels=panels).check()
    assert _spec(panels=panels, design="in-sample").check().gwas_individuals is None
    assert _spec(n_gwas=700).gwas_individuals == 700 and _spec().gwas_individuals == 1200
