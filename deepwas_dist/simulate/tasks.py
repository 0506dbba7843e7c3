"""The simulation's per-chromosome work as Ray tasks: a local Ray by default, the cluster of RAY_ADDRESS
(``ray job submit``) when set.

Two rounds of tasks, because each trait's true f is normalised over the whole genome (its truth is
built on all chromosomes' features), so no chromosome's z can be drawn before every SNP table exists:

  1. ``simulate`` (one per chromosome, at most ``workers`` in flight): msprime ancestry and mutations, the
     same job as the in-process path (:func:`~.genotypes.chrom_simulator`). It returns three objects: the
     SNP table (about 100 bytes per SNP), the panel's (n_ref, M) int8 genotypes (n_ref x M bytes) and the
     cohort's (n_gwas, M) int8 genotypes (n_gwas x M bytes; none in-sample). The driver fetches only the
     SNP tables; the genotypes stay in Ray's object store.
  2. ``z`` (one per chromosome, at most ``workers`` in flight, once the driver has built features and f
     from all SNP tables): every trait's z from that chromosome's cohort (out-of-sample) or panel
     (in-sample) genotypes, read from the object store. It returns T float64 vectors of M (8 T M bytes);
     the cohort's object is released as its z comes back.

Memory: a task holds one chromosome. The driver holds the SNP tables, features and z, and one
chromosome's panel genotypes at a time (fetched when that chromosome is written, in chromosome order; a
chromosome whose z is back early waits as its z only). Between the rounds the object store holds every
chromosome's genotypes, n_ref + n_gwas bytes per SNP, spilled to disk when the store is full: the barrier
the genome-wide f imposes. Example, 130 Mb at HapMap3 density (M about 47,000), n_ref 1,000, n_gwas
10,000, 3 traits: SNP table ~5 MB, panel 47 MB, cohort 470 MB, z 1.1 MB.

Every random draw derives from (seed, chromosome[, trait]) and the writer gets the same inputs in the
same order as on the in-process path, so the dataset does not depend on the executor, the number of
workers or the completion order: SNP tables, annotations, tracks, LD slices and F_TRUE are bit-identical;
z agrees to ~1e-14 (X^T X b by OpenBLAS runs on one thread in a Ray task and on several in the driver,
which changes the summation order). Progress: one line per finished task, "k/n chromosomes" with the
seconds since the command started.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from ..errors import InputError
from .genotypes import ChromPanel, check_chroms, chrom_simulator
from .traits import TraitSpec, chrom_z

#: Logical CPUs of a local Ray beyond the simulation's tasks, so that other Ray work is not starved.
SPARE_CPUS = 2


def _simulate_task(job: Callable[[int], tuple[ChromPanel, ChromPanel | None]], chrom: int
                   ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """Round 1: (SNP table, panel genotypes, cohort genotypes or None) of one chromosome."""
    panel, cohort = job(chrom)
    return panel.snps, panel.genotypes, None if cohort is None else cohort.genotypes


def _z_task(snps: pd.DataFrame, genotypes: np.ndarray, fs: list[np.ndarray], specs: tuple[TraitSpec, ...],
            seed: int) -> list[np.ndarray]:
    """Round 2: every trait's z on one chromosome from the genotypes that give z its LD."""
    return chrom_z(ChromPanel(snps, genotypes), fs, specs, seed)


