"""A complete semi-synthetic dataset on any fsspec URL: msprime panel -> features -> traits -> LD slices.

This is both ``launch/prepare.py simulate`` and the embedded demo dataset. The truth (F_TRUE per SNP)
is stored with each trait's summary statistics, so evaluation can score recovery.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..data import schema as S
from ..data.writer import DatasetWriter
from ..ingest.plink import ld_matrix
from .features import simulate_features
from .genotypes import ChromPanel, simulate_panel
from .traits import DEFAULT_TRAITS, TraitSpec, simulate_traits


@dataclass
class SimulationSpec:
    """What to simulate. Defaults: the embedded demo (8 chromosomes x 5 Mb, 1,000 people, 3 traits)."""

    n_individuals: int = 1000
    chroms: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8)
    length_mb: float = 5.0
    seed: int = 0
    traits: tuple[TraitSpec, ...] = DEFAULT_TRAITS
    n_binary: int = 8
    n_continuous: int = 4
    n_tracks: int = 4
    window: int = 32
    core_kb: float = 1000.0
    bandwidth_kb: float = 500.0
    shrinkage: float = 0.0
    storage_dtype: str = "float32"
    panels: list[ChromPanel] | None = field(default=None, repr=False)   # a real panel instead of msprime


def write_simulated_dataset(url: str, spec: SimulationSpec | None = None, *, storage_options: dict | None = None,
                            overwrite: bool = False, log: Callable[[str], None] = print) -> dict:
    """Simulate and write a dataset at ``url``; returns the writer's manifest."""
    spec = spec or SimulationSpec()
    t0 = time.perf_counter()
    panels = spec.panels or simulate_panel(spec.n_individuals, spec.chroms, spec.length_mb, seed=spec.seed)
    feats = simulate_features(panels, seed=spec.seed, n_binary=spec.n_binary, n_continuous=spec.n_continuous,
                              n_tracks=spec.n_tracks, window=spec.window)
    traits = simulate_traits(panels, feats, spec.traits, seed=spec.seed)
    log(f"[simulate] {len(panels)} chromosomes, {feats.n_snps:,} SNPs, {panels[0].n_individuals:,} people, "
        f"{len(traits)} traits ({time.perf_counter() - t0:.1f} s)")
    bounds = np.cumsum([0] + [p.n_snps for p in panels])
    with DatasetWriter(url, storage_options, build="simulated", overwrite=overwrite,
                       description=f"deepwas_dist semi-synthetic dataset: {spec!r}"[:2000]) as w:
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
