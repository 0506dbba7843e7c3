"""``prepare simulate``: a semi-synthetic dataset from msprime genotypes, or from a real PLINK panel's.

The simulation itself is :func:`~deepwas_dist.simulate.dataset.write_simulated_dataset`; this module
checks the command's arguments, reads a PLINK panel's genotypes when asked, and reports a
:class:`~deepwas_dist.ingest.summary.PrepareSummary`. (It lives in ``simulate``, which builds on
``ingest``, so that ``ingest`` does not import ``simulate``.)
"""
from __future__ import annotations

import importlib.util
import os
import sys
import time
from typing import Any

import numpy as np

from ..data import schema as S
from ..data.chroms import parse_chroms
from ..data.slicing import SIMULATED_GEOMETRY
from ..errors import InputError
from ..ingest.plink import Panel, read_panel
from ..ingest.steps import chrom_blocks, progress_bar, refuse_existing
from ..ingest.summary import PrepareSummary, finish_summary
from .dataset import SimulationSpec, write_simulated_dataset
from .demography import DEFAULT_HISTORY
from .genotypes import DEFAULT_CHUNK_MB, panel_from_genotypes
from .testcohort import cohort_location

#: Simulated genome length (Mb) from which --executor defaults to Ray on one machine: below it msprime takes
#: minutes at most and a local Ray's start-up (9-20 s here) is not worth paying (8 x 10 Mb on 2 cores: 108 s
#: in a process pool, 133 s as Ray tasks).
RAY_FROM_MB = 500.0


def default_executor(total_mb: float) -> str:
    """"ray" when Ray is installed and either RAY_ADDRESS names a cluster to use or the genome is at least
    :data:`RAY_FROM_MB`; else "local" (a process pool on this machine)."""
    if importlib.util.find_spec("ray") is None:
        return "local"
    return "ray" if os.environ.get("RAY_ADDRESS") or total_mb >= RAY_FROM_MB else "local"


def _panels_from_plink(panel: Panel, progress: bool | None) -> tuple[list, int, int]:
    """One ChromPanel per chromosome of a PLINK panel: missing calls imputed (rounded mean), SNPs at an
    already-seen position dropped. Returns (panels, imputed calls, SNPs dropped)."""
    panels, n_imputed, n_dup = [], 0, 0
    for c, a, b in progress_bar(progress, iterable=chrom_blocks(panel.snps), desc="reading genotypes", unit="chrom"):
        G = panel.genotypes(a, b)
        miss = np.isnan(G)
        if miss.any():
            G[miss] = np.take(np.round(np.nanmean(G, axis=0)), np.nonzero(miss)[1])
            n_imputed += int(miss.sum())
        snps = panel.snps.iloc[a:b].reset_index(drop=True)
        keep = ~snps[S.BP].duplicated().to_numpy()
        n_dup += int((~keep).sum())
        snps = snps[keep].reset_index(drop=True)
        if (snps[S.CM] == 0).all():
            snps[S.CM] = np.nan
        panels.append(panel_from_genotypes(G[:, keep].astype(np.int8), snps))
    return panels, n_imputed, n_dup


