"""assignment.plan_epoch: which rank scores which slice at which step (no Ray)."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from deepwas_dist.train.assignment import plan_epoch, slice_cost, split_evenly


def _slices(n: int, seed: int = 0):
    """n slice keys over 3 chromosomes with a realistic cost mix (m 300-3000 SNPs, rank 100-1000)."""
    g = np.random.default_rng(seed)
    keys = [(1 + i % 3, i // 3) for i in range(n)]
    m = g.integers(300, 3000, n)
    r = np.minimum(m, g.integers(100, 1000, n))
    costs = [slice_cost(int(a), int(b)) for a, b in zip(m, r)]
    ncore = [int(x) for x in g.integers(50, 400, n)]
    return keys, costs, ncore


@pytest.mark.parametrize("n,world,acc", [(1, 1, 1), (9, 2, 1), (10, 2, 2), (37, 4, 3), (100, 8, 2), (5, 8, 1)])
def test_every_slice_once_per_epoch_and_steps_aligned(n, world, acc):
    keys, costs, ncore = _slices(n)
    for epoch in range(3):
        plan = plan_epoch(keys, costs, ncore, world, acc, seed=11, epoch=epoch)
        assert plan.num_steps == -(-n // (world * acc))
        seen = Counter(k for step in plan.steps for rank in step for k in rank)
        assert seen == Counter(keys), "every training slice exactly once per epoch"
        # every rank runs the same number of steps (one all-reduce each); a step holds at most world x acc
        # slices (LPT balances cost, not count, so one rank may take more than `acc` small ones)
        per_rank = [plan.for_rank(r) for r in range(world)]
        assert all(len(p) == plan.num_steps for p in per_rank)
        assert all(sum(len(r) for r in step) <= world * acc for step in plan.steps)
        # snps[s] = the step's core SNPs over all ranks
        n_core = dict(zip(keys, ncore))
        for s, step in enumerate(plan.steps):
            assert plan.snps[s] == sum(n_core[k] for rank in step for k in rank)


def test_plan_is_deterministic_in_seed_and_epoch():
    keys, costs, ncore = _slices(40)
    a = plan_epoch(keys, costs, ncore, 4, 2, seed=3, epoch=5)
    b = plan_epoch(list(keys), list(costs), list(ncore), 4, 2, seed=3, epoch=5)
    assert a == b
    assert plan_epoch(keys, costs, ncore, 4, 2, seed=3, epoch=6).steps != a.steps, "epochs reshuffle"
    assert plan_epoch(keys, costs, ncore, 4, 2, seed=4, epoch=5).steps != a.steps, "seeds reshuffle"


@pytest.mark.parametrize("acc", [1, 2, 3])
def test_world_times_accumulation_fixes_the_step_chunks(acc):
    """world=2, accumulation=a and world=1, accumulation=2a score the same slice sets at each step:
    what makes the two runs' optimiser steps identical (tests/train/test_ddp.py)."""
    keys, costs, ncore = _slices(23)
    for epoch in range(3):
        two = plan_epoch(keys, costs, ncore, 2, acc, seed=0, epoch=epoch)
        one = plan_epoch(keys, costs, ncore, 1, 2 * acc, seed=0, epoch=epoch)
        assert two.num_steps == one.num_steps
        assert two.snps == one.snps
        for s2, s1 in zip(two.steps, one.steps):
            assert sorted(k for rank in s2 for k in rank) == sorted(s1[0])


def test_lpt_balances_cost_within_each_step():
    g = np.random.default_rng(1)
    n, world, acc = 400, 4, 50
    keys = [(1, i) for i in range(n)]
    costs = list(g.lognormal(0.0, 0.7, n))                 # ~ 7x spread between the 5% and 95% quantiles
    plan = plan_epoch(keys, costs, [1] * n, world, acc, seed=0, epoch=0)
    cost = dict(zip(keys, costs))
    for step in plan.steps:
        loads = [sum(cost[k] for k in rank) for rank in step]
        ideal = sum(loads) / world
        assert max(loads) <= 1.03 * ideal
        # Graham's bound for any greedy list schedule, for every step size
        assert max(loads) <= ideal + max(cost[k] for rank in step for k in rank) + 1e-9


def test_split_evenly_covers_all_keys_once():
    keys, costs, _ = _slices(31)
    parts = split_evenly(keys, costs, 4)
    assert Counter(k for p in parts for k in p) == Counter(keys)
    loads = [sum(costs[keys.index(k)] for k in p) for p in parts]
    assert max(loads) <= sum(loads) / 4 + max(costs)


def test_bad_world_or_accumulation_and_empty():
    with pytest.raises(ValueError):
        plan_epoch([(1, 0)], [1.0], [1], 0, 1, 0, 0)
    with pytest.raises(ValueError):
        plan_epoch([(1, 0)], [1.0], [1], 1, 0, 0, 0)
    assert plan_epoch([], [], [], 2, 2, 0, 0).num_steps == 0
