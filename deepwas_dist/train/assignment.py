"""Which worker scores which slice at which step: each rank owns a fixed shard; every slice once per epoch.

Rule (seeded, so every rank computes the whole plan without talking, and a resumed run recomputes it):
  1. once per run, the training slices are dealt to ``world`` shards by LPT on ``slice_cost`` (largest
     first, each to the least-loaded shard; equal costs in a seeded order): a rank owns its shard for
     the whole run, so its slice cache (:mod:`.cache`) is filled in the first epoch and hit after;
  2. every epoch has S = ceil(slices / (world x accumulation)) steps (``accumulation``: slices per rank
     per step, on average), the same S for every rank: one all-reduce each;
  3. per epoch, each rank deals its shard into its S steps by LPT on cost (each slice to the step with
     the least cost so far) in a seeded order, largest first up to a jitter (cost x e^(JITTER z)), then
     shuffles the steps' order (seeded by seed, epoch and rank). Each rank's steps cost about its shard's
     cost / S and the shards are balanced, so the ranks' steps are too; the jitter makes a step's slices
     differ between epochs. A rank with fewer slices than steps has empty steps (it joins the all-reduce
     with a zero gradient).
``EpochPlan.snps[s]`` is the core-SNP count of step s over all ranks: the loop divides every rank's loss
by it, so the all-reduced gradient is that of the step's per-SNP objective, whatever the world size.

Ray Data was considered for streaming and prefetch and not chosen. Its unit is a row or a block that it
splits over workers by rows, and it streams a dataset through each epoch afresh; here a unit is one LD
slice (one Parquet row group, megabytes to gigabytes, costed m r^2) that must stay on one rank, in its
memory or on its GPU, for the whole run, and every rank must know every step's SNP count. Expressing
that means a custom split plus our own per-rank cache on top of Ray Data's, i.e. the same code with a
second scheduler in the way. What Ray Data would add, overlapping reads with compute, is one background
thread (:meth:`.cache.SliceCache.prefetch`) once the shard is resident.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

SliceKey = tuple[int, int]   # (chromosome, slice id)

#: Log-normal jitter of the per-epoch LPT order (rule 3). On 2,700 slices of realistic costs (m 2-12k,
#: r 0.5-4k) with accumulation 2, the sum over steps of the slowest rank's step cost is 1.15, 1.56 and
#: 1.89 x the ideal (total / world) for 2, 8 and 32 ranks, against 1.16, 1.53, 1.87 for the old per-step
#: LPT of freshly shuffled slices, and 1.37, 2.10, 2.59 for cutting a shuffled shard into equal counts.
JITTER = 0.3


@dataclass(frozen=True)
class EpochPlan:
    """steps[s][rank] = the slice keys rank scores at step s; snps[s] = core SNPs in step s (all ranks)."""

    steps: list[list[list[SliceKey]]]
    snps: list[int]

    @property
    def num_steps(self) -> int:
        return len(self.steps)

    def for_rank(self, rank: int, world: int | None = None) -> list[list[SliceKey]]:
        """Rank's slices per step. With ``world`` below the plan's rank count, rank scores the planned
        ranks rank, rank + world, ... (one worker taking a W-worker run's steps: the DDP test)."""
        n = len(self.steps[0]) if self.steps else 1
        mine = range(rank, n, world or n)
        return [[k for r in mine for k in step[r]] for step in self.steps]


@dataclass(frozen=True)
class ShardPlan:
    """The run's fixed shards (``shards[rank]``, with their slices' costs and core SNPs) and steps per epoch."""

    shards: list[list[SliceKey]]
    costs: list[list[float]]
    n_core: list[list[int]]
    num_steps: int
    seed: int

    @property
    def world(self) -> int:
        return len(self.shards)

    def shard_costs(self) -> list[float]:
        return [float(sum(c)) for c in self.costs]

    def rank_steps(self, rank: int, epoch: int) -> list[list[SliceKey]]:
        """Rank's shard dealt into ``num_steps`` steps for this epoch (rule 3)."""
        keys, costs, S = self.shards[rank], np.asarray(self.costs[rank], dtype=np.float64), self.num_steps
        rng = np.random.default_rng([self.seed, epoch, rank])
        order = np.argsort(-costs * np.exp(JITTER * rng.standard_normal(len(keys))), kind="stable")
        steps: list[list[SliceKey]] = [[] for _ in range(S)]
        heap = [(0.0, s) for s in range(S)]
        for i in order:
            load, s = heapq.heappop(heap)
            steps[s].append(keys[int(i)])
            heapq.heappush(heap, (load + float(costs[i]), s))
        return [steps[int(s)] for s in rng.permutation(S)]

    def epoch(self, epoch: int) -> EpochPlan:
        """Every rank's steps in ``epoch`` and each step's core SNPs over all ranks."""
        per_rank = [self.rank_steps(r, epoch) for r in range(self.world)]
        ncore = {k: n for keys, ns in zip(self.shards, self.n_core) for k, n in zip(keys, ns)}
        steps = [[per_rank[r][s] for r in range(self.world)] for s in range(self.num_steps)]
        return EpochPlan(steps=steps, snps=[int(sum(ncore[k] for rank in st for k in rank)) for st in steps])


def slice_cost(m: int, r: int) -> float:
    """Relative cost of one slice's NLL + gradient: m r^2 (K product) + r^3 (factorisation)."""
    return float(m) * r * r + float(r) ** 3


def plan_shards(keys: list[SliceKey], costs: list[float], n_core: list[int], world: int, accumulation: int,
                seed: int) -> ShardPlan:
    """The run's shards for ``world`` ranks with ``accumulation`` slices per rank per step (rules 1-2)."""
    if world < 1 or accumulation < 1:
        raise ValueError("world and accumulation must be >= 1")
    tie = np.random.default_rng([seed, 0x5EED]).permutation(len(keys))
    order = sorted(range(len(keys)), key=lambda i: (-costs[i], int(tie[i])))
    shards: list[list[int]] = [[] for _ in range(world)]
    heap = [(0.0, r) for r in range(world)]
    for i in order:
        load, r = heapq.heappop(heap)
        shards[r].append(i)
        heapq.heappush(heap, (load + costs[i], r))
    return ShardPlan(shards=[[keys[i] for i in s] for s in shards],
                     costs=[[float(costs[i]) for i in s] for s in shards],
                     n_core=[[int(n_core[i]) for i in s] for s in shards],
                     num_steps=math.ceil(len(keys) / (world * accumulation)), seed=seed)


def split_evenly(keys: list[SliceKey], costs: list[float], world: int) -> list[list[SliceKey]]:
    """Evaluation split: all ``keys`` over ``world`` ranks by LPT on cost (no step structure)."""
    load = [0.0] * world
    out: list[list[SliceKey]] = [[] for _ in range(world)]
    for i in sorted(range(len(keys)), key=lambda i: (-costs[i], keys[i])):
        r = min(range(world), key=lambda k: (load[k], k))
        out[r].append(keys[i])
        load[r] += costs[i]
    return out
