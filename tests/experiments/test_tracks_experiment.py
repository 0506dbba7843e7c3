"""The tracks experiment (experiments/tracks.py) end to end at its reduced size: simulated tracks ->
bigWig -> ``prepare tracks`` (float16 and float32) -> conv and MLP priors scored held out."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.data import Dataset
from deepwas_dist.experiments.tracks import CELLS, TracksSpec, run_tracks
from deepwas_dist.experiments.tracks_checks import stored_raw


@pytest.mark.timeout(600)
def test_tracks_experiment_reduced(tmp_path):
    spec = TracksSpec().reduced()
    table = run_tracks(spec, str(tmp_path), processes=2, log=lambda s: None)
    for f in ("table.md", "results.csv", "cells.csv", "checks.csv", "truth_curve.csv"):
        assert (tmp_path / f).stat().st_size > 0, f

    # the ingest: every SNP whose exported window was not cut by an earlier SNP's comes back exactly (to
    # float32 precision), and only those (a cut window mixes in the earlier SNP's values and noise)
    chk = pd.read_csv(tmp_path / "checks.csv").iloc[0]
    assert 0 < chk["exact_snps"] == chk["snps"] - chk["cut"] < chk["snps"]
    assert chk["window_r"] > 0.95
    data = tmp_path / "data"
    sim = Dataset.open(str(data / "seed0-sim"))
    raw = np.concatenate([sim.features(c)[2].numpy() for c in sim.chromosomes])
    ingested = stored_raw(str(data / "seed0-ingested32"))
    exact = np.all(np.abs(ingested - raw) <= 1e-4 * (1 + np.abs(raw)), axis=(1, 2))
    np.testing.assert_allclose(ingested[exact], raw[exact], rtol=1e-5, atol=2e-5)
    # the control dataset holds the simulator's own windows, stored the way prepare tracks stores
    np.testing.assert_allclose(stored_raw(str(data / "seed0-simtracks")), raw, rtol=1e-5, atol=2e-5)

    # float16: exactly the rounding of the float32 windows, within 2^-11 relative, in fewer bytes
    assert chk["f16_same_as_rounding"]
    assert 0 < chk["f16_max_rel_err"] <= 2.0 ** -11 and chk["f16_max_abs_err_sd"] < 0.01
    assert chk["tracks_bytes_per_snp_f16"] < 0.75 * chk["tracks_bytes_per_snp_f32"]
    assert Dataset.open(str(data / "seed0-ingested16")).manifest.tracks.dtype == "float16"

    # every cell fitted and tabulated; both conv-on-ingested cells and the control give finite scores
    cells = pd.read_csv(tmp_path / "cells.csv")
    assert list(table["cell"]) == [c.name for c in CELLS] and len(cells) == len(CELLS)
    md = (tmp_path / "table.md").read_text()
    assert all(f"| {c.name} |" in md for c in CELLS) and "| the true f (ceiling" in md
    conv = cells[cells["model"].str.startswith("conv")]
    assert len(conv) == 3
    for k in ("nll_vs_null_per_snp", "log_f_r_heldout", "h2", "true_vs_null_per_snp"):
        assert np.isfinite(conv[k]).all(), k
    assert (conv["h2"] > 0).all()
    # a float32-trained conv prior barely moves when fed the float16-rounded windows
    f32 = conv[conv["data"] == "ingested32"]["f16_max_dlogf"].iloc[0]
    assert 0 <= f32 < 0.01
    # the null (sigma at the unstratified LDSC intercept) is the same in every cell, so is the truth's gain
    assert np.ptp(cells["true_vs_null_per_snp"]) < 1e-9

    # the degraded truths have the r asked for (noise of the truth's sd), and finite scores
    curve = pd.read_csv(tmp_path / "truth_curve.csv")
    np.testing.assert_allclose(curve["r"], curve["r_target"], atol=0.1)
    assert np.isfinite(curve["nll_vs_null_per_snp"]).all() and "Degraded truths" in md


@pytest.mark.timeout(600)
def test_tracks_experiment_reduced_with_validation(tmp_path):
    """With --val-chroms every fit validates on chromosome 2 (1 trains, 3 is held out) and keeps an epoch of
    lowest validation NLL, and with two weight decays the one of lower validation NLL; the truth curve and
    every cell share one null (so the truth's gain is one number)."""
    spec = TracksSpec(val_chroms="6", weight_decays=(1e-4, 30.0), calibrated=True).reduced()
    assert (spec.simulation.chroms, spec.holdout, spec.val_chroms) == ((1, 2, 3), "3", "2")
    run_tracks(spec, str(tmp_path), processes=2, log=lambda s: None)
    cells, fits = pd.read_csv(tmp_path / "cells.csv"), pd.read_csv(tmp_path / "fits.csv")
    assert len(cells) == len(CELLS) and cells["epoch_kept"].between(1, spec.epochs).all()
    assert len(fits) == 2 * len(CELLS)                 # every cell with each decay; kept: lowest validation NLL
    for _, c in cells.iterrows():
        mine = fits[(fits["cell"] == c["cell"]) & (fits["seed"] == c["seed"])]
        assert c["val_nll_per_snp"] == mine["val_nll_per_snp"].min() and c["weight_decay"] in (1e-4, 30.0)
    assert np.isfinite(cells["nll_vs_null_per_snp"]).all() and np.ptp(cells["true_vs_null_per_snp"]) < 1e-9
    assert "validation chromosome(s) 2" in (tmp_path / "table.md").read_text()
    assert np.isfinite(cells["slope"]).all() and np.isfinite(cells["shift"]).all()      # calibrated on them
