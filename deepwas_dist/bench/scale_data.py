"""Genome datasets of the scale benchmark at HapMap3 density, simulated once and reused from a cache.

A size is a number of SNPs ("100k", "300k", "1m", or an integer) spread over ``n_chroms`` chromosomes of
equal length; the length comes from the simulator's measured SNP density (:data:`SNPS_PER_MB`, about one
SNP per 2.7 kb with the European history and MAF >= 1% in a 500-person panel, close to HapMap3's
~1.1M SNPs over ~2.8 Gb), so the realised SNP count is near, not exactly, the target: the benchmark
reports the realised one. The simulator is the out-of-sample one of :mod:`deepwas_dist.simulate.dataset`
(LD from the reference panel, z from a separate GWAS cohort of the same population), run as Ray tasks on
a local Ray (:mod:`deepwas_dist.simulate.tasks`: msprime per chromosome in pieces of at most
:data:`~deepwas_dist.simulate.genotypes.DEFAULT_CHUNK_MB`, z per chromosome, LD and eigendecomposition per
slice); a chromosome's cohort genotypes (n_gwas x M_c int8) stay in Ray's object store until its z is drawn.

Cache: ``$DEEPWAS_CACHE/bench-scale/<size>-<key>`` where ``key`` hashes the full spec and the cache
:data:`VERSION`; the simulate stage's measured cost is stored next to it (``.simulate.json``), so a
rerun reports the measurement made when the dataset was built (marked ``cached``).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ..data.reader import Dataset
from ..demo import cache_dir
from ..errors import InputError
from ..simulate.dataset import SimulationSpec, write_simulated_dataset
from ..simulate.traits import TraitSpec
from .stages import StageCost, measure

#: Bumped when what a cached dataset holds changes for the same spec (2: chromosomes in msprime pieces).
VERSION = 2
#: SNPs per Mb the simulator yields (european history, MAF >= 1% in the panel): measured, 14,681 SNPs on the
#: demo's 40 Mb; the realised count is reported, this only sets the chromosome length.
SNPS_PER_MB = 367.0
#: HapMap3-like genome for projections: SNPs and the sequence they span.
HAPMAP3_SNPS, GENOME_MB = 1_100_000, 2_800.0
#: The benchmark's one trait by default (a thresholded enrichment of binary annotations).
SCALE_TRAIT = TraitSpec("scale", h2=0.4, N=10_000, truth="threshold", truth_options={"factor": 10.0})


def parse_size(text: str | int) -> int:
    """"100k" -> 100_000, "1m" -> 1_000_000, "2500" -> 2500."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", str(text))
    if not m:
        raise InputError(f"size {text!r}: give SNPs as 100k, 300k, 1m or an integer")
    n = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2).lower()]
    if n < 100:
        raise InputError(f"size {text!r}: at least 100 SNPs")
    return int(round(n))


def size_label(snps: int) -> str:
    if snps >= 1_000_000 and snps % 100_000 == 0:
        return f"{snps / 1e6:g}m"
    if snps >= 1000 and snps % 1000 == 0:
        return f"{snps // 1000}k"
    return str(snps)


@dataclass(frozen=True)
class ScaleDataSpec:
    """A benchmark genome: ``snps`` targeted over ``n_chroms`` chromosomes, a ``n_panel``-person reference
    panel (LD) and a ``n_gwas``-person GWAS cohort (z), ``n_traits`` copies of :data:`SCALE_TRAIT`."""

    snps: int
    n_chroms: int = 22
    n_panel: int = 500
    n_gwas: int = 2000
    n_traits: int = 1
    seed: int = 0

    @property
    def length_mb(self) -> float:
        return self.snps / SNPS_PER_MB / self.n_chroms

    def simulation(self) -> SimulationSpec:
        traits = tuple(TraitSpec(f"{SCALE_TRAIT.name}{t}", SCALE_TRAIT.h2, SCALE_TRAIT.N, truth=SCALE_TRAIT.truth,
                                 truth_options=dict(SCALE_TRAIT.truth_options)) for t in range(self.n_traits))
        return SimulationSpec(n_individuals=self.n_panel, n_gwas=self.n_gwas, chroms=tuple(range(1, self.n_chroms + 1)),
                              length_mb=round(self.length_mb, 4), seed=self.seed, traits=traits, n_tracks=0,
                              design="out-of-sample")

    def key(self) -> str:
        """Hash of everything the dataset depends on (the SimulationSpec's fields and :data:`VERSION`)."""
        sim = {k: v for k, v in asdict(self.simulation()).items() if k != "panels"}
        blob = json.dumps({"version": VERSION, "simulation": sim}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class BuiltDataset:
    """A dataset ready for the benchmark: where it is, what simulating it cost and whether it was cached."""

    url: str
    spec: ScaleDataSpec
    simulate: StageCost
    cached: bool
    snps: int
    slices: int
    dataset_bytes: int


def dataset_bytes(path: str | os.PathLike) -> int:
    """Bytes of every file under a local dataset directory."""
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def build_or_reuse(spec: ScaleDataSpec, root: str | os.PathLike | None = None, workers: int | None = None,
                   log: Callable[[str], None] = print) -> BuiltDataset:
    """The dataset of ``spec`` from the cache, simulating it (and recording the cost) when absent."""
    base = Path(root) if root is not None else cache_dir() / "bench-scale"
    path = base / f"{size_label(spec.snps)}-{spec.key()}"
    record = path.with_suffix(".simulate.json")
    cached = (path / "manifest.json").exists() and record.exists()
    if cached:
        cost = StageCost(**json.loads(record.read_text())["simulate"])
        log(f"[scale] reusing {path} (simulated earlier in {cost.wall_s:.0f} s)")
    else:
        shutil.rmtree(path, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        log(f"[scale] simulating {spec.snps:,} SNPs over {spec.n_chroms} x {spec.length_mb:.2f} Mb into {path}")
        with measure("simulate", tree=True) as st:          # tree: the Ray workers' CPU and memory too
            write_simulated_dataset(str(path), spec.simulation(), log=log, workers=workers, executor="ray")
        cost = st.cost
        record.write_text(json.dumps({"spec": asdict(spec), "simulate": cost.to_dict()}, indent=1))
    ds = Dataset.open(str(path))
    return BuiltDataset(str(path), spec, cost, cached, int(ds.n_snps), int(len(ds.slice_index())),
                        dataset_bytes(path))
