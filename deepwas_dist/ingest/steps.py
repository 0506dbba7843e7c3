"""Steps shared by the ``prepare`` commands: progress bars, refusing an existing dataset, cutting a SNP
table into chromosome blocks, and writing a chromosome's LD slices with a progress bar."""
from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..data import schema as S
from ..data.slicing import plan_slices
from ..data.storage import filesystem, join, storage_errors
from ..data.writer import DatasetWriter
from ..errors import InputError


def progress_bar(progress: bool | None, **kw) -> tqdm:
    """A tqdm bar on stderr; ``progress`` None: only when stderr is a terminal."""
    return tqdm(file=sys.stderr, disable=None if progress is None else not progress, dynamic_ncols=True, **kw)


def refuse_existing(url: str, storage_options: dict | None, overwrite: bool) -> None:
    if overwrite:
        return
    fs, root = filesystem(url, storage_options)
    with storage_errors(url, "access"):
        exists = fs.exists(join(root, S.MANIFEST_FILE))
    if exists:
        raise InputError(f"{url}: a dataset already exists here; fix: pass --overwrite to replace it "
                         "(the old dataset stays valid until the new one is complete), or choose another --out")


def chrom_blocks(snps: pd.DataFrame) -> list[tuple[int, int, int]]:
    """(chrom, first row, end row) of each chromosome's contiguous block of a SNP table."""
    chrom = snps[S.CHR].to_numpy()
    starts = np.flatnonzero(np.r_[True, chrom[1:] != chrom[:-1]])
    ends = np.r_[starts[1:], len(chrom)]
    return [(int(chrom[a]), int(a), int(b)) for a, b in zip(starts, ends)]


def write_ld(w: DatasetWriter, c: int, bp: np.ndarray, cm: np.ndarray | None, ld_fn: Callable,
              progress: bool | None, slice_maker: Callable | None = None,
              **geometry) -> dict:
    """add_ld_slices with a progress bar (one tick per slice, "done/total"); ``slice_maker`` as
    add_ld_slices' (e.g. Ray tasks, :mod:`.ld_tasks`) instead of ``ld_fn``."""
    n = len(plan_slices(c, bp, cm=cm, core_kb=geometry["core_kb"], bandwidth_kb=geometry.get("bandwidth_kb"),
                        bandwidth_cm=geometry.get("bandwidth_cm")))
    with progress_bar(progress, total=n, desc=f"chr{c} LD slices", unit="slice") as bar:
        def fn(lo: int, hi: int):
            R = ld_fn(lo, hi)
            bar.update(1)
            return R

        def made(plans, geom):
            for sl in slice_maker(plans, geom):
                bar.update(1)
                yield sl
        return w.add_ld_slices(c, fn, slice_maker=None if slice_maker is None else made, **geometry)
