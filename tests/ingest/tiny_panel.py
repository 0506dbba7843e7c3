"""A tiny dataset with SNPs at chosen positions (identity LD), for the BED and bigWig ingest tests."""
from __future__ import annotations

import numpy as np
import pandas as pd

from deepwas_dist.data import DatasetWriter


def write_panel(url: str, positions: dict[int, list[int]], build: str | None = "hg19",
                tracks: bool = False) -> str:
    """Dataset at ``url``: chromosome -> 1-based SNP positions; one annotation 'base'; identity LD."""
    with DatasetWriter(url, build=build, overwrite=True) as w:
        for c, bp in sorted(positions.items()):
            m = len(bp)
            snps = pd.DataFrame({"SNP": [f"s{c}_{i}" for i in range(m)], "BP": np.asarray(bp, dtype=np.int64),
                                 "A1": "A", "A2": "G"})
            ann = pd.DataFrame({"SNP": snps["SNP"], "base": 1.0})
            trk = np.zeros((m, 1, 2), dtype=np.float32) if tracks else None
            w.add_snps(c, snps, ann, tracks=trk)
            w.add_ld_slices(c, lambda lo, hi: np.eye(hi - lo), core_kb=1000, bandwidth_kb=100, n_ref=100)
    return url
