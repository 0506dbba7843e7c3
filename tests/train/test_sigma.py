"""--sigma VALUE holds the null variance of z (the LDSC intercept) fixed through training, the run's
baselines (null and constant prior) and evaluation; --sigma ldsc (the default) holds it at the LD score
regression intercept of the training slices; --sigma learn trains it."""
from __future__ import annotations

import math

import pytest
import torch

from deepwas_dist.errors import InputError
from deepwas_dist.settings import SigmaSetting
from deepwas_dist.train.config import TrainConfig

from .conftest import TRAIT, base_config, train_in_process


def test_parse_sigma():
    assert SigmaSetting.parse("learn") == SigmaSetting("learn") == SigmaSetting.parse(" LEARN ")
    assert SigmaSetting.parse("ldsc") == SigmaSetting("ldsc") and SigmaSetting.parse("sldsc").intercept
    assert TrainConfig().sigma_setting == SigmaSetting("sldsc")
    assert SigmaSetting.parse("1.24") == SigmaSetting("fixed", 1.24) and SigmaSetting.parse(2).value == 2.0
    assert not SigmaSetting("learn").held and SigmaSetting("ldsc").held and SigmaSetting("fixed", 1.0).held
    for bad in ("0", "-1", "nan", "inf", "one"):
        with pytest.raises(InputError, match="--sigma"):
            SigmaSetting.parse(bad)
    with pytest.raises(InputError, match="--sigma"):
        TrainConfig(sigma="x").validate()


def test_baseline_fits_hold_sigma(sim_dataset):
    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.evaluate.heldout import fit_constant_prior, fit_nuisance, fit_null, fit_run_null
    from deepwas_dist.settings import MismatchSetting

    ds = Dataset.open(sim_dataset)
    batches = [ds.read_slice(1, s, [TRAIT], tracks=False) for s in range(3)]
    log_N = torch.tensor([math.log(30_000.0)], dtype=torch.float64)
    init = torch.tensor([math.log(0.1 / ds.n_snps)], dtype=torch.float64)
    ls = math.log(1.3)
    lf, got_ls, ll = fit_constant_prior(batches, log_N, init, mismatch=True, fixed_log_sigma=ls)
    assert got_ls.tolist() == pytest.approx([ls]) and ll is not None and bool(torch.isfinite(lf).all())
    free = fit_constant_prior(batches, log_N, init, mismatch=True)
    assert abs(float(free[1][0]) - ls) > 1e-3          # learned sigma lands elsewhere: the hold is real
    for mismatch in (False, True):
        s0, _ = fit_null(batches, 1, mismatch=mismatch, fixed_log_sigma=ls)
        assert s0.tolist() == pytest.approx([ls])
    null = fit_run_null(batches, 1, MismatchSetting.parse("learn"), fixed_log_sigma=ls)
    assert null.log_sigma == pytest.approx([ls]) and null.log_sigma_no_lambda == pytest.approx([ls])
    s1, lam = fit_nuisance(batches, [lf[None, :].expand(b.m, -1) for b in batches], log_N,
                           torch.tensor([ls], dtype=torch.float64), learn_sigma=False)
    assert s1.tolist() == pytest.approx([ls]) and bool(torch.isfinite(lam).all())


def test_fixed_sigma_run_never_moves_sigma(sim_dataset, tmp_path):
    cfg = base_config(sim_dataset, str(tmp_path), "sigma-fixed", epochs=1, workers=1, sigma="1.3",
                      jackknife="fixed", method="exact", accumulation=3)
    _, plan, _, net, _, m = train_in_process(cfg)
    assert plan.init_log_sigma == pytest.approx([math.log(1.3)])
    assert plan.null_log_sigma == pytest.approx([math.log(1.3)])
    assert not net.log_sigma.requires_grad
    assert float(net.log_sigma[0]) == pytest.approx(math.log(1.3), rel=1e-6)
    assert m["sigma_setting"] == "1.3"
    t = m["traits"][TRAIT]
    assert t["sigma"] == pytest.approx(1.3, rel=1e-6) and t["null_sigma"] == pytest.approx(1.3, rel=1e-9)


def test_ldsc_sigma_run_holds_the_training_slices_intercept(sim_dataset, tmp_path):
    """--sigma ldsc: the plan's sigma is the LD score regression intercept of the training slices (computed
    here directly from their LD and z), held through training, the null and every jackknife refit, whose
    blocks each get their own intercept."""
    import numpy as np

    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.ldsc import ldsc_intercept

    cfg = base_config(sim_dataset, str(tmp_path), "sigma-ldsc", epochs=1, workers=1, sigma="ldsc",
                      model="linear", jackknife="refit", jackknife_blocks=4, method="exact", accumulation=3)
    _, plan, _, net, _, m = train_in_process(cfg)
    ds = Dataset.open(sim_dataset)
    ell, chi2 = [], []
    for c, s in plan.train_keys:
        b = ds.read_slice(c, s, [TRAIT], tracks=False)
        ell.append(b.ld.ld2_core.sum(1).numpy())
        chi2.append(b.z[:, 0].double().square().numpy())
    a, _ = ldsc_intercept(np.concatenate(ell), np.concatenate(chi2))
    assert plan.fixed_log_sigma == pytest.approx([math.log(a[0])], rel=1e-9)
    assert plan.null_log_sigma == pytest.approx(plan.fixed_log_sigma)
    assert not net.log_sigma.requires_grad and float(net.log_sigma[0]) == pytest.approx(math.log(a[0]))
    assert m["sigma_setting"] == "ldsc" and m["sigma_ldsc"]["sigma"] == pytest.approx([a[0]])
    assert m["traits"][TRAIT]["sigma"] == pytest.approx(a[0], rel=1e-6)
    # 9 training slices of 3 Mb chromosomes: the intercept is poorly determined (measured 0.25, SE 1.4),
    # and the run says so
    se = m["sigma_ldsc"]["se"][0]
    assert se > 0.1 and m["sigma_ldsc"]["blocks"] == len(plan.train_keys)
    assert "sigma_imprecise" in [w["code"] for w in m["traits"][TRAIT]["warnings"]]
