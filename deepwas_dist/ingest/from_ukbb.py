"""``prepare ukbb-ld``: SNP table + LD slices from the Broad UK Biobank LD windows.

Each slice's LD is the sub-block of one window (``chr{c}_{start}_{end}.npz`` + ``.gz``) that holds all of
the slice's SNPs, preferring the window whose centre is nearest the core's centre.
"""
from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data import schema as S
from ..data.chroms import parse_chroms
from ..data.slicing import PANEL_GEOMETRY, SlicePlan, plan_slices
from ..data.writer import DatasetWriter
from ..errors import InputError
from ..ray_tasks import ray_workers
from .align import annotations_for
from .ld_tasks import window_slice_maker
from .steps import progress_bar, refuse_existing, write_ld
from .summary import PrepareSummary, finish_summary
from .ukbb import list_ukbb_files, read_ukbb_snps, read_ukbb_window, window_ld


@dataclass
class _Window:
    """One UKBB LD window: its bounds, files and where its SNPs sit in the chromosome's SNP table."""

    start: int
    end: int
    url: str
    ids: np.ndarray | None = None
    sorted_rows: np.ndarray | None = None   # SNP-table rows of the window's SNPs, ascending
    local: np.ndarray | None = None         # the window-matrix row of each of sorted_rows

    @property
    def centre(self) -> float:
        return 0.5 * (self.start + self.end)

    def index(self, table_ids: pd.Index) -> None:
        rows = table_ids.get_indexer(self.ids)
        ok = rows >= 0
        order = np.argsort(rows[ok], kind="stable")
        self.sorted_rows = rows[ok][order]
        self.local = np.flatnonzero(ok)[order]

    def rows_of(self, lo: int, hi: int) -> np.ndarray | None:
        """Window-matrix rows of SNP-table rows [lo, hi), or None unless the window holds all of them."""
        a, b = np.searchsorted(self.sorted_rows, [lo, hi])
        return self.local[a:b] if b - a == hi - lo else None


def _ukbb_snp_table(c: int, windows: list[_Window], progress: bool | None, iso: dict | None
                    ) -> tuple[pd.DataFrame, int, int]:
    """The union of the windows' SNP lists (deduplicated, ordered by position); (table, distinct IDs read,
    IDs dropped because they are listed twice in one window or with different position/alleles)."""
    frames = []
    for k, w in enumerate(progress_bar(progress, iterable=windows, desc=f"chr{c} UKBB SNP lists", unit="window")):
        df = read_ukbb_snps(w.url[:-4] + ".gz", iso)
        w.ids = df[S.SNP].to_numpy(dtype=object)
        df["_w"] = k
        frames.append(df)
    allsnps = pd.concat(frames, ignore_index=True)
    n_read = int(allsnps[S.SNP].nunique())
    bad = set(allsnps.loc[allsnps.duplicated(["_w", S.SNP], keep=False), S.SNP])
    variants = allsnps.drop_duplicates([S.SNP, S.BP, S.A1, S.A2])
    bad |= set(variants.loc[variants[S.SNP].duplicated(keep=False), S.SNP])
    table = allsnps.drop_duplicates(S.SNP)
    table = table[~table[S.SNP].isin(bad)]
    other = table[S.CHR] != c
    if other.any():
        raise InputError(f"{windows[0].url}: UKBB windows named chr{c} list SNPs on chromosome "
                         f"{int(table.loc[other, S.CHR].iloc[0])} (e.g. {table.loc[other, S.SNP].iloc[0]}); "
                         "fix: keep each chromosome's files under their own chr{c}_ names")
    table = table.sort_values(S.BP, kind="mergesort")[list(S.SNP_COLUMNS)].reset_index(drop=True)
    return table, n_read, len(bad)


def _choose_windows(c: int, plans: list[SlicePlan], bp: np.ndarray, windows: list[_Window], core_kb: float,
                    bandwidth_kb: float) -> list[tuple[_Window, np.ndarray]]:
    """For each slice, the window holding all its SNPs whose centre is nearest the core's centre, and the
    slice SNPs' rows in that window's matrix."""
    centres = np.array([w.centre for w in windows])
    out = []
    for p in plans:
        core_centre = 0.5 * (bp[p.core_lo] + bp[p.core_hi - 1])
        for k in np.argsort(np.abs(centres - core_centre), kind="stable"):
            rows = windows[k].rows_of(p.lo, p.hi)
            if rows is not None:
                out.append((windows[k], rows))
                break
        else:
            width = float(np.median([w.end - w.start for w in windows])) / 1000.0
            raise InputError(
                f"chr{c} slice {p.slice_id}: no UKBB LD window holds all {p.m:,} SNPs of the slice (BP "
                f"{bp[p.lo]:,}..{bp[p.hi - 1]:,}, {(bp[p.hi - 1] - bp[p.lo]) / 1000:,.0f} kb = {core_kb:g} kb core + "
                f"{bandwidth_kb:g} kb flanks each side); the windows are {width:,.0f} kb wide at 1 Mb steps; fix: a "
                f"smaller --bandwidth-kb (e.g. {max(bandwidth_kb // 2, 0):g}) or --core-kb, so that core + flanks "
                "fit in one window")
    return out


