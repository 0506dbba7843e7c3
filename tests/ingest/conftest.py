"""Fixtures shared by the ingestion tests."""
from __future__ import annotations

import numpy as np
import pytest

from deepwas_dist.data import schema as S
from deepwas_dist.ingest.plink import ld_matrix, standardize
from deepwas_dist.simulate import simulate_panel
from tests.ingest.test_pipeline import write_bed


@pytest.fixture(scope="session")
def chr1(tmp_path_factory):
    """A 5 Mb msprime chromosome (200 people) as a PLINK panel, and its dense LD matrix."""
    p = simulate_panel(200, (1,), 5.0, seed=11)[0]
    d = tmp_path_factory.mktemp("chr1")
    write_bed(d / "panel", [p])
    R = ld_matrix(standardize(p.genotypes.astype(np.float64)))
    return {"prefix": str(d / "panel"), "snps": p.snps, "R": R, "bp": p.snps[S.BP].to_numpy()}
