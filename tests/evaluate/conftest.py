"""Fixtures of the evaluation tests: a tiny simulated dataset with a linear prior on it, and a shaped mlp."""
from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def small_fit(tmp_path_factory):
    """A tiny simulated dataset (2 chromosomes x 3 Mb, 6 slices) and a linear prior polished on it."""
    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.simulate.dataset import SimulationSpec, write_simulated_dataset
    from deepwas_dist.simulate.traits import TraitSpec
    from deepwas_dist.train.config import TrainConfig
    from deepwas_dist.train.holdout import HoldoutSplit
    from deepwas_dist.train.loop import build_model
    from deepwas_dist.train.plan import plan_for, slice_keys

    url = str(tmp_path_factory.mktemp("jk") / "sim")
    # In-sample design and no mismatch term: this checks the refit numerics on a well-posed fit (on the
    # out-of-sample design the unregularised Newton refits of this tiny case diverge; see report.py's fallback).
    write_simulated_dataset(url, SimulationSpec(n_individuals=500, chroms=(1, 2), length_mb=3.0, seed=1, n_tracks=0,
                                                design="in-sample",
                                                traits=(TraitSpec("t", h2=0.3, N=30_000, truth="linear"),)),
                            log=lambda s: None)
    ds = Dataset.open(url)
    cfg = TrainConfig(data=url, model="linear", method="exact", mismatch="off", sigma="learn")   # tiny: no intercept
    plan = plan_for(cfg, ds, ["t"], HoldoutSplit("none", slice_keys(ds), []))
    batches = [ds.read_slice(c, s, ["t"]) for c, s in plan.train_keys]
    feats = [ds.features(c)[1:] for c in ds.chromosomes]
    A = np.concatenate([ds.snps(c)[ds.binary_features].to_numpy(np.float64) for c in ds.chromosomes])
    return build_model(cfg, plan), batches, torch.tensor(plan.log_N, dtype=torch.float64), feats, A, url


def shaped_mlp(url: str):
    """An mlp/small prior of the dataset at ``url`` with a random (not flat) shape."""
    from deepwas_dist.data.reader import Dataset
    from deepwas_dist.train.config import TrainConfig
    from deepwas_dist.train.holdout import HoldoutSplit
    from deepwas_dist.train.loop import build_model
    from deepwas_dist.train.plan import plan_for, slice_keys

    ds = Dataset.open(url)
    cfg = TrainConfig(data=url, model="mlp", size="small", method="exact", mismatch="off", sigma="learn")
    net = build_model(cfg, plan_for(cfg, ds, ["t"], HoldoutSplit("none", slice_keys(ds), [])))
    with torch.no_grad():
        net.head.weight.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(0))
    return net