class _WindowCache:
    """The last few UKBB windows read (sparse, as stored), so each window is read about once in genomic
    order; a slice makes only its own block dense (:func:`~.ukbb.window_ld`)."""

    def __init__(self, iso: dict | None, size: int = 2):
        self.iso, self.size, self.cache = iso, size, {}

    def get(self, w: _Window):
        if w.url not in self.cache:
            _, M = read_ukbb_window(w.url, self.iso, expect_ids=w.ids)
            while len(self.cache) >= self.size:
                self.cache.pop(next(iter(self.cache)))
            self.cache[w.url] = M
        return self.cache[w.url]


def prepare_ukbb_ld(out: str, ld_dir: str, *, chroms=None, core_kb: float = PANEL_GEOMETRY.core_kb,
                    bandwidth_kb: float = PANEL_GEOMETRY.bandwidth_kb, shrinkage: float = PANEL_GEOMETRY.shrinkage,
                    dtype: str = PANEL_GEOMETRY.dtype, annot: list[str] | None = None,
                    fill: float | None = None, build: str | None = "hg19", overwrite: bool = False,
                    storage_options: dict | None = None, input_storage_options: dict | None = None,
                    progress: bool | None = True, executor: str = "local", workers: int | None = None
                    ) -> PrepareSummary:
    """SNP table + LD slices from the Broad UKBB LD windows in ``ld_dir`` (``chr{c}_{start}_{end}.npz`` + .gz).

    The SNP table of a chromosome is the union of its windows' SNP lists (deduplicated, ordered by
    position). Each slice's LD is the sub-block of a window that holds all of the slice's SNPs, preferring
    the window whose centre is nearest the core's centre; when none does, an InputError suggests a smaller
    ``bandwidth_kb``. The panel size is unknown (n_ref None). Windows are read sparse and only a slice's
    block is made dense. ``executor``: "local" (slices one after another here, the last two windows
    cached) or "ray" (one Ray task per slice reading its window itself, ``workers`` at a time,
    :mod:`.ld_tasks`; the same slices).
    """
    t0 = time.perf_counter()
    if executor not in ("local", "ray"):
        raise InputError(f"--executor must be ray or local, got {executor!r}")
    refuse_existing(out, storage_options, overwrite)
    iso = input_storage_options
    files = list_ukbb_files(ld_dir, storage_options=iso)
    wanted = parse_chroms(chroms)
    found = sorted({f[0] for f in files})
    if not files:
        raise InputError(f"{ld_dir}: no UKBB LD windows (chr{{c}}_{{start}}_{{end}}.npz) found; fix: point --dir at "
                         "the folder holding the .npz and .gz files")
    if wanted is not None:
        missing = sorted(set(wanted) - set(found))
        if missing:
            raise InputError(f"{ld_dir}: no UKBB LD windows for chromosome(s) {missing} (it has {found})")
    chrom_list = wanted or found
    tables, choices, details = {}, {}, {"LD directory": ld_dir}
    n_read = n_bad = n_windows = 0
    for c in chrom_list:
        windows = [_Window(s, e, u) for cc, s, e, u in files if cc == c]
        table, nr, nb = _ukbb_snp_table(c, windows, progress, iso)
        ids = pd.Index(table[S.SNP].to_numpy(dtype=object))
        for w in windows:
            w.index(ids)
        bp = table[S.BP].to_numpy()
        plans = plan_slices(c, bp, core_kb=core_kb, bandwidth_kb=bandwidth_kb)
        choices[c] = _choose_windows(c, plans, bp, windows, core_kb, bandwidth_kb)   # fail before writing
        tables[c] = table
        n_read, n_bad, n_windows = n_read + nr, n_bad + nb, n_windows + len(windows)
    ann, ann_details = annotations_for(annot, tables, fill, iso)
    details.update(ann_details)
    cache = _WindowCache(iso)
    desc = f"UK Biobank LD windows from {ld_dir}"
    with contextlib.ExitStack() as stack:
        if executor == "ray":
            log = None if progress is False else (lambda m: print(f"[ukbb-ld] {m}", file=sys.stderr))
            ray, window = stack.enter_context(ray_workers(workers, log, "LD slices"))
        w = stack.enter_context(DatasetWriter(out, storage_options, build=build, overwrite=overwrite, description=desc))
        for c in chrom_list:
            w.add_snps(c, tables[c], None if ann is None else ann[c])
            it = iter(choices[c])

            def ld_fn(lo: int, hi: int):
                win, rows = next(it)
                if len(rows) != hi - lo:
                    raise AssertionError("slice plan and window choice disagree")
                return window_ld(cache.get(win), rows)

            maker = window_slice_maker(ray, window, choices[c], iso) if executor == "ray" else None
            write_ld(w, c, tables[c][S.BP].to_numpy(), None, ld_fn, progress, slice_maker=maker, core_kb=core_kb,
                     bandwidth_kb=bandwidth_kb, n_ref=None, shrinkage=shrinkage, dtype=dtype,
                     ld_source=f"UKBB LD {ld_dir}")
    used = {win.url for ch in choices.values() for win, _ in ch}
    details["windows"] = f"{n_windows} found, {len(used)} used"
    details["n_ref"] = "unknown (UKBB LD): no r^2 bias correction"
    sm = PrepareSummary("ukbb-ld", out, snps_read=n_read, snps_kept=sum(len(t) for t in tables.values()),
                        details=details)
    if n_bad:
        sm.dropped["SNP IDs listed twice in a window or with different positions/alleles"] = n_bad
    return finish_summary(sm, w.manifest, t0)
