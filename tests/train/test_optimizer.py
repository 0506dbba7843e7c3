"""The optimiser's parameter groups (train/loop.py:make_optimizer): weight decay shrinks the network's
weights only, never its biases (the output bias is log f ~ -10: decaying it pulls the prior towards f = 1)
or the nuisance scalars, which also train at their own rate."""
from __future__ import annotations

import pytest
import torch

from deepwas_dist.models import build_prior
from deepwas_dist.train.config import TrainConfig
from deepwas_dist.train.loop import NUISANCE_LR_FACTOR, make_optimizer


@pytest.mark.parametrize("model", ["mlp", "conv"])
def test_decay_shrinks_weights_not_biases(model):
    torch.manual_seed(0)
    net = build_prior(model, "tiny", n_features=5, n_traits=2, n_tracks=2 if model == "conv" else 0,
                      window=8 if model == "conv" else 0)
    with torch.no_grad():
        net.bias.fill_(-10.0)
    net.enable_mismatch(0.01, learn=True)
    cfg = TrainConfig(lr=1e-2, weight_decay=10.0)
    opt = make_optimizer(cfg, net)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    for _ in range(5):                       # zero gradients: only the decay moves anything
        opt.zero_grad(set_to_none=False)
        for p in net.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()
    shrink = (1 - cfg.lr * cfg.weight_decay) ** 5
    for n, p in net.named_parameters():
        if p.dim() >= 2:
            torch.testing.assert_close(p.detach(), before[n] * shrink, msg=n)
        else:
            assert torch.equal(p.detach(), before[n]), f"{n} was decayed"
    lrs = sorted(g["lr"] for g in opt.param_groups if g["params"])
    assert lrs == [cfg.lr, cfg.lr, min(cfg.lr * NUISANCE_LR_FACTOR, 0.03)]
