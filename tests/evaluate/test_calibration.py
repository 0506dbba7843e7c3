"""The affine calibration of a prior's log f (evaluate/calibration.py): the identity at slope 1, shift 0;
a maximum of the likelihood against a brute-force grid around it; and invariance to how widely the
network spreads a ranking (a network with its spread doubled calibrates to the same prior)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from deepwas_dist.evaluate.calibration import Calibrated, calibrate
from deepwas_dist.evaluate.objective import slice_loss

from .conftest import shaped_mlp


def nll_per_snp(net, batches, log_N) -> float:
    with torch.no_grad():
        tot = sum(float(slice_loss(b, net(b.features.double(), None), net.log_sigma.double(), log_N, "likelihood",
                                   method="exact", log_lambda=net.log_lambda())[0]) for b in batches)
    return tot / sum(b.n for b in batches)


@pytest.fixture(scope="module")
def calibrated(small_fit):
    _, batches, log_N, feats, _, url = small_fit
    net = shaped_mlp(url).double()
    cal, trace = calibrate(net, batches, log_N)
    return net, cal, trace, batches, log_N, feats


def test_identity_at_slope_one_shift_zero(calibrated):
    net, _, _, batches, _, feats = calibrated
    ident = Calibrated(net, torch.tensor([-9.0]))
    X = feats[0][0].double()
    torch.testing.assert_close(ident(X, None), net(X, None), rtol=0, atol=1e-12)


def test_the_fit_is_a_maximum_of_the_likelihood(calibrated):
    net, cal, trace, batches, log_N, _ = calibrated
    assert trace.max_grad < 1e-6
    best = nll_per_snp(cal, batches, log_N)
    assert best < nll_per_snp(net, batches, log_N)                 # better than the network as it was
    b0, a0 = float(cal.slope.detach()), float(cal.shift.detach())
    for db in (-0.05, 0.0, 0.05):
        for da in (-0.05, 0.0, 0.05):
            other = copy.deepcopy(cal)
            with torch.no_grad():
                other.slope.fill_(b0 + db)
                other.shift.fill_(a0 + da)
            assert nll_per_snp(other, batches, log_N) >= best - 1e-12, (db, da)


def test_a_wider_spread_of_the_same_ranking_calibrates_to_the_same_prior(calibrated):
    net, cal, _, batches, log_N, feats = calibrated
    wide = copy.deepcopy(net)
    with torch.no_grad():
        wide.head.weight.mul_(2.0)
        wide.head.bias.mul_(2.0)
    cal2, trace = calibrate(wide, batches, log_N)
    assert trace.max_grad < 1e-6
    assert float(cal2.slope.detach()) == pytest.approx(float(cal.slope.detach()) / 2, rel=1e-4)
    with torch.no_grad():
        for X, _ in feats:
            np.testing.assert_allclose(cal2(X, None).numpy(), cal(X, None).numpy(), rtol=0, atol=1e-4)
