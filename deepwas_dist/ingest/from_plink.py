"""``prepare plink``: SNP table + LD slices from a PLINK 1 reference panel (LD of standardised genotypes)."""
from __future__ import annotations

import contextlib
import sys
import time
from typing import Any

import numpy as np

from ..data import schema as S
from ..data.chroms import parse_chroms
from ..data.slicing import PANEL_GEOMETRY
from ..data.writer import DatasetWriter
from ..errors import InputError
from ..ray_tasks import ray_workers
from .align import annotations_for
from .ld_tasks import panel_slice_maker
from .plink import ld_matrix, read_panel
from .steps import chrom_blocks, refuse_existing, write_ld
from .summary import PrepareSummary, finish_summary


def _log(msg: str) -> None:
    print(f"[plink] {msg}", file=sys.stderr)


def prepare_plink(out: str, bfile: str, *, chroms=None, maf: float = 0.01,
                  shrinkage: float = PANEL_GEOMETRY.shrinkage, core_kb: float = PANEL_GEOMETRY.core_kb,
                  bandwidth_kb: float | None = None, bandwidth_cm: float | None = None,
                  dtype: str = PANEL_GEOMETRY.dtype, annot: list[str] | None = None, fill: float | None = None,
                  build: str | None = None, overwrite: bool = False, storage_options: dict | None = None,
                  input_storage_options: dict | None = None, progress: bool | None = True,
                  executor: str = "local", workers: int | None = None) -> PrepareSummary:
    """SNP table + LD slices from a PLINK 1 panel ``bfile`` (.bed/.bim/.fam prefix) at ``out``.

    SNPs with MAF < ``maf`` (or without genotype variance) are dropped. Each slice's LD is
    ``ld_matrix(panel.standardized(lo, hi))`` of its own window, shrunk by ``shrinkage`` towards I; the
    panel size is recorded as n_ref (LDSC's r^2 bias correction).
    Flanks: ``bandwidth_kb`` (default ``PANEL_GEOMETRY.bandwidth_kb``, 1000)
    and/or ``bandwidth_cm`` (the .bim's genetic map). ``annot``: annotation files (LDSC .annot or
    Parquet) for the SNPs. Refuses an existing dataset unless ``overwrite``. ``executor``: "local" (slices
    one after another in this process) or "ray" (one Ray task per slice, ``workers`` at a time,
    :mod:`.ld_tasks`); the dataset is the same.
    """
    if executor not in ("local", "ray"):
        raise InputError(f"--executor must be ray or local, got {executor!r}")
    t0 = time.perf_counter()
    if bandwidth_kb is None and bandwidth_cm is None:
        bandwidth_kb = PANEL_GEOMETRY.bandwidth_kb
    refuse_existing(out, storage_options, overwrite)
    panel = read_panel(bfile, maf_min=maf, chroms=parse_chroms(chroms))
    snps = panel.snps.copy()
    details: dict[str, Any] = {"panel": f"{panel.prefix} ({panel.n_ref:,} individuals = n_ref)"}
    blocks = chrom_blocks(snps)
    for c, a, b in blocks:   # PLINK writes 0 for an unknown genetic position
        if (snps[S.CM].iloc[a:b] == 0).all():
            snps.loc[a:b - 1, S.CM] = np.nan
            details.setdefault("note", f"the .bim has no genetic map (CM all 0) on chr{c}: CM left empty")
    if bandwidth_cm is not None and snps[S.CM].isna().any():
        raise InputError(f"{panel.prefix}.bim has no genetic map (CM column all 0) on some chromosome; fix: use "
                         "--bandwidth-kb, or add cM positions to the .bim (e.g. plink --cm-map)")
    by_chrom = {c: snps.iloc[a:b].reset_index(drop=True) for c, a, b in blocks}
    ann, ann_details = annotations_for(annot, by_chrom, fill, input_storage_options, build)
    details.update(ann_details)
    desc = f"PLINK 1 panel {panel.prefix}: {panel.n_ref} individuals, MAF >= {maf}"
    with contextlib.ExitStack() as stack, \
            DatasetWriter(out, storage_options, build=build, overwrite=overwrite, description=desc) as w:
        if executor == "ray":
            ray, window = stack.enter_context(ray_workers(workers, None if progress is False else _log, "LD slices"))
            panel_ref = ray.put(panel)
        for c, a, b in blocks:
            sub = by_chrom[c]
            w.add_snps(c, sub, None if ann is None else ann[c])
            cm = sub[S.CM].to_numpy(dtype=np.float64)
            write_ld(w, c, sub[S.BP].to_numpy(), None if np.isnan(cm).all() else cm,
                      lambda lo, hi, a=a: ld_matrix(panel.standardized(a + lo, a + hi)), progress,
                      core_kb=core_kb, bandwidth_kb=bandwidth_kb, bandwidth_cm=bandwidth_cm, n_ref=panel.n_ref,
                      shrinkage=shrinkage, dtype=dtype, ld_source=f"PLINK 1 panel {panel.prefix}",
                      slice_maker=panel_slice_maker(ray, window, panel_ref, a) if executor == "ray" else None)
    sm = PrepareSummary("plink", out, snps_read=panel.n_snps_file, snps_kept=panel.n_snps, details=details)
    if panel.n_dropped_maf:
        sm.dropped[f"MAF < {maf:g}, monomorphic or without genotype variance"] = panel.n_dropped_maf
    return finish_summary(sm, w.manifest, t0)
