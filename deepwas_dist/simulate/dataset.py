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
"""
from __future__ import annotations

import time
from collections.abc import Callable
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
    ChromPanel,
    default_workers,
    simulate_panel,
    simulate_panel_and_cohort,
)
from .traits import DEFAULT_TRAITS, DESIGNS, TraitSpec, simulate_traits

#: Default GWAS cohort size, as a multiple of the reference panel's.
GWAS_PER_PANEL = 10


@dataclass
class SimulationSpec:
    """What to simulate. Defaults: the embedded demo (8 chromosomes x 5 Mb, a 1,000-person reference panel,
    a 10,000-person GWAS cohort, out-of-sample design, 3 traits).

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


    @property
    def gwas_individuals(self) -> int | None:
        """The GWAS cohort size used (None in-sample)."""
        if self.design == "in-sample":
            return None
        return GWAS_PER_PANEL * int(self.n_individuals) if self.n_gwas is None else int(self.n_gwas)

    def check(self) -> SimulationSpec:
        """Raise InputError (naming the field and its prepare.py flag) on an impossible spec; returns self."""
        history(self.demography)
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
                            workers: int | None = None) -> Manifest:
    """Simulate and write a dataset at ``url``; returns the writer's manifest.

    ``workers`` processes simulate the chromosomes' genotypes in parallel (default: one per core, at most
    4); the dataset does not depend on it.
    """
    spec = (spec or SimulationSpec()).check()
    t0 = time.perf_counter()
    workers = default_workers(len(spec.chroms)) if workers is None else int(workers)
    n_gwas = spec.gwas_individuals
    cohorts = None
    if spec.panels is not None:
        panels = spec.panels
    elif n_gwas is None:
        panels = simulate_panel(spec.n_individuals, spec.chroms, spec.length_mb, seed=spec.seed, workers=workers,
                                demography=spec.demography)
    else:
        pairs = simulate_panel_and_cohort(spec.n_individuals, n_gwas, spec.chroms, spec.length_mb, seed=spec.seed,
                                          workers=workers, demography=spec.demography)
        panels, cohorts = [p for p, _ in pairs], [c for _, c in pairs]
    feats = simulate_features(panels, seed=spec.seed, n_binary=spec.n_binary, n_continuous=spec.n_continuous,
                              n_tracks=spec.n_tracks, window=spec.window)
    traits = simulate_traits(panels, feats, spec.traits, seed=spec.seed, cohorts=cohorts)
    del cohorts                                                   # only z needs the cohort's genotypes
    n_panel = panels[0].n_individuals
    people = (f"reference panel {n_panel:,} people (LD), GWAS cohort {n_gwas:,} people (z)" if n_gwas else
              f"reference panel {n_panel:,} people (LD and z)")
    log(f"[simulate] {spec.design} design: {len(panels)} chromosomes, {feats.n_snps:,} SNPs, {people}, "
        f"{len(traits)} traits ({time.perf_counter() - t0:.1f} s)")
    bounds = np.cumsum([0] + [p.n_snps for p in panels])
    with DatasetWriter(url, storage_options, build="simulated", overwrite=overwrite,
                       description=f"deepwas_dist semi-synthetic dataset: {spec!r}"[:2000],
                       simulation={"design": spec.design, "n_panel": n_panel, "n_gwas": n_gwas,
                                   "demography": None if spec.panels is not None else spec.demography}) as w:
        for i, p in enumerate(panels):
            part = feats.take(slice(bounds[i], bounds[i + 1]))
            ann = pd.DataFrame(part.annotations, columns=list(part.names))
            ann.insert(0, S.SNP, part.snp)
            w.add_snps(p.chrom, p.snps, ann, tracks=part.tracks)
            X = p.standardized()
            w.add_ld_slices(p.chrom, lambda lo, hi, X=X: ld_matrix(X[:, lo:hi]), core_kb=spec.core_kb,
                            bandwidth_kb=spec.bandwidth_kb, n_ref=p.n_individuals, shrinkage=spec.shrinkage,
                            dtype=spec.storage_dtype, ld_source="simulated panel (msprime)")
        for ts in spec.traits:
            z, f = traits[ts.name]
            df = pd.DataFrame({S.SNP: np.concatenate([p.snps[S.SNP].to_numpy() for p in panels]),
                               S.Z: np.concatenate(z), S.N: float(ts.N), S.F_TRUE: np.concatenate(f)})
            w.add_sumstats(ts.name, df)
    log(f"[simulate] wrote {url} in {time.perf_counter() - t0:.1f} s")
    return w.manifest
