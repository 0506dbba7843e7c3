"""Fixtures for the dataset tests: a small random reference panel and its inputs, and an S3 server.

``s3_storage_options`` starts moto's S3 server (127.0.0.1, a free port) once per session, creates a
bucket and yields s3fs storage options; other test packages can copy or move it to tests/conftest.py.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.data import DatasetWriter, Manifest
from tests.conftest import S3_BUCKET  # noqa: F401 - the bucket of the session S3 server

CORE_KB = 500.0
BANDWIDTH_KB = 250.0


@dataclass
class Toy:
    """Inputs of a two-chromosome dataset and the LD matrices they come from."""

    snps: dict[int, pd.DataFrame]
    ann: dict[int, pd.DataFrame]
    tracks: dict[int, np.ndarray]
    R: dict[int, np.ndarray]
    sumstats: dict[str, pd.DataFrame]
    n_ref: int
    extra: dict = field(default_factory=dict)

    @property
    def chroms(self) -> list[int]:
        return sorted(self.snps)


def _panel(rng: np.random.Generator, n_ref: int, M: int, rho: float = 0.95) -> np.ndarray:
    """Standardised AR(1) genotypes (n_ref x M): LD decays with distance,
    rank <= n_ref (< core size: rank-deficient LD)."""
    X = np.empty((n_ref, M))
    X[:, 0] = rng.standard_normal(n_ref)
    for j in range(1, M):
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho ** 2) * rng.standard_normal(n_ref)
    X = (X - X.mean(0)) / X.std(0)
    return X


def make_toy(seed: int = 7, sizes: dict[int, int] | None = None, n_ref: int = 80) -> Toy:
    rng = np.random.default_rng(seed)
    sizes = sizes or {1: 600, 2: 300}
    snps, ann, tracks, R = {}, {}, {}, {}
    for c, M in sizes.items():
        bp = np.sort(rng.choice(np.arange(1, 3_000_000), M, replace=False))
        bp[5] = bp[4]                      # a multi-allelic site: equal positions are allowed
        snps[c] = pd.DataFrame({"CHR": c, "SNP": [f"rs{c}_{i}" for i in range(M)], "BP": bp,
                                "A1": rng.choice(list("ACGT"), M), "A2": "N", "CM": bp / 1e6 * 1.3,
                                "MAF": rng.uniform(0.01, 0.5, M)})
        snps[c]["A2"] = np.where(snps[c]["A1"] == "A", "G", "A")
        ann[c] = pd.DataFrame({"SNP": snps[c]["SNP"], "base": 1.0, "coding": rng.integers(0, 2, M),
                               "cons": rng.standard_normal(M) * 2 + 1})
        tracks[c] = rng.standard_normal((M, 2, 4)).astype(np.float32)
        X = _panel(rng, n_ref, M)
        R[c] = X.T @ X / n_ref
    ids = np.concatenate([snps[c]["SNP"].to_numpy() for c in sizes])
    a1 = np.concatenate([snps[c]["A1"].to_numpy() for c in sizes])
    a2 = np.concatenate([snps[c]["A2"].to_numpy() for c in sizes])
    n_all = ids.size
    t1 = pd.DataFrame({"SNP": ids, "A1": a1, "A2": a2, "Z": rng.standard_normal(n_all),
                       "N": rng.uniform(5e4, 1e5, n_all).round(), "F_TRUE": rng.exponential(1e-5, n_all)})
    t1 = pd.concat([t1, pd.DataFrame({"SNP": ["rs_not_in_ref"], "A1": ["A"], "A2": ["G"], "Z": [1.0],
                                      "N": [1e5], "F_TRUE": [0.0]})], ignore_index=True)
    keep2 = rng.random(n_all) > 0.15       # trait 2 misses ~15% of SNPs
    t2 = pd.DataFrame({"SNP": ids[keep2], "Z": rng.standard_normal(keep2.sum()) * 1.5, "N": 3e5})
    return Toy(snps=snps, ann=ann, tracks=tracks, R=R, sumstats={"t1": t1, "t2": t2}, n_ref=n_ref)


def write_toy(toy: Toy, url: str, storage_options: dict | None = None, *, dtype: str = "float32",
              bandwidth_kb: float | None = BANDWIDTH_KB, bandwidth_cm: float | None = None,
              core_kb: float = CORE_KB, **writer_kw) -> Manifest:
    with DatasetWriter(url, storage_options, build="hg19", **writer_kw) as w:
        for c in toy.chroms:
            w.add_snps(c, toy.snps[c], toy.ann[c], tracks=toy.tracks[c])
            R = toy.R[c]
            w.add_ld_slices(c, lambda lo, hi, R=R: R[lo:hi, lo:hi], core_kb=core_kb, bandwidth_kb=bandwidth_kb,
                            bandwidth_cm=bandwidth_cm, n_ref=toy.n_ref, dtype=dtype, ld_source="toy AR(1) panel")
        for t, df in toy.sumstats.items():
            w.add_sumstats(t, df)
    return w.manifest


@pytest.fixture(scope="session")
def toy() -> Toy:
    return make_toy()


@pytest.fixture(scope="session")
def toy_ds64(toy, tmp_path_factory) -> str:
    """The toy dataset with float64 storage (read-back must equal direct computation exactly)."""
    url = str(tmp_path_factory.mktemp("ds") / "toy64")
    write_toy(toy, url, dtype="float64")
    return url


@pytest.fixture(scope="session")
def toy_ds32(toy, tmp_path_factory) -> str:
    url = str(tmp_path_factory.mktemp("ds") / "toy32")
    write_toy(toy, url, dtype="float32")
    return url


# ------------------------------------------------------------------------------------------ S3 (moto)
@pytest.fixture
def s3_storage_options(s3_server) -> dict:
    return dict(s3_server["storage_options"])


@pytest.fixture
def s3_url(s3_server) -> str:
    """A fresh dataset URL in the test bucket."""
    return f"s3://{s3_server['bucket']}/ds-{uuid.uuid4().hex[:8]}"
