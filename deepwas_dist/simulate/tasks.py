"""The simulation's per-chromosome work as Ray tasks: a local Ray by default, the cluster of RAY_ADDRESS
(``ray job submit``) when set.

Three kinds of tasks, two rounds of them, because each trait's true f is normalised over the whole genome (its truth is
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
  3. ``slice`` (one per LD slice, at most ``workers`` in flight, as the writer takes each chromosome): the
     slice's window of the panel's genotypes (read from the object store), standardised, R = X^T X / n and
     its eigendecomposition (:func:`~deepwas_dist.data.ld_numerics.slice_from_ld`, the writer's own step).
     It returns the slice's LDSlice (its whitened factors, about what the slice takes in the dataset at
     float64); the driver hands slices to the writer in slice order as they finish.

Memory: a task holds one chromosome. The driver holds the SNP tables, features and z, and one
chromosome's panel genotypes at a time (fetched when that chromosome is written, in chromosome order; a
chromosome whose z is back early waits as its z only). Between the rounds the object store holds every
chromosome's genotypes, n_ref + n_gwas bytes per SNP, spilled to disk when the store is full: the barrier
the genome-wide f imposes. Example, 130 Mb at HapMap3 density (M about 47,000), n_ref 1,000, n_gwas
10,000, 3 traits: SNP table ~5 MB, panel 47 MB, cohort 470 MB, z 1.1 MB.

Every random draw derives from (seed, chromosome[, trait]) and the writer gets the same inputs in the
same order as on the in-process path, so the dataset does not depend on the executor, the number of
workers or the completion order: SNP tables, annotations, tracks, LD slices and F_TRUE are bit-identical;
z and the LD factors agree to ~1e-12 (OpenBLAS and LAPACK run on one thread in a Ray task and on several
in the driver, which changes the summation order). Progress: one line per finished task, "k/n chromosomes" with the
seconds since the command started.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from ..data.ld_numerics import slice_from_ld
from ..data.slicing import SlicePlan
from ..ingest.plink import ld_matrix
from ..ray_tasks import as_completed, in_order, ray_workers, results_in_order
from ..slice import LDSlice
from .genotypes import ChromPanel, check_chroms, chrom_simulator
from .traits import TraitSpec, chrom_z


def _simulate_task(job: Callable[[int], tuple[ChromPanel, ChromPanel | None]], chrom: int
                   ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray | None]:
    """Round 1: (SNP table, panel genotypes, cohort genotypes or None) of one chromosome."""
    panel, cohort = job(chrom)
    return panel.snps, panel.genotypes, None if cohort is None else cohort.genotypes


def _z_task(snps: pd.DataFrame, genotypes: np.ndarray, fs: list[np.ndarray], specs: tuple[TraitSpec, ...],
            seed: int) -> list[np.ndarray]:
    """Round 2: every trait's z on one chromosome from the genotypes that give z its LD."""
    return chrom_z(ChromPanel(snps, genotypes), fs, specs, seed)


def _slice_task(snps: pd.DataFrame, genotypes: np.ndarray, plan: SlicePlan, geom: dict) -> LDSlice:
    """Round 3: one LD slice from the panel genotypes of its chromosome (columns standardised one by one,
    so the window's columns equal those of the whole panel standardised)."""
    X = ChromPanel(snps.iloc[plan.lo:plan.hi], genotypes[:, plan.lo:plan.hi]).standardized()
    return slice_from_ld(lambda lo, hi: ld_matrix(X[:, lo - plan.lo:hi - plan.lo]), plan, geom)


class RayGenome:
    """The Ray genome source of :func:`~.dataset.write_simulated_dataset` (same methods as its
    ``LocalGenome``). A context manager: Ray is joined or started as :func:`~deepwas_dist.ray_tasks.ray_workers`
    says, with ``workers`` tasks in flight."""

    def __init__(self, spec, workers: int | None, log: Callable[[str], None], t0: float | None = None):
        self.spec, self.log, self.workers = spec, log, workers
        self.t0 = time.perf_counter() if t0 is None else t0          # progress lines: seconds since t0
        self.chroms = check_chroms(spec.chroms)
        self.job = chrom_simulator(spec.n_individuals, spec.gwas_individuals or 0, spec.length_mb, spec.seed,
                                   {"demography": spec.demography, "chunk_mb": spec.chunk_mb})
        self._refs: list[list] = []
        self._slice_maker: Callable | None = None
        self._tables: list[pd.DataFrame] = []
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> RayGenome:
        self._ray, self.window = self._stack.enter_context(
            ray_workers(self.workers, lambda m: self.log(f"[simulate] {m}"), f"{len(self.chroms)} chromosomes"))
        return self

    def __exit__(self, *exc) -> None:
        self._refs.clear()
        self._stack.close()

    def _progress(self, what: str, done: int) -> None:
        self.log(f"[simulate] {what} ({done}/{len(self.chroms)} chromosomes, {time.perf_counter() - self.t0:.1f} s)")

    def tables(self) -> list[pd.DataFrame]:
        """Round 1: every chromosome's SNP table, in order; the genotypes stay in the object store."""
        ray = self._ray
        task = ray.remote(num_cpus=1, num_returns=3)(_simulate_task)
        job = ray.put(self.job)
        refs: dict[int, list] = {}
        tables: dict[int, pd.DataFrame] = {}
        def submit(i: int) -> list:
            return list(task.remote(job, self.chroms[i]))

        for i, r in as_completed(ray, len(self.chroms), submit, self.window):
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

        def finished() -> Iterator[tuple[int, list[np.ndarray]]]:
            for n_done, (i, (ref,)) in enumerate(as_completed(ray, len(self.chroms), submit, self.window), 1):
                z = ray.get(ref)
                self._refs[i] = self._refs[i][:2]        # the cohort's object can go
                self._progress(f"chr{self.chroms[i]} z drawn", n_done)
                yield i, z

        for i, z in in_order(finished()):                # the writer takes chromosomes in order
            table_ref, panel_ref = self._refs[i][:2]
            self._refs[i] = []
            self._slice_maker = self._make_slice_maker(table_ref, panel_ref)
            yield ChromPanel(self._tables[i], ray.get(panel_ref)), z
            self._slice_maker = None

    def slice_maker(self) -> Callable | None:
        """The ``slice_maker`` of :meth:`~deepwas_dist.data.writer.DatasetWriter.add_ld_slices` for the
        chromosome :meth:`chromosomes` last yielded: its slices as Ray tasks, in plan order."""
        return self._slice_maker

    def _make_slice_maker(self, table_ref, panel_ref) -> Callable:
        ray, task = self._ray, self._ray.remote(num_cpus=1)(_slice_task)

        def make(plans, geom) -> Iterator[LDSlice]:
            return results_in_order(ray, len(plans), lambda i: [task.remote(table_ref, panel_ref, plans[i], geom)],
                                    self.window)

        return make