def prepare_simulate(out: str, *, individuals: int = 1000, gwas_individuals: int | None = None,
                     design: str | None = None, chroms=None, length_mb: float = 5.0,
                     chunk_mb: float | None = None, seed: int = 0,
                     core_kb: float = SIMULATED_GEOMETRY.core_kb,
                     bandwidth_kb: float = SIMULATED_GEOMETRY.bandwidth_kb, from_plink: str | None = None,
                     maf: float = 0.01, demography: str | None = None, executor: str | None = None,
                     workers: int | None = None, overwrite: bool = False, test_individuals: int = 0,
                     storage_options: dict | None = None,
                     progress: bool | None = True) -> PrepareSummary:
    """A semi-synthetic dataset (:func:`deepwas_dist.simulate.dataset.write_simulated_dataset`): msprime
    genotypes (a reference panel of ``individuals`` and, out-of-sample, a GWAS cohort of ``gwas_individuals``
    (default 10x) from the same population, x ``chroms`` (default 1-8) x ``length_mb``), or with
    ``from_plink`` the genotypes of a real PLINK panel (its chromosomes, or ``chroms`` of them; MAF >=
    ``maf``). ``chunk_mb``: msprime pieces per chromosome (:class:`~.dataset.SimulationSpec`; None: its
    default). ``design``: "out-of-sample" (default) or "in-sample" (the default and only design with
    ``from_plink``). ``demography``: the msprime population history (:mod:`~deepwas_dist.simulate.demography`,
    default european). ``executor``: where the chromosomes are simulated, "ray" (Ray tasks,
    :mod:`~deepwas_dist.simulate.tasks`; the default on a Ray cluster or from :data:`RAY_FROM_MB` of genome)
    or "local" (a process pool);
    ``workers`` of them at a time. The dataset does not depend on either. ``test_individuals`` > 0 also
    keeps a test cohort of that many people beside the dataset (:mod:`~deepwas_dist.simulate.testcohort`;
    local executor only)."""
    t0 = time.perf_counter()
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be >= 1, got {workers}; fix: give the chromosomes to simulate at a time")
    design = design or ("in-sample" if from_plink else "out-of-sample")
    chunk_mb = DEFAULT_CHUNK_MB if chunk_mb is None else chunk_mb
    if not chunk_mb >= 0:
        raise InputError(f"--chunk-mb must be >= 0, got {chunk_mb}; fix: give the longest msprime piece in Mb "
                         "(0: whole chromosomes)")
    if individuals < 2:
        raise InputError(f"--individuals must be >= 2, got {individuals}; fix: give the reference-panel size")
    if gwas_individuals is not None:
        if design == "in-sample":
            raise InputError("--gwas-individuals is the out-of-sample GWAS cohort; fix: drop it, or use "
                             "--design out-of-sample")
        if gwas_individuals < 2:
            raise InputError(f"--gwas-individuals must be >= 2, got {gwas_individuals}; fix: give the GWAS cohort "
                             "size (default 10 x --individuals)")
    if from_plink and design == "out-of-sample":
        raise InputError("--from-plink gives a reference panel but no GWAS cohort to draw z from; fix: use "
                         "--design in-sample (its default), or drop --from-plink to simulate both with msprime")
    if from_plink and demography:
        raise InputError("--demography is msprime's population history; --from-plink takes real genotypes; fix: "
                         "drop one of them")
    refuse_existing(out, storage_options, overwrite)
    chrom_list = parse_chroms(chroms)
    if test_individuals and from_plink:
        raise InputError("--test-individuals simulates test people with msprime; --from-plink has none; fix: drop "
                         "one of them")
    executor = executor or ("local" if test_individuals else
                            default_executor(len(chrom_list or SimulationSpec().chroms) * length_mb))
    details: dict[str, Any] = {}
    dropped: dict[str, int] = {}
    if from_plink:
        panel = read_panel(from_plink, maf_min=maf, chroms=chrom_list)
        panels, n_imp, n_dup = _panels_from_plink(panel, progress)
        spec = SimulationSpec(n_individuals=panel.n_ref, chroms=tuple(p.chrom for p in panels), seed=seed,
                              core_kb=core_kb, bandwidth_kb=bandwidth_kb, panels=panels, design=design)
        read = panel.n_snps_file
        if panel.n_dropped_maf:
            dropped[f"MAF < {maf:g}, monomorphic or without genotype variance"] = panel.n_dropped_maf
        if n_dup:
            dropped["at an already-seen position (simulation needs distinct positions)"] = n_dup
        details["genotypes"] = (f"PLINK panel {panel.prefix} ({panel.n_ref:,} individuals, {n_imp:,} missing calls "
                                "imputed)")
    else:
        spec = SimulationSpec(n_individuals=int(individuals), chroms=tuple(chrom_list or range(1, 9)),
                              length_mb=float(length_mb), chunk_mb=float(chunk_mb), seed=int(seed), core_kb=core_kb,
                              bandwidth_kb=bandwidth_kb,
                              design=design, n_gwas=None if gwas_individuals is None else int(gwas_individuals),
                              demography=demography or DEFAULT_HISTORY, n_test=int(test_individuals or 0))
        read = None
        details["genotypes"] = (f"msprime ({spec.demography} history), {spec.n_individuals:,} individuals x "
                                f"{len(spec.chroms)} chromosomes x {spec.length_mb:g} Mb"
                                + (f" (pieces <= {spec.chunk_mb:g} Mb)" if 0 < spec.chunk_mb < spec.length_mb else "")
                                + f", seed {spec.seed}")
    n_gwas = spec.check().gwas_individuals
    details["design"] = (f"{design}: z from a {n_gwas:,}-person GWAS cohort, LD from the {spec.n_individuals:,}-"
                         "person panel" if n_gwas else f"{design}: z and LD from the same panel")
    if not from_plink:
        details["executor"] = executor
    if spec.n_test:
        details["test cohort"] = f"{spec.n_test:,} people at {cohort_location(out)}"
    man = write_simulated_dataset(out, spec, storage_options=storage_options, overwrite=overwrite,
                                  executor=executor, workers=workers,
                                  log=lambda msg: print(msg, file=sys.stderr) if progress is not False else None)
    n = man.snps.n_total
    sm = PrepareSummary("simulate", out, snps_read=n if read is None else read, snps_kept=n, dropped=dropped,
                        details=details)
    sm.details["traits"] = ", ".join(man.traits)
    sm.details["features"] = f"{len(man.features.names)} annotations" + (
        f", tracks {man.tracks.K} x {man.tracks.w}" if man.tracks else "")
    return finish_summary(sm, man, t0)
