"""Shared fixtures: the real data beside the checkout, seeded RNGs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (1000G chr22 panel, UK Biobank height chr22); skips the test when absent."""
    if not (SHARED_DATA / "1000G_eur_chr22.bed").exists():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
