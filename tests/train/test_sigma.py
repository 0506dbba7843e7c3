"""--sigma VALUE holds the null variance of z (the LDSC intercept) fixed through training, the run's
baselines (null and constant prior) and evaluation; --sigma learn (the default) trains it."""
from __future__ import annotations

import math

import pytest
import torch

from deepwas_dist.errors import InputError
from deepwas_dist.train.config import TrainConfig, parse_sigma

from .conftest import TRAIT, base_config, train_in_process


def test_parse_sigma():
    assert parse_sigma("learn") is None and parse_sigma(" LEARN ") is None
    assert parse_sigma("1.24") == 1.24 and parse_sigma(2) == 2.0
    for bad in ("0", "-1", "nan", "inf", "one"):
        with pytest.raises(InputError, match="--sigma"):
            parse_sigma(bad)
    with pytest.raises(InputError, match="--sigma"):
        TrainConfig(sigma="x").validate()
    assert TrainConfig(sigma="1.5").fixed_log_sigma == pytest.approx(math.log(1.5))
    assert TrainConfig().fixed_log_sigma is None


def test_baseline_fits_hold_sigma(sim_dataset):
    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.evaluate.heldout import fit_constant_prior, fit_nuisance, fit_null, fit_run_null
    from deepwas_dist.mismatch import MismatchSetting

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
