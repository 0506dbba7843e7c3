"""Realistic LD matrices for the maths tests: 1000G chr22 panel LD (rank-deficient), and a simulated
full-rank panel (used when the real data is absent, and for the full-rank cases)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest

from deepwas_dist.bench.panels import fullrank_ld, lowrank_ld, middle_third_core
from deepwas_dist.realdata import panel_prefix


@lru_cache(maxsize=None)
def panel_ld(kind: str, m: int, start: int = 3000) -> np.ndarray:
    """(m, m) LD: kind 'lowrank' (1000G, skips without the data) or 'fullrank' (msprime)."""
    if kind == "lowrank":
        if panel_prefix() is None:
            pytest.skip("1000G panel not in ../shared/data")
        return lowrank_ld(m, start=start)
    return fullrank_ld(m, seed=3)


__all__ = ["panel_ld", "middle_third_core"]
