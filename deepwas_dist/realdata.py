"""Where the small real data set lives (1000 Genomes chr22 panel, UK Biobank height chr22).

Set DEEPWAS_SHARED_DATA to override; the default is ``../shared/data`` beside the checkout.
"""
from __future__ import annotations

import os
from pathlib import Path

PANEL_PREFIX = "1000G_eur_chr22"
HEIGHT_SUMSTATS = "ukb_height_chr22.fastGWA.gz"


def shared_data_dir() -> Path:
    """The real-data directory (it may not exist: callers check)."""
    env = os.environ.get("DEEPWAS_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def panel_prefix() -> Path | None:
    """PLINK prefix of the 1000G chr22 panel, or None when the data is absent."""
    p = shared_data_dir() / PANEL_PREFIX
    return p if p.with_suffix(".bed").exists() else None
