"""assignment.plan_shards: fixed cost-balanced shards, every slice once per epoch, equal steps (no Ray)."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from deepwas_dist.train.assignment import plan_shards, slice_cost, split_evenly


def _slices(n: int, seed: int = 0):
    """n slice keys over 3 chromosomes with a realistic cost mix (m 300-3000 SNPs, rank 100-1000)."""
    g = np.random.default_rng(seed)
    keys = [(1 + i % 3, i // 3) for i in range(n)]
    m = g.integers(300, 3000, n)
    r = np.minimum(m, g.integers(100, 1000, n))
    costs = [slice_cost(int(a), int(b)) for a, b in zip(m, r)]
    ncore = [int(x) for x in g.integers(50, 400, n)]
    return keys, costs, ncore


@pytest.mark.parametrize("n,world,acc", [(1, 1, 1), (9, 2, 1), (9, 2, 2), (10, 2, 2), (37, 4, 3), (100, 8, 2),
                                         (5, 8, 1)])
def test_every_slice_once_per_epoch_fixed_shards_equal_steps(n, world, acc):
    keys, costs, ncore = _slices(n)
    shards = plan_shards(keys, costs, ncore, world, acc, seed=11)
    assert Counter(k for s in shards.shards for k in s) == Counter(keys), "the shards partition the slices"
    n_core = dict(zip(keys, ncore))
    orders = []
    for epoch in range(4):
        plan = shards.epoch(epoch)
        assert plan.num_steps == shards.num_steps == -(-n // (world * acc))
        seen = Counter(k for step in plan.steps for rank in step for k in rank)
        assert seen == Counter(keys), "every training slice exactly once per epoch"
        for r in range(world):       # rank r scores its own shard, all of it, and nothing else
            mine = plan.for_rank(r)
            assert len(mine) == plan.num_steps, "every rank runs the same number of steps (all-reduces)"
            assert sorted(k for st in mine for k in st) == sorted(shards.shards[r])
        for s, step in enumerate(plan.steps):   # snps[s] = the step's core SNPs over all ranks
            assert plan.snps[s] == sum(n_core[k] for rank in step for k in rank)
        orders.append([k for st in plan.for_rank(world - 1) for k in st])
    if len(shards.shards[world - 1]) > 3:
        assert len({tuple(o) for o in orders}) > 1, "a rank's order within its shard changes between epochs"


def test_plan_is_deterministic_in_seed_epoch_and_rank():
    """What a resumed run relies on: the same arguments give the same shards and steps."""
    keys, costs, ncore = _slices(40)
    a = plan_shards(keys, costs, ncore, 4, 2, seed=3)
    b = plan_shards(list(keys), list(costs), list(ncore), 4, 2, seed=3)
    assert a == b and a.epoch(5) == b.epoch(5)
    assert a.epoch(6).steps != a.epoch(5).steps, "epochs reshuffle within the shards"
    assert plan_shards(keys, costs, ncore, 4, 2, seed=4).epoch(5).steps != a.epoch(5).steps, "seeds reshuffle"


def test_shards_are_cost_balanced():
    g = np.random.default_rng(1)
    for n, world in [(400, 4), (2700, 32), (50, 8)]:
        keys = [(1, i) for i in range(n)]
        costs = list(g.lognormal(0.0, 0.7, n))          # ~ 7x spread between the 5% and 95% quantiles
        loads = plan_shards(keys, costs, [1] * n, world, 2, seed=0).shard_costs()
        mean = sum(costs) / world
        assert max(loads) <= mean + max(costs) + 1e-9, "Graham's bound for a greedy list schedule"
        if n / world >= 50:
            assert max(loads) / mean <= 1.01


def test_steps_within_a_rank_are_cost_balanced():
    """LPT into the steps: each rank's step costs stay near its shard cost / steps (Graham's bound)."""
    keys, costs, ncore = _slices(400, seed=2)
    cost = dict(zip(keys, costs))
    shards = plan_shards(keys, costs, ncore, 4, 5, seed=0)
    for epoch in range(3):
        plan = shards.epoch(epoch)
        for r in range(4):
            loads = [sum(cost[k] for k in st) for st in plan.for_rank(r)]
            ideal = sum(loads) / plan.num_steps
            assert max(loads) <= ideal + max(cost[k] for k in shards.shards[r]) + 1e-6


def test_one_rank_can_take_the_steps_of_several():
    """for_rank(r, world): with fewer workers than planned ranks, rank r scores planned ranks r, r + world,
    ...; one worker then scores every step's whole slice set (the DDP-equivalence test's reference)."""
    keys, costs, ncore = _slices(23)
    plan = plan_shards(keys, costs, ncore, 2, 2, seed=0).epoch(1)
    one = plan.for_rank(0, 1)
    assert [sorted(s) for s in one] == [sorted(st[0] + st[1]) for st in plan.steps]
    assert plan.for_rank(1, 2) == plan.for_rank(1)


def test_fewer_slices_than_ranks_leaves_empty_steps():
    keys, costs, ncore = _slices(5)
    plan = plan_shards(keys, costs, ncore, 8, 1, seed=0).epoch(0)
    assert plan.num_steps == 1
    assert sum(1 for r in plan.steps[0] if not r) == 3, "three ranks join the all-reduce with no slice"


def test_split_evenly_covers_all_keys_once():
    keys, costs, _ = _slices(31)
    parts = split_evenly(keys, costs, 4)
    assert Counter(k for p in parts for k in p) == Counter(keys)
    loads = [sum(costs[keys.index(k)] for k in p) for p in parts]
    assert max(loads) <= sum(loads) / 4 + max(costs)


def test_bad_world_or_accumulation_and_empty():
    with pytest.raises(ValueError):
        plan_shards([(1, 0)], [1.0], [1], 0, 1, 0)
    with pytest.raises(ValueError):
        plan_shards([(1, 0)], [1.0], [1], 1, 0, 0)
    assert plan_shards([], [], [], 2, 2, 0).epoch(0).num_steps == 0
