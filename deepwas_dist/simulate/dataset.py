"""A complete semi-synthetic dataset on any fsspec URL: msprime genotypes -> features -> traits -> LD slices.

This is both ``launch/prepare.py simulate`` and the embedded demo dataset. The truth (F_TRUE per SNP)
is stored with each trait's summary statistics, so evaluation can score recovery.

Design (:data:`~deepwas_dist.simulate.traits.DESIGNS`, recorded in the manifest's "simulation" section):

  * ``out-of-sample`` (default, the real situation): per chromosome one msprime ancestry simulation of
    n_panel + n_gwas people of one population; the first n_panel are the reference panel, whose LD R is
    written to the LD slices, the other n_gwas the GWAS cohort, whose own LD R_c gives z its covariance
    R_c S R_c + sigma R_c. The cohort is never used for stored LD.
  * ``in-sample``: z is drawn with the panel's own LD R (covariance R S R + sigma R, the fitted model
    exactly); the only design for a real panel (``panels``), which has no cohort.

``n_test`` > 0 also keeps a test cohort of that many people from the same msprime runs, with their true
genetic values and phenotypes, beside the dataset (:mod:`~deepwas_dist.simulate.testcohort`), for scoring
polygenic scores. Off by default: it changes the genealogy (so the panel and cohort), and costs n_test
bytes per SNP.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data import schema as S
from ..data.manifest import Manifest
from ..data.slicing import SIMULATED_GEOMETRY
from ..data.writer import DatasetWriter
from ..errors import InputError
from ..ingest.plink import ld_matrix
from .demography import DEFAULT_HISTORY, history
from .features import simulate_features
from .genotypes import (
    DEFAULT_CHUNK_MB,
    ChromPanel,
    default_workers,
    simulate_panel,
    simulate_panel_and_cohort,
    simulate_with_test,
)
from .tasks import RayGenome
from .testcohort import TestCohortWriter
from .traits import DEFAULT_TRAITS, DESIGNS, TraitSpec, chrom_z, true_effects

#: Where the per-chromosome simulations run (write_simulated_dataset's ``executor``, --executor).
EXECUTORS = ("local", "ray")
#: Default GWAS cohort size, as a multiple of the reference panel's.
GWAS_PER_PANEL = 10


@dataclass
class SimulationSpec:
    """What to simulate. Defaults: the embedded demo (8 chromosomes x 5 Mb, a 1,000-person reference panel,
    a 10,000-person GWAS cohort, out-of-sample design, 3 traits).

    ``chunk_mb``: a chromosome longer than this is simulated in independent msprime pieces of at most this
    length (:func:`~deepwas_dist.simulate.genotypes.chunk_lengths`; 0: whole), no LD between pieces.

    ``n_individuals`` is the reference panel (the LD source), ``n_gwas`` the GWAS cohort whose genotypes
    give z its LD out-of-sample (None: ``GWAS_PER_PANEL`` x n_individuals; unused in-sample). The traits'
    nominal GWAS sizes N (TraitSpec.N) scale the effects independently of ``n_gwas``.
    """

    n_individuals: int = 1000
    chroms: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    length_mb: float = 5.0
    seed: int = 0
    traits: tuple[TraitSpec, ...] = DEFAULT_TRAITS
    n_binary: int = 8
    n_continuous: int = 4
    n_tracks: int = 4
    window: int = 32
    core_kb: float = SIMULATED_GEOMETRY.core_kb            # slice geometry: data.slicing.SIMULATED_GEOMETRY
    bandwidth_kb: float = SIMULATED_GEOMETRY.bandwidth_kb
    shrinkage: float = SIMULATED_GEOMETRY.shrinkage
    storage_dtype: str = SIMULATED_GEOMETRY.dtype
    panels: list[ChromPanel] | None = field(default=None, repr=False)   # a real panel instead of msprime
    n_gwas: int | None = None
    design: str = "out-of-sample"
    demography: str = DEFAULT_HISTORY                       # simulate.demography.HISTORIES
    chunk_mb: float = DEFAULT_CHUNK_MB                      # msprime pieces per chromosome (0: whole)
    n_test: int = field(default=0, repr=False)              # test cohort (simulate.testcohort); 0: none

    @property
    def gwas_individuals(self) -> int | None:
        """The GWAS cohort size used (None in-sample)."""
        if self.design == "in-sample":
            return None
        return GWAS_PER_PANEL * int(self.n_individuals) if self.n_gwas is None else int(self.n_gwas)

    def check(self) -> SimulationSpec:
        """Raise InputError (naming the field and its prepare.py flag) on an impossible spec; returns self."""
        history(self.demography)
        if int(self.n_test) != self.n_test or self.n_test < 0:
            raise InputError(f"n_test (--test-individuals) must be an integer >= 0, got {self.n_test!r}")
        if self.n_test and self.panels is not None:
            raise InputError("a test cohort (n_test, --test-individuals) is simulated with msprime; a real panel "
                             "(panels, --from-plink) has none; fix: drop one of them")
        if self.design not in DESIGNS:
            raise InputError(f"design (--design) must be one of {list(DESIGNS)}, got {self.design!r}")
        if self.design == "in-sample":
            if self.n_gwas is not None:
                raise InputError("n_gwas (--gwas-individuals) is the out-of-sample GWAS cohort; fix: drop it or "
                                 "use design 'out-of-sample' (--design out-of-sample)")
            return self
        if self.panels is not None:
            raise InputError("a real panel (panels, --from-plink) has no GWAS cohort to draw z from; fix: use design "
                             "'in-sample' (--design in-sample)")
        if self.n_gwas is not None and (int(self.n_gwas) != self.n_gwas or self.n_gwas < 2):
            raise InputError(f"n_gwas (--gwas-individuals) must be an integer >= 2, got {self.n_gwas!r}; fix: give "
                             f"a GWAS cohort size, or leave it unset for {GWAS_PER_PANEL} x the panel")
        return self


def write_simulated_dataset(url: str, spec: SimulationSpec | None = None, *, storage_options: dict | None = None,
                            overwrite: bool = False, log: Callable[[str], None] = print,
                            workers: int | None = None, executor: str = "local") -> Manifest:
    """Simulate and write a dataset at ``url``; returns the writer's manifest.

    ``executor`` runs the per-chromosome msprime simulations and z draws: "local" in ``workers`` forked
    processes (default: one per core, at most 4), "ray" as Ray tasks (:mod:`~deepwas_dist.simulate.tasks`;
    ``workers`` tasks at a time). A real panel (``spec.panels``) has nothing to simulate and always runs
    locally. The dataset does not depend on the executor, ``workers`` or the order chromosomes finish in.
    """
    spec = (spec or SimulationSpec()).check()
    if executor not in EXECUTORS:
        raise InputError(f"executor (--executor) must be one of {list(EXECUTORS)}, got {executor!r}")
    t0 = time.perf_counter()
    if executor == "ray" and spec.panels is None:
        if spec.n_test:
            raise InputError("a test cohort (--test-individuals) is not simulated by Ray tasks yet; fix: use "
                             "--executor local")
        with RayGenome(spec, workers, log, t0) as genome:
            return _write(url, spec, genome, storage_options, overwrite, log, t0)
    workers = default_workers(len(spec.chroms)) if workers is None else int(workers)
    return _write(url, spec, LocalGenome(spec, workers), storage_options, overwrite, log, t0)


class LocalGenome:
    """The in-process genome source: every chromosome simulated up front (a process pool of ``workers``),
    z drawn per chromosome as the writer asks for it. The Ray source (:class:`~.tasks.RayGenome`) has the
    same two methods."""

    def __init__(self, spec: SimulationSpec, workers: int):
        n_gwas = spec.gwas_individuals
        self.cohorts: list[ChromPanel | None] | None = None
        self.tests: list[ChromPanel | None] | None = None
        self.z_sd: dict[int, np.ndarray] = {}
        run = {"seed": spec.seed, "workers": workers, "demography": spec.demography, "chunk_mb": spec.chunk_mb}
        if spec.panels is not None:
            self.panels = list(spec.panels)
        elif spec.n_test:
            trios = simulate_with_test(spec.n_individuals, n_gwas or 0, spec.n_test, spec.chroms, spec.length_mb, **run)
            self.panels, self.tests = [p for p, _, _ in trios], [t for _, _, t in trios]
            self.cohorts = None if n_gwas is None else [c for _, c, _ in trios]
        elif n_gwas is None:
            self.panels = simulate_panel(spec.n_individuals, spec.chroms, spec.length_mb, **run)
        else:
            pairs = simulate_panel_and_cohort(spec.n_individuals, n_gwas, spec.chroms, spec.length_mb, **run)
            self.panels, self.cohorts = [p for p, _ in pairs], [c for _, c in pairs]
        self.spec = spec

    def tables(self) -> list[pd.DataFrame]:
        """Every chromosome's SNP table, in ``spec.chroms`` order."""
        return [p.snps for p in self.panels]

    def chromosomes(self, fs: list[list[np.ndarray]]) -> Iterator[tuple[ChromPanel, list[np.ndarray]]]:
        """(reference panel, z of each trait) per chromosome in order; fs[t][i] is trait t's f on chromosome i."""
        for i, p in enumerate(self.panels):
            x = p if self.cohorts is None else self.cohorts[i]
            z = chrom_z(x, [f[i] for f in fs], self.spec.traits, self.spec.seed)
            if self.tests is not None:
                self.z_sd[i] = x.column_scale()[1]    # the per-allele scale of the true effects
            if self.cohorts is not None:
                self.cohorts[i] = None                # only z needs the cohort's genotypes
            yield p, z

    def slice_maker(self) -> None:
        """LD slices are made in this process (the writer's own ld_fn); the Ray source makes them as tasks."""
        return None

    def test_sample(self, i: int) -> tuple[ChromPanel, np.ndarray]:
        """Chromosome i's test cohort and the genotype sd of the sample its z came from (after
        :meth:`chromosomes` has yielded it); both are released here."""
        return self.tests[i], self.z_sd.pop(i)


