"""Genotypes: coalescent simulation with msprime (a reference panel, optionally with a GWAS cohort from
the same population), or a wrapped real panel.

A :class:`ChromPanel` is one chromosome of one sample of people: a SNP table (schema columns CHR SNP BP
CM A1 A2 MAF, ordered by BP) and an (n individuals, M SNPs) int8 matrix of diploid genotypes counting
copies of A1. With standardised genotypes X (columns mean 0, variance 1 in this sample), the sample's LD
is R = X^T X / n. The out-of-sample design draws a panel (n_ref people, the stored LD R) and a cohort
(n_c people, LD R_c) in one genealogy: R and R_c estimate the same population LD with errors of order
1/sqrt(n_ref) and 1/sqrt(n_c), and differ by about 1/sqrt(n_ref) when n_c >> n_ref. A third, optional
sample of the same genealogy, the *test cohort* (``n_test`` people, disjoint from both), is kept for scoring
polygenic scores (:mod:`~deepwas_dist.simulate.testcohort`); it plays no part in the SNP filter, LD or z.
"""
from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Callable, Iterator, Sequence, TypeVar

import msprime
import numpy as np
import pandas as pd

from ..data.schema import A1, A2, BP, CHR, CM, MAF, SNP, SNP_COLUMNS
from ..errors import InputError
from .demography import DEFAULT_HISTORY, DEFAULT_NE, history
from .seeds import derive_seed

#: Ordered allele pairs (A1, A2) allowed in simulation: distinct and not strand-ambiguous (A/T, C/G).
ALLELE_PAIRS = (("A", "C"), ("A", "G"), ("C", "A"), ("C", "T"),
                ("G", "A"), ("G", "T"), ("T", "C"), ("T", "G"))
_ANCESTRY, _MUTATIONS, _ALLELES = 1, 2, 3   # seed stream ids
#: Longest piece (Mb) simulated as one msprime genealogy (the ``chunk_mb`` option; 0: whole chromosomes).
DEFAULT_CHUNK_MB = 5.0
T = TypeVar("T")


