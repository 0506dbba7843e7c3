"""Simulation as Ray tasks (simulate/tasks.py): the same dataset as the in-process path, progress lines,
and what each task returns (the bounded-memory claim)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from deepwas_dist.data import Dataset
from deepwas_dist.data import schema as S
from deepwas_dist.errors import InputError
from deepwas_dist.simulate.dataset import SimulationSpec, write_simulated_dataset
from deepwas_dist.simulate.genotypes import chrom_simulator
from deepwas_dist.simulate.tasks import _simulate_task, _z_task
from deepwas_dist.simulate.traits import DEFAULT_TRAITS
from tests.ld_fixtures import assert_same_slices


def _spec(**kw) -> SimulationSpec:
    values = {"n_individuals": 200, "chroms": (1, 2, 3), "length_mb": 1.0, "seed": 5, "core_kb": 400.0,
              "bandwidth_kb": 200.0, "n_tracks": 2, "window": 8}
    values.update(kw)
    return SimulationSpec(**values)


def _files(ds: Dataset, prefix: str) -> dict[str, str]:
    """Checksums of the files under ``prefix``, with the writer id taken out of their names."""
    return {re.sub(r"part-[^-]+-", "part-", p): c for p, c in ds.manifest.checksums.items() if p.startswith(prefix)}


def _assert_same(a: Dataset, b: Dataset) -> None:
    assert _files(a, "snps/") == _files(b, "snps/") and _files(a, "snps/")   # SNP tables, annotations, tracks
    # LD slices: made by Ray tasks (one LAPACK thread) or in this process (several): same up to the last
    # bits, which float32 storage rounds away in most entries
    assert_same_slices(a, b, atol=1e-6)
    assert a.traits == b.traits and a.simulation == b.simulation
    for t in a.traits:
        x, y = a.sumstats(t), b.sumstats(t)
        for c in (S.SNP, S.N, S.F_TRUE):
            assert x[c].equals(y[c])
        # z: X^T (X b) by OpenBLAS, multi-threaded in this process, one thread in a Ray task: equal up to
        # the summation order (~1e-14 here)
        np.testing.assert_allclose(x[S.Z], y[S.Z], rtol=0, atol=1e-12)


@pytest.mark.parametrize("design", ["out-of-sample", "in-sample"])
def test_ray_dataset_equals_the_local_one(ray_session, tmp_path, design):
    spec = _spec(design=design) if design == "out-of-sample" else _spec(design=design, chroms=(2, 1), length_mb=0.5)
    local = write_simulated_dataset(str(tmp_path / "local"), spec, log=lambda s: None, workers=1)
    lines: list[str] = []
    write_simulated_dataset(str(tmp_path / "ray"), spec, log=lines.append, executor="ray", workers=2)
    _assert_same(Dataset.open(str(tmp_path / "local")), Dataset.open(str(tmp_path / "ray")))
    assert local.snps.n_total == Dataset.open(str(tmp_path / "ray")).n_snps
    n = len(spec.chroms)
    for what in ("simulated", "z drawn", "written"):      # one line per finished task, k/n with elapsed time
        done = [line for line in lines if f" {what}" in line]
        assert [int(re.search(r"\((\d+)/(\d+) chromosomes, [\d.]+ s\)", d).group(1)) for d in done] == \
            list(range(1, n + 1)), lines
    written = [line for line in lines if " written" in line]
    assert [int(re.search(r"chr(\d+)", w).group(1)) for w in written] == list(spec.chroms)   # in order


def test_what_the_tasks_return():
    """Round 1 returns the SNP table and int8 genotypes (n x M bytes each); round 2 only T z vectors."""
    job = chrom_simulator(50, 300, 0.3, 1, {})
    snps, panel, cohort = _simulate_task(job, 4)
    M = len(snps)
    assert M > 10 and panel.shape == (50, M) and cohort.shape == (300, M)
    assert panel.dtype == cohort.dtype == np.int8
    fs = [np.full(M, 0.3 / M)] * len(DEFAULT_TRAITS)
    z = _z_task(snps, cohort, fs, DEFAULT_TRAITS, 1)
    assert [x.shape for x in z] == [(M,)] * len(DEFAULT_TRAITS) and z[0].dtype == np.float64
    assert _simulate_task(chrom_simulator(50, 0, 0.3, 1, {}), 4)[2] is None          # in-sample: no cohort


def test_unknown_executor(tmp_path):
    with pytest.raises(InputError, match="executor"):
        write_simulated_dataset(str(tmp_path / "x"), _spec(), executor="dask")


def test_default_executor_is_ray_on_a_cluster_or_a_large_genome(monkeypatch):
    """Small simulations stay in a process pool (Ray's start-up would dominate); a genome from RAY_FROM_MB,
    or any size when RAY_ADDRESS names a cluster, runs as Ray tasks."""
    from deepwas_dist.simulate.prepare import RAY_FROM_MB, default_executor

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert default_executor(8 * 5.0) == "local" and default_executor(RAY_FROM_MB) == "ray"
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    assert default_executor(10.0) == "ray"
