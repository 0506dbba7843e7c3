"""Population histories for the coalescent simulator, chosen so that simulated LD decays like real LD.

LD at a distance of c Morgans reflects the population size about 1 / (2c) generations ago. A constant
Ne = 10,000 therefore gives too little short-range LD and a long, slowly decaying tail: every doubling of
distance adds about the same LD score (E[r^2] ~ 1 / (4 Ne c)). European LD is the opposite, from an
old out-of-Africa bottleneck (strong LD over tens of kb) and a recent expansion (little LD beyond 1 Mb).
The slice model keeps only LD within its flanks, so the tail decides how wrong that approximation is;
a simulator with a human-like tail tests the method on the LD it will meet.

``python -m deepwas_dist.bench ld-decay`` measures the LD score each history puts in each distance bin
against the real 1000 Genomes European chr22 panel (the README's table, docs/results/ld_decay.json).

  * ``european`` (default): the European lineage of Tennessen et al. (2012, Science 337:64), a single
    population without migration. Sizes backwards in time: 512,000 today, shrinking at 1.95% per
    generation to 9,570 at 204 generations; then at 0.307% per generation to 1,061 at 920; 1,861 (the
    out-of-Africa bottleneck) to 2,040; 14,474 to 5,920; 7,310 before.
  * ``constant``: Ne = 10,000 throughout (the simulator's history before this module existed).

Each history comes with the mutation rate that gives about 0.36 SNPs per kb with MAF >= 1% in a panel of
1,000 (close to HapMap3's density, 0.37 per kb genome-wide); rates are lower than the human 1.2e-8 on
purpose, so slices stay small. Recombination is uniform at 1e-8 per bp (1 cM/Mb) in both.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import msprime

from ..errors import InputError


@dataclass(frozen=True)
class History:
    """A named population history: ``build(Ne)`` gives the msprime Demography (``Ne`` is used by
    ``constant`` only), ``mutation_rate`` the default rate per bp per generation."""

    name: str
    mutation_rate: float
    build: Callable[[float], msprime.Demography]
    summary: str


def _constant(Ne: float) -> msprime.Demography:
    return msprime.Demography.isolated_model([float(Ne)])


def _european(_Ne: float) -> msprime.Demography:
    d = msprime.Demography()
    d.add_population(name="EUR", initial_size=512_000, growth_rate=0.0195)
    d.add_population_parameters_change(time=204, initial_size=9_570, growth_rate=0.00307)
    d.add_population_parameters_change(time=920, initial_size=1_861, growth_rate=0.0)
    d.add_population_parameters_change(time=2_040, initial_size=14_474)
    d.add_population_parameters_change(time=5_920, initial_size=7_310)
    return d


HISTORIES = {
    "european": History("european", 4e-9, _european,
                        "Tennessen et al. 2012 European lineage: bottleneck and recent growth"),
    "constant": History("constant", 2e-9, _constant, "constant Ne = 10,000"),
}
DEFAULT_HISTORY = "european"
#: Ne of the ``constant`` history unless given.
DEFAULT_NE = 10_000


def history(name: str) -> History:
    """The history called ``name``; InputError naming ``--demography`` otherwise."""
    try:
        return HISTORIES[name]
    except KeyError:
        raise InputError(f"--demography must be one of {sorted(HISTORIES)}, got {name!r}") from None
