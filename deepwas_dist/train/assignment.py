"""Which worker scores which slice at which step: every slice once per epoch, balanced by cost.

Ray Train's default dataset split truncates leftover rows and balances row counts, not work; a
slice's cost grows like m r^2, so we assign slices ourselves. Per epoch (seeded by seed and epoch, so
every rank computes the same plan without talking):
  1. shuffle the slices and cut them into S steps of about ``world * accumulation`` slices;
  2. within a step, give each slice to the least-loaded rank, largest first (LPT scheduling).
Every rank runs the same S steps (an all-reduce each), possibly with no slice at some steps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SliceKey = tuple[int, int]   # (chromosome, slice id)


@dataclass(frozen=True)
class EpochPlan:
    """steps[s][rank] = the slice keys rank scores at step s; snps[s] = core SNPs in step s (all ranks)."""

    steps: list[list[list[SliceKey]]]
    snps: list[int]

    @property
    def num_steps(self) -> int:
        return len(self.steps)

    def for_rank(self, rank: int) -> list[list[SliceKey]]:
        return [step[rank] for step in self.steps]


def slice_cost(m: int, r: int) -> float:
    """Relative cost of one slice's NLL + gradient: m r^2 (K product) + r^3 (factorisation)."""
    return float(m) * r * r + float(r) ** 3


def plan_epoch(keys: list[SliceKey], costs: list[float], n_core: list[int], world: int, accumulation: int,
               seed: int, epoch: int) -> EpochPlan:
    """The epoch's schedule for ``world`` ranks with ``accumulation`` slices per rank per step."""
    if world < 1 or accumulation < 1:
        raise ValueError("world and accumulation must be >= 1")
    if not keys:
        return EpochPlan(steps=[], snps=[])
    order = np.random.default_rng([seed, epoch]).permutation(len(keys))
    per_step = world * accumulation
    n_steps = math.ceil(len(keys) / per_step)
    steps, snps = [], []
    for s in range(n_steps):
        chunk = order[s * per_step:(s + 1) * per_step]
        chunk = sorted(chunk, key=lambda i: (-costs[i], keys[i]))          # largest first, ties by key
        load = [0.0] * world
        ranks: list[list[SliceKey]] = [[] for _ in range(world)]
        for i in chunk:
            r = min(range(world), key=lambda k: (load[k], k))
            ranks[r].append(keys[i])
            load[r] += costs[i]
        steps.append(ranks)
        snps.append(int(sum(n_core[i] for i in chunk)))
    return EpochPlan(steps=steps, snps=snps)


def split_evenly(keys: list[SliceKey], costs: list[float], world: int) -> list[list[SliceKey]]:
    """Evaluation split: all ``keys`` over ``world`` ranks by LPT on cost (no step structure)."""
    load = [0.0] * world
    out: list[list[SliceKey]] = [[] for _ in range(world)]
    for i in sorted(range(len(keys)), key=lambda i: (-costs[i], keys[i])):
        r = min(range(world), key=lambda k: (load[k], k))
        out[r].append(keys[i])
        load[r] += costs[i]
    return out
