"""Small simulated panels shared by the simulation tests (module-level caching keeps the folder fast)."""
from __future__ import annotations

import pytest

from deepwas_dist.simulate import Features, simulate_features, simulate_panel


@pytest.fixture(scope="session")
def small_panels():
    """Two chromosomes, 200 diploids, 2 Mb each (several hundred SNPs each)."""
    return simulate_panel(n_individuals=200, chroms=(1, 2), length_mb=2.0, seed=7)


@pytest.fixture(scope="session")
def small_features(small_panels) -> Features:
    return simulate_features(small_panels, seed=3)


@pytest.fixture(scope="session")
def panel_and_cohort():
    """One 1 Mb chromosome: a 150-person reference panel and a 600-person GWAS cohort, one genealogy."""
    from deepwas_dist.simulate.genotypes import simulate_panel_and_cohort
    return simulate_panel_and_cohort(n_individuals=150, n_cohort=600, chroms=(1,), length_mb=1.0, seed=4)[0]
