"""objective.slice_loss and loop.save_state/load_state (no Ray)."""
from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch

from deepwas_dist.data.reader import Dataset
from deepwas_dist.ldsc import ldsc_loss
from deepwas_dist.likelihood import marginal_nll
from deepwas_dist.models import build_prior
from deepwas_dist.train.checkpoint import load_state, save_state
from deepwas_dist.train.config import TrainConfig
from deepwas_dist.train.loop import lr_lambda
from deepwas_dist.train.objective import probe_generator, slice_loss


@pytest.fixture(scope="module")
def batch_two_traits(sim_dataset):
    """A slice with two 'traits' (the simulated one twice, the second with its z-scores scaled)."""
    ds = Dataset.open(sim_dataset)
    b = ds.read_slice(1, 1, ["thr"])
    b.z = torch.cat([b.z, 1.3 * b.z], dim=1)
    b.N = torch.cat([b.N, b.N], dim=1)
    b.traits = ["thr", "thr2"]
    return b


def _inputs(b, seed=0):
    g = torch.Generator().manual_seed(seed)
    log_f = (math.log(0.3 / 4490) + 0.5 * torch.randn(b.m, 2, generator=g, dtype=torch.float64)).requires_grad_()
    log_sigma = torch.tensor([0.1, -0.2], dtype=torch.float64, requires_grad=True)
    log_N = torch.log(torch.tensor([3e4, 5e4], dtype=torch.float64))
    return log_f, log_sigma, log_N


@pytest.mark.parametrize("method", ["exact", "iterative"])
def test_likelihood_loss_is_the_sum_of_per_trait_nlls(batch_two_traits, method):
    b = batch_two_traits
    log_f, log_sigma, log_N = _inputs(b)
    loss, info = slice_loss(b, log_f, log_sigma, log_N, "likelihood", method, 8, probe_generator(0, 0, 1, 1))
    ref = 0.0
    for t in range(2):
        out = marginal_nll(b.ld, b.z[:, t], log_f[:, t] + log_N[t], log_sigma[t], method=method, num_probes=8,
                           generator=probe_generator(0, 0, 1, 1))
        ref = ref + out.nll
    if method == "exact":
        assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=1e-10)
    else:   # the batched call draws one probe set for both traits: equal in expectation, close here
        assert float(loss.detach()) == pytest.approx(float(ref.detach()), rel=2e-2)
    assert info["method"].startswith(method)
    loss.backward()
    assert torch.isfinite(log_f.grad).all() and torch.isfinite(log_sigma.grad).all()


def test_likelihood_loss_matches_single_trait_calls_exactly_in_gradient(batch_two_traits):
    b = batch_two_traits
    log_f, log_sigma, log_N = _inputs(b, seed=1)
    loss, _ = slice_loss(b, log_f, log_sigma, log_N, "likelihood", "exact")
    (g_f, g_s) = torch.autograd.grad(loss, (log_f, log_sigma))
    lf2, ls2 = log_f.detach().clone().requires_grad_(), log_sigma.detach().clone().requires_grad_()
    ref = sum(marginal_nll(b.ld, b.z[:, t], lf2[:, t] + log_N[t], ls2[t], method="exact").nll for t in range(2))
    (r_f, r_s) = torch.autograd.grad(ref, (lf2, ls2))
    torch.testing.assert_close(g_f, r_f, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(g_s, r_s, rtol=1e-9, atol=1e-12)


def test_ldsc_loss_is_n_times_the_sum_of_ldsc_losses(batch_two_traits):
    b = batch_two_traits
    log_f, log_sigma, log_N = _inputs(b, seed=2)
    loss, info = slice_loss(b, log_f, log_sigma, log_N, "ldsc")
    ref = sum(ldsc_loss(b.ld, b.z[:, t], log_f[:, t] + log_N[t], log_sigma[t]).loss for t in range(2))
    assert float(loss.detach()) == pytest.approx(b.n * float(ref.detach()), rel=1e-10)
    assert info == {"method": "ldsc", "cg_iters": 0}


def test_probe_generator_depends_only_on_seed_epoch_slice():
    a = torch.randn(5, generator=probe_generator(1, 2, 3, 4))
    assert torch.equal(a, torch.randn(5, generator=probe_generator(1, 2, 3, 4)))
    assert not torch.equal(a, torch.randn(5, generator=probe_generator(1, 3, 3, 4)))


def test_lr_schedule_warms_up_then_decays_to_ten_percent():
    f = lr_lambda(TrainConfig(epochs=4, warmup_epochs=1.0), steps_per_epoch=10)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0)
    assert f(39) < f(20) < f(10)
    assert f(40) == pytest.approx(0.1)


def test_save_and_load_state_round_trip(tmp_path):
    torch.manual_seed(0)
    net = build_prior("mlp", "tiny", n_features=5, n_traits=2)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(TrainConfig(epochs=3), 4))
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(7, 5)).square().sum().backward()
        opt.step()
        sched.step()
    torch.manual_seed(123)
    np.random.seed(5)
    random.seed(9)
    history = [{"epoch": 1, "train_loss_per_snp": 0.5}]
    save_state(str(tmp_path), net, opt, sched, epoch=1, step_in_epoch=2, global_step=7, history=history,
               partial=[1.5, 100.0, 2.0, 0.25])
    expect_torch, expect_np, expect_py = torch.rand(3), np.random.rand(3), random.random()

    state, meta = load_state(str(tmp_path))
    assert meta == {"epoch": 1, "step_in_epoch": 2, "global_step": 7, "history": history,
                    "partial": [1.5, 100.0, 2.0, 0.25]}
    torch.manual_seed(99)
    net2 = build_prior("mlp", "tiny", n_features=5, n_traits=2)
    opt2 = torch.optim.AdamW(net2.parameters(), lr=1e-2)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, lr_lambda(TrainConfig(epochs=3), 4))
    net2.load_state_dict(state["model"])
    opt2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    for k, v in net.state_dict().items():
        assert torch.equal(v, net2.state_dict()[k])
    assert sched2.last_epoch == sched.last_epoch == 3
    assert sched2.get_last_lr() == sched.get_last_lr()
    # one more identical step from either side gives identical parameters
    x = torch.randn(7, 5)
    for o, n in ((opt, net), (opt2, net2)):
        o.zero_grad()
        n(x).square().sum().backward()
        o.step()
    for p, q in zip(net.parameters(), net2.parameters()):
        assert torch.equal(p, q)
    torch.set_rng_state(state["torch_rng"])
    np.random.set_state(state["numpy_rng"])
    random.setstate(state["python_rng"])
    assert torch.equal(torch.rand(3), expect_torch)
    assert np.array_equal(np.random.rand(3), expect_np)
    assert random.random() == expect_py