def _write(url: str, spec: SimulationSpec, genome, storage_options: dict | None, overwrite: bool,
           log: Callable[[str], None], t0: float) -> Manifest:
    """Features and true f from the genome's SNP tables (genome-wide: each truth is normalised over all
    SNPs), then the dataset chromosome by chromosome in order, as ``genome.chromosomes`` delivers them."""
    tables = genome.tables()
    feats = simulate_features(tables, seed=spec.seed, n_binary=spec.n_binary, n_continuous=spec.n_continuous,
                              n_tracks=spec.n_tracks, window=spec.window)
    sizes = [len(t) for t in tables]
    _, fs = true_effects(feats, spec.traits, spec.seed, sizes)
    n_gwas = spec.gwas_individuals
    n_panel = spec.panels[0].n_individuals if spec.panels is not None else spec.n_individuals
    people = (f"reference panel {n_panel:,} people (LD), GWAS cohort {n_gwas:,} people (z)" if n_gwas else
              f"reference panel {n_panel:,} people (LD and z)")
    log(f"[simulate] {spec.design} design: {len(tables)} chromosomes, {feats.n_snps:,} SNPs, {people}, "
        f"{len(spec.traits)} traits ({time.perf_counter() - t0:.1f} s)")
    bounds = np.cumsum([0, *sizes])
    zs: list[list[np.ndarray]] = [[] for _ in spec.traits]
    tc = TestCohortWriter(url, spec.traits, spec.seed, spec.n_test, storage_options) if spec.n_test else None
    with DatasetWriter(url, storage_options, build="simulated", overwrite=overwrite,
                       description=f"deepwas_dist semi-synthetic dataset: {spec!r}"[:2000],
                       simulation={"design": spec.design, "n_panel": n_panel, "n_gwas": n_gwas,
                                   "demography": None if spec.panels is not None else spec.demography}) as w:
        for i, (p, z) in enumerate(genome.chromosomes(fs)):
            part = feats.take(slice(bounds[i], bounds[i + 1]))
            ann = pd.DataFrame(part.annotations, columns=list(part.names))
            ann.insert(0, S.SNP, part.snp)
            w.add_snps(p.chrom, p.snps, ann, tracks=part.tracks)
            maker = genome.slice_maker()
            X = p.standardized() if maker is None else None
            info = w.add_ld_slices(p.chrom, lambda lo, hi, X=X: ld_matrix(X[:, lo:hi]), core_kb=spec.core_kb,
                                   bandwidth_kb=spec.bandwidth_kb, n_ref=p.n_individuals, shrinkage=spec.shrinkage,
                                   dtype=spec.storage_dtype, ld_source="simulated panel (msprime)", slice_maker=maker)
            del X, p
            for acc, zc in zip(zs, z):
                acc.append(zc)
            if tc is not None:
                tc.add(*genome.test_sample(i), [f[i] for f in fs])
                genome.tests[i] = None
            log(f"[simulate] chr{tables[i][S.CHR].iloc[0]} written: {sizes[i]:,} SNPs, {info['n_slices']} slices "
                f"({i + 1}/{len(tables)} chromosomes, {time.perf_counter() - t0:.1f} s)")
        snp_ids = np.concatenate([t[S.SNP].to_numpy() for t in tables])
        for ts, z, f in zip(spec.traits, zs, fs):
            df = pd.DataFrame({S.SNP: snp_ids, S.Z: np.concatenate(z), S.N: float(ts.N), S.F_TRUE: np.concatenate(f)})
            w.add_sumstats(ts.name, df)
    if tc is not None:
        tc.close(w.manifest.write_id)
        log(f"[simulate] test cohort: {spec.n_test:,} people at {tc.url}")
    log(f"[simulate] wrote {url} in {time.perf_counter() - t0:.1f} s")
    return w.manifest
