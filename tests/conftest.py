"""Shared fixtures: the real data beside the checkout, seeded RNGs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deepwas_dist.realdata import shared_data_dir

SHARED_DATA = shared_data_dir()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (1000G chr22 panel, UK Biobank height chr22); skips the test when absent."""
    if not (SHARED_DATA / "1000G_eur_chr22.bed").exists():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