@dataclass(frozen=True)
class ChromPanel:
    """One chromosome of a reference panel.

    Attributes:
        snps: (M rows) DataFrame with columns CHR SNP BP CM A1 A2 MAF; BP strictly increasing,
            CM in centimorgans, MAF the minor-allele frequency in this panel.
        genotypes: (n, M) int8 diploid genotypes in {0, 1, 2}, copies of A1.
    """

    snps: pd.DataFrame
    genotypes: np.ndarray

    def __post_init__(self) -> None:
        if self.genotypes.ndim != 2 or self.genotypes.shape[1] != len(self.snps):
            raise InputError(f"genotypes must be (n individuals, {len(self.snps)} SNPs), "
                             f"got shape {self.genotypes.shape}")

    @property
    def chrom(self) -> int:
        return int(self.snps[CHR].iloc[0])

    @property
    def n_individuals(self) -> int:
        return int(self.genotypes.shape[0])

    @property
    def n_snps(self) -> int:
        return int(self.genotypes.shape[1])

    def standardized(self) -> np.ndarray:
        """(n, M) float64 genotypes with each column mean 0 and variance 1 (population variance, ddof=0),
        so that R = X.T @ X / n is the panel's LD (correlation) matrix with unit diagonal."""
        G = self.genotypes.astype(np.float64)
        G -= G.mean(axis=0)
        sd = np.sqrt((G * G).mean(axis=0))
        bad = np.flatnonzero(sd == 0)
        if bad.size:
            raise InputError(f"SNP {self.snps[SNP].iloc[bad[0]]} is monomorphic in the panel; drop it "
                             "(a SNP without variation has no LD)")
        G /= sd
        return G

    def column_scale(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, sd) per SNP, each (M,) float64, of the genotypes from exact integer sums (no float copy of
        the matrix): sd^2 = E[G^2] - E[G]^2, the population variance. Raises on a monomorphic SNP."""
        n = self.n_individuals
        mean = self.genotypes.sum(axis=0, dtype=np.int64) / n
        sq = np.einsum("ij,ij->j", self.genotypes, self.genotypes, dtype=np.int64)
        sd = np.sqrt(np.maximum(sq / n - mean * mean, 0.0))
        bad = np.flatnonzero(sd == 0)
        if bad.size:
            raise InputError(f"SNP {self.snps[SNP].iloc[bad[0]]} is monomorphic in this sample; drop it "
                             "(a SNP without variation has no LD)")
        return mean, sd

    def subset(self, index: np.ndarray | Sequence[int] | slice) -> "ChromPanel":
        """The panel restricted to the SNPs at ``index`` (positions or a bool mask, kept in BP order)."""
        idx = np.arange(self.n_snps)[index]
        idx = np.sort(np.atleast_1d(idx))
        return ChromPanel(self.snps.iloc[idx].reset_index(drop=True), self.genotypes[:, idx])


def simulate_panel(
    n_individuals: int = 1000,
    chroms: Sequence[int] = (1, 2, 3),
    length_mb: float = 5.0,
    seed: int = 0,
    workers: int = 1,
    **options,
) -> list[ChromPanel]:
    """Simulate one independent chromosome per entry of ``chroms`` with msprime (Hudson coalescent,
    uniform recombination map, binary mutation model).

    ``length_mb`` is each chromosome's length in megabases. ``options``: ``demography`` (a name in
    :data:`~deepwas_dist.simulate.demography.HISTORIES`, default european), ``maf_min`` (0.01: SNPs
    with a lower panel MAF are dropped), ``recombination_rate`` (1e-8 per bp per generation),
    ``mutation_rate`` (default: the history's), ``Ne`` (the constant history's size), ``chunk_mb``
    (:data:`DEFAULT_CHUNK_MB`: a longer chromosome is simulated in independent pieces of at most this
    length, :func:`chunk_lengths`; 0 simulates it whole). Each chromosome's
    seeds derive from (seed, chromosome), so chromosome c is the same whichever other chromosomes are
    simulated. ``workers`` processes simulate chromosomes in parallel; the result does not depend on it.
    """
    return [panel for panel, _ in _simulate(n_individuals, 0, chroms, length_mb, seed, workers, options)]


def simulate_panel_and_cohort(n_individuals: int = 1000, n_cohort: int = 10_000, chroms: Sequence[int] = (1, 2, 3),
                              length_mb: float = 5.0, seed: int = 0, workers: int = 1,
                              **options) -> list[tuple[ChromPanel, ChromPanel]]:
    """A reference panel and a disjoint GWAS cohort from the same population, per chromosome of ``chroms``.

    Each chromosome is ONE msprime ancestry simulation of ``n_individuals + n_cohort`` diploids: the first
    ``n_individuals`` are the reference panel (the LD source), the other ``n_cohort`` the GWAS cohort (whose
    genotypes give the z-scores their LD and are never used for stored LD). Both share one SNP table: SNPs
    with panel MAF >= ``maf_min`` that are also polymorphic in the cohort; each :class:`ChromPanel`'s MAF
    column is its own sample's. ``options`` and the other arguments as :func:`simulate_panel`; seeds derive
    from (seed, chromosome), so changing ``n_cohort`` changes the panel too (it is another genealogy).
    """
    if int(n_cohort) != n_cohort or n_cohort < 2:
        raise InputError(f"n_cohort must be an integer >= 2, got {n_cohort!r}")
    return _simulate(n_individuals, int(n_cohort), chroms, length_mb, seed, workers, options)


def simulate_with_test(n_individuals: int, n_cohort: int, n_test: int, chroms: Sequence[int] = (1, 2, 3),
                       length_mb: float = 5.0, seed: int = 0, workers: int = 1,
                       **options) -> list[tuple[ChromPanel, ChromPanel | None, ChromPanel]]:
    """(panel, cohort or None, test cohort) per chromosome: :func:`simulate_panel_and_cohort` (``n_cohort``
    0: :func:`simulate_panel`) with ``n_test`` more people of the same msprime run, individuals
    n_individuals + n_cohort onwards. They are disjoint from both, follow the same SNP table and do not
    enter its filter (a SNP may be monomorphic among them; the test cohort's MAF column is its own).
    Another genealogy than without them: adding test people changes the panel and cohort too."""
    if int(n_test) != n_test or n_test < 1:
        raise InputError(f"n_test must be an integer >= 1, got {n_test!r}")
    job = chrom_simulator(n_individuals, int(n_cohort), length_mb, seed, options, n_test=int(n_test))
    return map_chroms(job, check_chroms(chroms), workers)


_OPTIONS = ("demography", "maf_min", "recombination_rate", "mutation_rate", "Ne", "chunk_mb")


def _simulate(n: int, n_cohort: int, chroms: Sequence[int], length_mb: float, seed: int, workers: int,
              options: dict) -> list[tuple[ChromPanel, ChromPanel | None]]:
    job = chrom_simulator(n, n_cohort, length_mb, seed, options)
    return map_chroms(job, check_chroms(chroms), workers)


def chrom_simulator(n: int, n_cohort: int, length_mb: float, seed: int, options: dict, n_test: int = 0
                    ) -> Callable[[int], tuple]:
    """The picklable job ``chrom -> (panel, cohort or None)`` that :func:`simulate_panel` (n_cohort 0) and
    :func:`simulate_panel_and_cohort` run per chromosome, wherever it runs (a process pool, a Ray task);
    ``options`` as theirs. With ``n_test`` > 0 the job returns (panel, cohort or None, test cohort)
    (:func:`simulate_with_test`). Arguments are checked here, before any job runs."""
    unknown = set(options) - set(_OPTIONS)
    if unknown:
        raise InputError(f"unknown options {sorted(unknown)}; use {', '.join(_OPTIONS)}")
    h = history(options.get("demography") or DEFAULT_HISTORY)
    maf_min = float(options.get("maf_min", 0.01))
    mu = options.get("mutation_rate")
    _check_args(n, length_mb, maf_min)
    return partial(_simulate_chrom, n=n, n_cohort=n_cohort, n_test=int(n_test), length_bp=length_mb * 1e6, seed=seed,
                   maf_min=maf_min,
                   rec_rate=float(options.get("recombination_rate", 1e-8)),
                   mu=h.mutation_rate if mu is None else float(mu),
                   demography=h.build(float(options.get("Ne", DEFAULT_NE))),
                   chunk_bp=float(options.get("chunk_mb", DEFAULT_CHUNK_MB) or 0) * 1e6 or None)


def default_workers(n_tasks: int) -> int:
    """Processes for ``n_tasks`` chromosomes: one per available core, at most 4 and at most ``n_tasks``."""
    return max(1, min(int(n_tasks), len(os.sched_getaffinity(0)), 4))


def map_chroms(job: Callable[[int], T], chroms: Sequence[int], workers: int) -> list[T]:
    """``[job(c) for c in chroms]``, in ``workers`` forked processes when workers > 1 (same results: every
    chromosome's randomness derives from its own seeds). Fork, not spawn, so a caller's unguarded
    ``__main__`` is not re-run; the jobs use msprime and numpy only, no threads inherited from torch."""
    workers = min(int(workers), len(chroms))
    if workers <= 1 or multiprocessing.current_process().daemon:     # a daemon may not have children
        return [job(c) for c in chroms]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(job, chroms))


def _check_args(n_individuals: int, length_mb: float, maf_min: float) -> None:
    if n_individuals < 2:
        raise InputError(f"n_individuals must be >= 2, got {n_individuals}")
    if length_mb <= 0:
        raise InputError(f"length_mb must be positive, got {length_mb}")
    if not 0.0 <= maf_min < 0.5:
        raise InputError(f"maf_min must be in [0, 0.5), got {maf_min}")


def check_chroms(chroms: Sequence[int]) -> list[int]:
    chroms = [int(c) for c in chroms]
    if not chroms or len(set(chroms)) != len(chroms) or min(chroms) < 1:
        raise InputError(f"chroms must be distinct positive integers, got {chroms}")
    return chroms


def chunk_lengths(length_bp: float, chunk_bp: float | None) -> list[int]:
    """The lengths (bp) of the independent pieces a chromosome of ``length_bp`` is simulated in: one piece
    when ``chunk_bp`` is None/0 or not shorter than the chromosome, else ceil(length / chunk) pieces of
    (nearly) equal length summing to the chromosome's rounded length."""
    total = int(round(length_bp))
    if not chunk_bp or chunk_bp >= total:
        return [total]
    k = math.ceil(total / float(chunk_bp))
    edges = np.linspace(0, total, k + 1).round().astype(np.int64)
    return [int(b - a) for a, b in zip(edges[:-1], edges[1:])]


def _simulate_chrom(chrom: int, *, n: int, n_cohort: int, length_bp: float, seed: int, maf_min: float,
                    rec_rate: float, mu: float, demography: msprime.Demography, n_test: int = 0,
                    chunk_bp: float | None = None) -> tuple:
    """(panel, cohort) of one chromosome; the cohort is None when ``n_cohort`` is 0; with ``n_test`` > 0
    (panel, cohort, test cohort).

    The chromosome is simulated in :func:`chunk_lengths` pieces, each its own msprime genealogy (so no LD
    between pieces, like approximately independent LD blocks), laid end to end: msprime's cost grows
    faster than linearly with the sequence length (measured, 2,500 diploids: 4.9 s for 12.4 Mb, 57 s for
    49.6 Mb), so pieces of a few Mb make a 130 Mb chromosome minutes cheaper. A single piece uses the
    seeds of (seed, chromosome), piece k of several those of (seed, chromosome, k). Sites are filtered
    as they are read, in blocks, so only kept SNPs' genotypes are ever held (a growing population has
    many rare variants)."""
    n_all = n + n_cohort + n_test
    pieces = chunk_lengths(length_bp, chunk_bp)
    blocks, offset = [], 0
    for k, piece in enumerate(pieces):
        keys = () if len(pieces) == 1 else (k,)
        ts = msprime.sim_ancestry(samples=n_all, ploidy=2, sequence_length=piece, demography=demography,
                                  recombination_rate=rec_rate, random_seed=derive_seed(seed, chrom, _ANCESTRY, *keys))
        ts = msprime.sim_mutations(ts, rate=mu, model=msprime.BinaryMutationModel(),
                                   random_seed=derive_seed(seed, chrom, _MUTATIONS, *keys))
        owners = ts.tables.nodes.individual[ts.samples()]
        assert np.array_equal(owners, np.repeat(np.arange(n_all), 2)), "msprime sample order changed"
        blocks.extend(_kept_sites(ts, offset, n, n_cohort, maf_min))
        offset += piece
    G = np.concatenate([g for g, _ in blocks]) if blocks else np.zeros((0, n_all), dtype=np.int8)
    bp = np.concatenate([b for _, b in blocks]) if blocks else np.zeros(0, dtype=np.int64)
    maf = _maf(G[:, :n])
    pairs = np.asarray(ALLELE_PAIRS)[np.random.default_rng(derive_seed(seed, chrom, _ALLELES))
                                     .integers(len(ALLELE_PAIRS), size=bp.size)]
    snps = pd.DataFrame({
        CHR: np.full(bp.size, chrom, dtype=np.int32),
        SNP: [f"sim{chrom}_{b}" for b in bp],
        BP: bp,
        CM: bp * rec_rate * 100.0,       # uniform map: Morgans = r * bp, cM = 100 r bp
        A1: pairs[:, 0],
        A2: pairs[:, 1],
        MAF: maf,
    })
    panel = ChromPanel(snps, np.ascontiguousarray(G[:, :n].T))
    cohort = None
    if n_cohort:
        Gc = G[:, n:n + n_cohort]
        cohort = ChromPanel(snps.assign(**{MAF: _maf(Gc)}), np.ascontiguousarray(Gc.T))
    if not n_test:
        return panel, cohort
    Gt = G[:, n + n_cohort:]
    return panel, cohort, ChromPanel(snps.assign(**{MAF: _maf(Gt)}), np.ascontiguousarray(Gt.T))


#: Sites decoded per block by :func:`_kept_sites`.
SITE_BLOCK = 4096


def _kept_sites(ts, offset: int, n: int, n_cohort: int, maf_min: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(diploid genotypes (kept, n_all) int8 copies of the derived allele, 1-based bp + ``offset``) of the
    sites of ``ts`` that are kept, block by block of :data:`SITE_BLOCK` sites: the first site at each bp,
    with panel MAF > 0 and >= ``maf_min``, and (with a cohort) polymorphic in the cohort, whose z-scores
    standardise its genotypes by its own allele frequencies (a SNP monomorphic there has no GWAS z)."""
    bp_all = ts.tables.sites.position.astype(np.int64) + 1 + offset
    first = np.ones(bp_all.size, dtype=bool)
    first[1:] = bp_all[1:] != bp_all[:-1]                       # keep the first site at a bp
    haps = np.empty((min(SITE_BLOCK, max(bp_all.size, 1)), ts.num_samples), dtype=np.int8)
    j0 = 0
    for j, v in enumerate(ts.variants(copy=False)):
        haps[j - j0] = v.genotypes
        if j - j0 + 1 == haps.shape[0] or j + 1 == bp_all.size:
            g = haps[:j - j0 + 1, 0::2] + haps[:j - j0 + 1, 1::2]
            c = g[:, :n].sum(axis=1, dtype=np.int64)
            maf = np.minimum(c, 2 * n - c) / (2.0 * n)
            keep = first[j0:j + 1] & (maf > 0) & (maf >= maf_min)
            if n_cohort:
                cc = g[:, n:n + n_cohort].sum(axis=1, dtype=np.int64)
                keep &= (cc > 0) & (cc < 2 * n_cohort)
            if keep.any():
                yield g[keep], bp_all[j0:j + 1][keep]
            j0 = j + 1


def _maf(G: np.ndarray) -> np.ndarray:
    """(sites,) minor-allele frequency of (sites, individuals) diploid genotypes (exact integer sums)."""
    p = G.sum(axis=1, dtype=np.int64) / (2.0 * G.shape[1])
    return np.minimum(p, 1.0 - p)


def panel_from_genotypes(G: np.ndarray, snps: pd.DataFrame) -> ChromPanel:
    """Wrap a real panel (e.g. read from PLINK .bed) of one chromosome.

    ``G`` is (n individuals, M SNPs) with values in {0, 1, 2} counting copies of A1 and no missing
    calls (impute first); ``snps`` has columns CHR SNP BP A1 A2 (CM optional) in the same SNP order,
    one chromosome, BP strictly increasing. MAF is recomputed from ``G``. Monomorphic SNPs are rejected.
    """
    missing = [c for c in (CHR, SNP, BP, A1, A2) if c not in snps.columns]
    if missing:
        raise InputError(f"SNP table lacks columns {missing}; it needs {list(SNP_COLUMNS)} (CM, MAF optional)")
    G = np.asarray(G)
    if G.ndim != 2 or G.shape[1] != len(snps):
        raise InputError(f"genotypes must be (n individuals, {len(snps)} SNPs) to match the SNP table, "
                         f"got shape {G.shape}")
    valid = np.isin(G, (0, 1, 2))                             # NaN (missing) is not valid
    if not valid.all():
        j = int(np.flatnonzero(~valid.all(axis=0))[0])
        raise InputError(f"SNP {snps[SNP].iloc[j]}: genotypes must be 0/1/2 without missing calls; "
                         "impute or drop missing genotypes first")
    chroms = pd.unique(snps[CHR])
    if len(chroms) != 1:
        raise InputError(f"a ChromPanel holds one chromosome, got {list(chroms)}; split the panel by CHR")
    bp = snps[BP].to_numpy(dtype=np.int64)
    if np.any(np.diff(bp) <= 0):
        j = int(np.flatnonzero(np.diff(bp) <= 0)[0]) + 1
        raise InputError(f"SNP {snps[SNP].iloc[j]}: BP must be strictly increasing (sort by BP, drop "
                         "duplicate positions)")
    G8 = G.astype(np.int8)
    p = G8.mean(axis=0, dtype=np.float64) / 2.0
    maf = np.minimum(p, 1.0 - p)
    if np.any(maf == 0):
        raise InputError(f"SNP {snps[SNP].iloc[int(np.flatnonzero(maf == 0)[0])]} is monomorphic; drop it")
    table = pd.DataFrame({
        CHR: np.full(len(snps), int(chroms[0]), dtype=np.int32),
        SNP: snps[SNP].astype(str).to_numpy(),
        BP: bp,
        CM: snps[CM].to_numpy(dtype=np.float64) if CM in snps.columns else np.full(len(snps), np.nan),
        A1: snps[A1].astype(str).to_numpy(),
        A2: snps[A2].astype(str).to_numpy(),
        MAF: maf,
    })
    return ChromPanel(table, np.ascontiguousarray(G8))
