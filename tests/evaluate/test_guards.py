"""Guard-rail warnings: each fires on a constructed bad fit and stays quiet on a healthy one."""
from __future__ import annotations

import math

import numpy as np
import pytest

from deepwas_dist.evaluate import guards as G
from deepwas_dist.evaluate.enrichment import COLUMNS, enrichment_table
from deepwas_dist.evaluate.report import summary_table

HEALTHY = G.TraitFit("height", h2=0.08, sigma=1.1, heldout_slices=10, h2_moment=0.1, lam=0.05)


def codes(fit: G.TraitFit) -> list[str]:
    return [w.code for w in G.check_trait(fit)]


def test_healthy_fit_has_no_warnings():
    assert codes(HEALTHY) == []
    assert codes(G.TraitFit("t", h2=0.3, sigma=1.0, heldout_slices=3)) == []       # no moment estimate, no lambda
    assert codes(G.TraitFit("t", h2=2e-3, sigma=1.0, heldout_slices=3, h2_moment=0.1)) == []   # 2% of moment


@pytest.mark.parametrize("h2,moment", [(0.0, 0.1), (5e-4, 0.1), (5e-5, None), (5e-5, -0.02), (float("nan"), 0.1)])
def test_h2_collapse_fires(h2, moment):
    fit = G.TraitFit("t", h2=h2, sigma=1.0, heldout_slices=3, h2_moment=moment)
    assert codes(fit) == ["h2_collapsed"]
    msg = G.check_h2(fit)[0].message
    assert "--mismatch learn" in msg and "LD panel" in msg


def test_collapse_threshold():
    assert G.collapse_threshold(0.1) == pytest.approx(G.H2_COLLAPSE_FRACTION * 0.1)
    assert G.collapse_threshold(1e-3) == G.H2_FLOOR             # the floor wins below 1% of a tiny estimate
    assert G.collapse_threshold(None) == G.collapse_threshold(-1.0) == G.H2_FLOOR


@pytest.mark.parametrize("sigma,code", [(0.5, "sigma_low"), (2.5, "sigma_high"), (float("nan"), "sigma_low")])
def test_sigma_outside_plausible_range(sigma, code):
    fit = G.TraitFit("t", h2=0.1, sigma=sigma, heldout_slices=3, h2_moment=0.1)
    assert codes(fit) == [code]
    assert "--mismatch learn" in G.check_sigma(fit)[0].message


def test_mismatch_advice_follows_the_fit():
    """A fit that already learned lambda is not told to learn lambda."""
    off = G.TraitFit("t", h2=0.1, sigma=2.5, heldout_slices=3)
    on = G.TraitFit("t", h2=0.1, sigma=2.5, heldout_slices=3, lam=0.08)
    assert "--mismatch learn" in G.check_sigma(off)[0].message
    msg = G.check_sigma(on)[0].message
    assert "--mismatch learn" not in msg and "--sigma VALUE" in msg and "0.08" in msg


def test_sigma_bounds_are_plausible():
    assert codes(G.TraitFit("t", h2=0.1, sigma=G.SIGMA_HIGH, heldout_slices=3)) == []   # the bound itself is fine
    assert codes(G.TraitFit("t", h2=0.1, sigma=G.SIGMA_LOW, heldout_slices=3)) == []


@pytest.mark.parametrize("lam,code", [(1.5, "lambda_high"), (-0.1, "lambda_invalid"), (float("inf"), "lambda_invalid")])
def test_lambda(lam, code):
    fit = G.TraitFit("t", h2=0.1, sigma=1.0, heldout_slices=3, lam=lam)
    assert codes(fit) == [code]
    assert codes(G.TraitFit("t", h2=0.1, sigma=1.0, heldout_slices=3, lam=None)) == []
    assert codes(G.TraitFit("t", h2=0.1, sigma=1.0, heldout_slices=3, lam=0.0)) == []


def test_nothing_held_out():
    fit = G.TraitFit("t", h2=0.1, sigma=1.0, heldout_slices=0)
    (w,) = G.check_trait(fit)
    assert w.code == "nothing_held_out" and "--holdout-blocks" in w.message and "NaN" in w.message


def test_several_warnings_in_fixed_order():
    fit = G.TraitFit("t", h2=0.0, sigma=3.0, heldout_slices=0, h2_moment=0.1, lam=2.0)
    assert codes(fit) == ["nothing_held_out", "h2_collapsed", "sigma_high", "lambda_high"]


def test_collapsed_enrichment_is_not_presented_as_measured(rng):
    A = (rng.random((2000, 3)) < 0.3).astype(float)
    f = np.full(2000, 1e-12) * (1 + A[:, 0])
    tab = enrichment_table(f, A, ["a", "b", "c"], n_blocks=20)
    masked = G.mask_collapsed_enrichment(tab)
    assert list(masked.columns) == COLUMNS
    for c in G.UNCERTAINTY_COLUMNS:
        assert masked[c].isna().all() and tab[c].notna().all()
    np.testing.assert_array_equal(masked["Enrichment"], tab["Enrichment"])       # the point estimate stays
    assert G.enrichment_masked_warning(G.TraitFit("t", 0.0, 1.0, 3)).code == "enrichment_masked"


def _metrics(warnings: list[dict]) -> dict:
    m = {"heldout_snps": 0, "heldout_nll_per_snp": math.nan, "improvement_vs_null_per_snp": math.nan,
         "improvement_vs_constant_per_snp": math.nan, "h2": 0.0, "warnings": warnings}
    return {"model": "mlp", "size": "tiny", "parameters": 10, "objective": "likelihood", "heldout_chroms": [],
            "holdout": {"description": "nothing"}, "traits": {"height": m}}


def test_summary_prints_warnings():
    ws = [w.to_dict() for w in G.check_trait(G.TraitFit("height", 0.0, 1.0, 0, h2_moment=0.1))]
    text = summary_table(_metrics(ws))
    assert "held out: nothing" in text
    assert "warning [height] nothing_held_out:" in text and "warning [height] h2_collapsed:" in text
    assert "warning" not in summary_table(_metrics([]))