class RayGenome:
    """The Ray genome source of :func:`~.dataset.write_simulated_dataset` (same methods as its
    ``LocalGenome``). A context manager: it starts a local Ray (``workers`` + SPARE_CPUS logical CPUs) or
    joins RAY_ADDRESS's cluster unless Ray is already initialised, and shuts down only what it started.
    ``workers``: round-1 tasks in flight (default: one per core locally, the cluster's CPUs when joined).
    """

    def __init__(self, spec, workers: int | None, log: Callable[[str], None], t0: float | None = None):
        self.spec, self.log, self.workers = spec, log, workers
        self.t0 = time.perf_counter() if t0 is None else t0          # progress lines: seconds since t0
        self.chroms = check_chroms(spec.chroms)
        n_gwas = spec.gwas_individuals
        self.job = chrom_simulator(spec.n_individuals, n_gwas or 0, spec.length_mb, spec.seed,
                                   {"demography": spec.demography})
        self._started = False
        self._refs: list[list] = []
        self._tables: list[pd.DataFrame] = []

    def __enter__(self) -> RayGenome:
        import ray
        if self.workers is not None and int(self.workers) < 1:
            raise InputError(f"workers must be >= 1, got {self.workers}")
        if not ray.is_initialized():
            if os.environ.get("RAY_ADDRESS"):
                ray.init(log_to_driver=True)
            else:
                self.workers = int(self.workers or len(os.sched_getaffinity(0)))
                ray.init(address="local", num_cpus=self.workers + SPARE_CPUS, include_dashboard=False,
                         log_to_driver=True)
            self._started = True
        if self.workers is None:
            self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        where = "a local Ray" if self._started and not os.environ.get("RAY_ADDRESS") else "the Ray cluster"
        self.log(f"[simulate] {len(self.chroms)} chromosomes as Ray tasks on {where} "
                 f"({ray.cluster_resources().get('CPU', 0):g} CPUs), {self.workers} at a time "
                 f"({time.perf_counter() - self.t0:.1f} s)")
        self._ray = ray
        return self

    def __exit__(self, *exc) -> None:
        self._refs.clear()
        if self._started:
            self._ray.shutdown()

    def _progress(self, what: str, done: int) -> None:
        self.log(f"[simulate] {what} ({done}/{len(self.chroms)} chromosomes, {time.perf_counter() - self.t0:.1f} s)")

    def _as_completed(self, submit: Callable[[int], list]) -> Iterator[tuple[int, list]]:
        """Submit ``submit(i)`` (a task's refs) for every chromosome index i, at most ``workers`` in flight,
        and yield (i, refs) as each task finishes (ray.wait on its first ref)."""
        todo, pending = list(range(len(self.chroms))), {}
        while todo or pending:
            while todo and len(pending) < self.workers:
                i = todo.pop(0)
                refs = submit(i)
                pending[refs[0]] = (i, refs)
            (ready,), _ = self._ray.wait(list(pending), num_returns=1)
            yield pending.pop(ready)

    def tables(self) -> list[pd.DataFrame]:
        """Round 1: every chromosome's SNP table, in order; the genotypes stay in the object store."""
        ray = self._ray
        task = ray.remote(num_cpus=1, num_returns=3)(_simulate_task)
        job = ray.put(self.job)
        refs: dict[int, list] = {}
        tables: dict[int, pd.DataFrame] = {}
        for i, r in self._as_completed(lambda i: list(task.remote(job, self.chroms[i]))):
            refs[i], tables[i] = r, ray.get(r[0])
            self._progress(f"chr{self.chroms[i]} simulated: {len(tables[i]):,} SNPs", len(tables))
        self._refs = [refs[i] for i in range(len(self.chroms))]
        self._tables = [tables[i] for i in range(len(self.chroms))]
        return self._tables

    def chromosomes(self, fs: list[list[np.ndarray]]) -> Iterator[tuple[ChromPanel, list[np.ndarray]]]:
        """Round 2: (reference panel, z of each trait) per chromosome in order, as the z tasks finish."""
        ray, spec = self._ray, self.spec
        task = ray.remote(num_cpus=1)(_z_task)

        def submit(i: int) -> list:
            _, panel, cohort = self._refs[i]
            x = panel if spec.gwas_individuals is None else cohort   # in-sample: the panel's LD
            return [task.remote(self._refs[i][0], x, [f[i] for f in fs], spec.traits, spec.seed)]

        done: dict[int, list[np.ndarray]] = {}
        nxt = 0
        for n_done, (i, (ref,)) in enumerate(self._as_completed(submit), 1):
            done[i] = ray.get(ref)
            self._refs[i] = self._refs[i][:2]            # the cohort's object can go
            self._progress(f"chr{self.chroms[i]} z drawn", n_done)
            while nxt in done:                           # the writer takes chromosomes in order
                panel = ray.get(self._refs[nxt][1])
                self._refs[nxt] = []
                yield ChromPanel(self._tables[nxt], panel), done.pop(nxt)
                nxt += 1
