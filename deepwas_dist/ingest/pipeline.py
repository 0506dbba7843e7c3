"""The ingestion pipeline behind ``launch/prepare.py``: one function per subcommand.

Each ``prepare_*`` function reads its inputs with the parsers of :mod:`deepwas_dist.ingest`, writes (or
atomically updates) a dataset with :class:`~deepwas_dist.data.DatasetWriter`, shows tqdm progress bars on
stderr and returns a :class:`PrepareSummary` (SNPs read / kept / flipped / dropped and why, slices and
bytes written, elapsed time).

- :func:`prepare_plink`: SNP table + LD slices from a PLINK 1 reference panel (LD of standardised genotypes).
- :func:`prepare_ukbb_ld`: SNP table + LD slices from the Broad UK Biobank LD windows.
- :func:`prepare_sumstats`: harmonise summary statistics and add them as a trait of an existing dataset.
- :func:`prepare_annotations`: replace the annotation columns of an existing dataset.
- :func:`prepare_simulate`: a semi-synthetic dataset (msprime genotypes, or a real panel's).
- :func:`dataset_info`: the manifest summary of a dataset (:func:`format_info` renders it).

``progress``: True / False, or None for bars only when stderr is a terminal (the command line's default).
``storage_options`` are the fsspec options of the dataset URL (``out``); ``input_storage_options`` those
of remote input files (UKBB directory, sumstats, annotations). PLINK panels are read from local files.
"""
from __future__ import annotations

import re
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..data import schema as S
from ..data.chroms import parse_chroms
from ..data.reader import Dataset
from ..data.slicing import SlicePlan, plan_slices
from ..data.storage import filesystem, join, storage_errors
from ..data.writer import DatasetWriter
from ..errors import InputError
from .annotations import ids_match_nothing, read_annotations
from .plink import Panel, ld_matrix, read_panel
from .sumstats import harmonise, read_sumstats
from .ukbb import list_ukbb_files, read_ukbb_ld, read_ukbb_snps

__all__ = ["PrepareSummary", "prepare_plink", "prepare_ukbb_ld", "prepare_sumstats", "prepare_annotations",
           "prepare_simulate", "dataset_info", "format_info", "align_annotations", "parse_chroms",
           "parse_key_values", "parse_columns"]

# ================================================================================================ summary
@dataclass
class PrepareSummary:
    """What one ingestion step did. ``dropped`` maps a reason to a SNP count; ``details`` holds
    command-specific facts (trait, harmonisation report, geometry, ...)."""

    command: str
    url: str
    snps_read: int = 0
    snps_kept: int = 0
    snps_flipped: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    slices_written: int = 0
    bytes_written: int = 0
    elapsed_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def snps_dropped(self) -> int:
        return int(sum(self.dropped.values()))

    def to_dict(self) -> dict:
        return {**asdict(self), "snps_dropped": self.snps_dropped}

    def format(self) -> str:
        """Human-readable multi-line summary (what ``prepare.py`` prints)."""
        lines = [f"prepare {self.command} -> {self.url}",
                 f"  SNPs read       {self.snps_read:>12,}",
                 f"  SNPs kept       {self.snps_kept:>12,}",
                 f"  SNPs flipped    {self.snps_flipped:>12,}",
                 f"  SNPs dropped    {self.snps_dropped:>12,}"]
        lines += [f"    {n:,} {why}" for why, n in self.dropped.items()]
        lines += [f"  slices written  {self.slices_written:>12,}",
                  f"  bytes written   {self.bytes_written:>12,}  ({self.bytes_written / 2 ** 20:.1f} MiB)",
                  f"  elapsed         {self.elapsed_s:>12.1f} s"]
        for k, v in self.details.items():
            if isinstance(v, float):
                v = f"{v:,.4g}"
            elif isinstance(v, int) and not isinstance(v, bool):
                v = f"{v:,}"
            lines.append(f"  {k}: {v}")
        return "\n".join(lines)


# ================================================================================================ parsing
def _parse_value(v: str) -> Any:
    low = v.lower()
    return {"true": True, "false": False, "none": None, "null": None}.get(low, v)


def parse_key_values(items: Iterable[str] | None, what: str = "--storage-option") -> dict:
    """['endpoint_url=http://...', 'anon=true'] -> {'endpoint_url': 'http://...', 'anon': True}.

    Values stay strings except true/false/none (as bool/None); a KEY=VALUE without '=' is an InputError.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise InputError(f"bad {what} {item!r}: expected KEY=VALUE "
                             f"(e.g. {what} endpoint_url=http://127.0.0.1:9000)")
        out[key.strip()] = _parse_value(value.strip())
    return out


def parse_columns(text: str | None) -> dict[str, str] | None:
    """'SNP=rsid,Z=zscore,N=n_total' -> {'SNP': 'rsid', 'Z': 'zscore', 'N': 'n_total'} (roles upper-cased)."""
    if text is None:
        return None
    out = {}
    for part in str(text).split(","):
        role, sep, col = part.partition("=")
        if not sep or not role.strip() or not col.strip():
            raise InputError(f"bad --columns {text!r}: expected ROLE=COLUMN pairs separated by commas, e.g. "
                             "SNP=rsid,A1=effect_allele,A2=other_allele,Z=zscore,N=n (roles: SNP A1 A2 Z N CHR BP "
                             "BETA SE)")
        out[role.strip().upper()] = col.strip()
    return out


# ================================================================================================ helpers
def _bar(progress: bool | None, **kw) -> tqdm:
    """A tqdm bar on stderr; ``progress`` None: only when stderr is a terminal."""
    return tqdm(file=sys.stderr, disable=None if progress is None else not progress, dynamic_ncols=True, **kw)


def _refuse_existing(url: str, storage_options: dict | None, overwrite: bool) -> None:
    if overwrite:
        return
    fs, root = filesystem(url, storage_options)
    with storage_errors(url, "access"):
        exists = fs.exists(join(root, S.MANIFEST_FILE))
    if exists:
        raise InputError(f"{url}: a dataset already exists here; fix: pass --overwrite to replace it "
                         "(the old dataset stays valid until the new one is complete), or choose another --out")


def _chrom_blocks(snps: pd.DataFrame) -> list[tuple[int, int, int]]:
    """(chrom, first row, end row) of each chromosome's contiguous block of a SNP table."""
    chrom = snps[S.CHR].to_numpy()
    starts = np.flatnonzero(np.r_[True, chrom[1:] != chrom[:-1]])
    ends = np.r_[starts[1:], len(chrom)]
    return [(int(chrom[a]), int(a), int(b)) for a, b in zip(starts, ends)]


def _new_bytes(old: dict, new: dict) -> int:
    """Bytes of the files an update added (listed in the new manifest, not in the old one)."""
    return int(sum(b for rel, b in new["files"].items() if rel not in old["files"]))


def _examples(values, k: int = 5) -> str:
    vals = list(values)
    return ", ".join(map(str, vals[:k])) + (f" (+{len(vals) - k:,} more)" if len(vals) > k else "")


def align_annotations(table: pd.DataFrame, names: list[str], reference: dict[int, pd.DataFrame],
                      fill: float | None = None, where: str = "the annotation file(s)"
                      ) -> tuple[dict[int, pd.DataFrame], dict]:
    """Annotation rows for every SNP of ``reference`` (chrom -> SNP table), in the reference's order.

    ``table``: column SNP + ``names`` (from :func:`read_annotations`). SNPs of the reference missing from
    ``table`` are an InputError naming the first few and the count, unless ``fill`` gives them a value.
    Returns (chrom -> DataFrame[SNP, *names], counts).
    """
    index = pd.Index(table[S.SNP].astype(str).to_numpy(dtype=object))
    values = table[list(names)].to_numpy(dtype=np.float64)
    used = np.zeros(len(table), dtype=bool)
    out, missing, total = {}, [], 0
    for c, ref in sorted(reference.items()):
        ids = ref[S.SNP].astype(str).to_numpy(dtype=object)
        pos = index.get_indexer(ids)
        miss = pos < 0
        total += len(ids)
        if miss.any():
            missing.extend(ids[miss][: 5 - min(len(missing), 5)].tolist())
            missing_n = int(miss.sum())
        else:
            missing_n = 0
        used[pos[~miss]] = True
        X = values[np.where(miss, 0, pos)]
        if missing_n:
            X[miss] = np.nan if fill is None else float(fill)
        df = pd.DataFrame(X, columns=list(names))
        df.insert(0, S.SNP, ids)
        out[c] = (df, missing_n)
    n_missing = int(sum(m for _, m in out.values()))
    if total and n_missing == total:
        raise ids_match_nothing(table[S.SNP], pd.concat([r[S.SNP] for _, r in sorted(reference.items())]), where)
    if n_missing and fill is None:
        raise InputError(f"{n_missing:,} of the dataset's {total:,} SNPs are missing from {where} (first: "
                         f"{_examples(missing)}); fix: give every SNP a row, or pass --fill 0 to set the "
                         "missing SNPs' annotations to 0")
    counts = {"rows": len(table), "matched": total - n_missing, "filled": n_missing,
              "not_in_dataset": int((~used).sum())}
    return {c: df for c, (df, _) in out.items()}, counts


def _annotations_for(annot, snps_by_chrom: dict[int, pd.DataFrame], fill, input_storage_options
                     ) -> tuple[dict[int, pd.DataFrame] | None, dict]:
    if not annot:
        return None, {}
    reference = pd.concat([df[[S.CHR, S.SNP]] for _, df in sorted(snps_by_chrom.items())], ignore_index=True)
    table, names = read_annotations(list(annot), reference=reference, storage_options=input_storage_options)
    per_chrom, counts = align_annotations(table, names, snps_by_chrom, fill, where=", ".join(annot))
    return per_chrom, {"annotations": ", ".join(names), "annotation rows": counts["rows"],
                       "annotation SNPs filled": counts["filled"],
                       "annotation rows not in the reference": counts["not_in_dataset"],
                       **_metadata_note(table)}


def _metadata_note(table: pd.DataFrame) -> dict:
    """The summary line naming annotation-file columns read as metadata and not used (e.g. MAF)."""
    cols = table.attrs.get("metadata_columns") or []
    return {"metadata columns not used as annotations": ", ".join(cols)} if cols else {}


def _write_ld(w: DatasetWriter, c: int, bp: np.ndarray, cm: np.ndarray | None, ld_fn: Callable,
              progress: bool | None,
              **geometry) -> dict:
    """add_ld_slices with a progress bar (one tick per slice)."""
    n = len(plan_slices(c, bp, cm=cm, core_kb=geometry["core_kb"], bandwidth_kb=geometry.get("bandwidth_kb"),
                        bandwidth_cm=geometry.get("bandwidth_cm")))
    with _bar(progress, total=n, desc=f"chr{c} LD slices", unit="slice") as bar:
        def fn(lo: int, hi: int):
            R = ld_fn(lo, hi)
            bar.update(1)
            return R
        return w.add_ld_slices(c, fn, **geometry)


def _finish_summary(sm: PrepareSummary, man: dict, t0: float) -> PrepareSummary:
    sm.slices_written = int(man["ld"]["n_slices"])
    sm.bytes_written = int(man["bytes_written"])
    sm.details.setdefault("chromosomes", ",".join(map(str, man["chromosomes"])))
    sm.details["slice geometry"] = (f"core {man['ld']['core_kb']:g} kb, flanks "
                                    + " + ".join(f"{man['ld'][k]:g} {u}" for k, u in
                                                 (("bandwidth_kb", "kb"), ("bandwidth_cm", "cM"))
                                                 if man["ld"].get(k) is not None))
    sm.details["LD storage"] = (f"{man['ld']['dtype']}, {man['ld']['bytes_per_slice_mean'] / 1024:.1f} KiB/slice, "
                                f"max {man['ld']['max_m']} SNPs / rank {man['ld']['max_rank']} per slice")
    sm.elapsed_s = time.perf_counter() - t0
    return sm


# ================================================================================================ plink
def prepare_plink(out: str, bfile: str, *, chroms=None, maf: float = 0.01, shrinkage: float = 0.0,
                  core_kb: float = 1000.0, bandwidth_kb: float | None = None, bandwidth_cm: float | None = None,
                  dtype: str = "float32", annot: list[str] | None = None, fill: float | None = None,
                  build: str | None = None, overwrite: bool = False, storage_options: dict | None = None,
                  input_storage_options: dict | None = None, progress: bool | None = True) -> PrepareSummary:
    """SNP table + LD slices from a PLINK 1 panel ``bfile`` (.bed/.bim/.fam prefix) at ``out``.

    SNPs with MAF < ``maf`` (or without genotype variance) are dropped. Each slice's LD is
    ``ld_matrix(panel.standardized(lo, hi))`` of its own window, shrunk by ``shrinkage`` towards I; the
    panel size is recorded as n_ref (LDSC's r^2 bias correction). Flanks: ``bandwidth_kb`` (default 1000)
    and/or ``bandwidth_cm`` (the .bim's genetic map). ``annot``: annotation files (LDSC .annot or
    Parquet) for the SNPs. Refuses an existing dataset unless ``overwrite``.
    """
    t0 = time.perf_counter()
    if bandwidth_kb is None and bandwidth_cm is None:
        bandwidth_kb = 1000.0
    _refuse_existing(out, storage_options, overwrite)
    panel = read_panel(bfile, maf_min=maf, chroms=parse_chroms(chroms))
    snps = panel.snps.copy()
    details: dict[str, Any] = {"panel": f"{panel.prefix} ({panel.n_ref:,} individuals = n_ref)"}
    blocks = _chrom_blocks(snps)
    for c, a, b in blocks:   # PLINK writes 0 for an unknown genetic position
        if (snps[S.CM].iloc[a:b] == 0).all():
            snps.loc[a:b - 1, S.CM] = np.nan
            details.setdefault("note", f"the .bim has no genetic map (CM all 0) on chr{c}: CM left empty")
    if bandwidth_cm is not None and snps[S.CM].isna().any():
        raise InputError(f"{panel.prefix}.bim has no genetic map (CM column all 0) on some chromosome; fix: use "
                         "--bandwidth-kb, or add cM positions to the .bim (e.g. plink --cm-map)")
    by_chrom = {c: snps.iloc[a:b].reset_index(drop=True) for c, a, b in blocks}
    ann, ann_details = _annotations_for(annot, by_chrom, fill, input_storage_options)
    details.update(ann_details)
    desc = f"PLINK 1 panel {panel.prefix}: {panel.n_ref} individuals, MAF >= {maf}"
    with DatasetWriter(out, storage_options, build=build, overwrite=overwrite, description=desc) as w:
        for c, a, b in blocks:
            sub = by_chrom[c]
            w.add_snps(c, sub, None if ann is None else ann[c])
            cm = sub[S.CM].to_numpy(dtype=np.float64)
            _write_ld(w, c, sub[S.BP].to_numpy(), None if np.isnan(cm).all() else cm,
                      lambda lo, hi, a=a: ld_matrix(panel.standardized(a + lo, a + hi)), progress,
                      core_kb=core_kb, bandwidth_kb=bandwidth_kb, bandwidth_cm=bandwidth_cm, n_ref=panel.n_ref,
                      shrinkage=shrinkage, dtype=dtype, ld_source=f"PLINK 1 panel {panel.prefix}")
    sm = PrepareSummary("plink", out, snps_read=panel.n_snps_file, snps_kept=panel.n_snps, details=details)
    if panel.n_dropped_maf:
        sm.dropped[f"MAF < {maf:g}, monomorphic or without genotype variance"] = panel.n_dropped_maf
    return _finish_summary(sm, w.manifest, t0)


# ================================================================================================ UKBB
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
    for k, w in enumerate(_bar(progress, iterable=windows, desc=f"chr{c} UKBB SNP lists", unit="window")):
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
    """The last few UKBB windows read (dense R), so each window is read about once in genomic order."""

    def __init__(self, iso: dict | None, size: int = 2):
        self.iso, self.size, self.cache = iso, size, {}

    def get(self, w: _Window) -> np.ndarray:
        if w.url not in self.cache:
            snps, R = read_ukbb_ld(w.url, self.iso)
            if not np.array_equal(snps[S.SNP].to_numpy(dtype=object), w.ids):
                raise InputError(f"{w.url}: its SNP list changed while reading; fix: do not modify the files "
                                 "during ingestion")
            while len(self.cache) >= self.size:
                self.cache.pop(next(iter(self.cache)))
            self.cache[w.url] = R
        return self.cache[w.url]


def prepare_ukbb_ld(out: str, ld_dir: str, *, chroms=None, core_kb: float = 1000.0, bandwidth_kb: float = 1000.0,
                    shrinkage: float = 0.0, dtype: str = "float32", annot: list[str] | None = None,
                    fill: float | None = None, build: str | None = "hg19", overwrite: bool = False,
                    storage_options: dict | None = None, input_storage_options: dict | None = None,
                    progress: bool | None = True) -> PrepareSummary:
    """SNP table + LD slices from the Broad UKBB LD windows in ``ld_dir`` (``chr{c}_{start}_{end}.npz`` + .gz).

    The SNP table of a chromosome is the union of its windows' SNP lists (deduplicated, ordered by
    position). Each slice's LD is the sub-block of a window that holds all of the slice's SNPs, preferring
    the window whose centre is nearest the core's centre; when none does, an InputError suggests a smaller
    ``bandwidth_kb``. The panel size is unknown (n_ref None).
    """
    t0 = time.perf_counter()
    _refuse_existing(out, storage_options, overwrite)
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
    ann, ann_details = _annotations_for(annot, tables, fill, iso)
    details.update(ann_details)
    cache = _WindowCache(iso)
    used = set()
    desc = f"UK Biobank LD windows from {ld_dir}"
    with DatasetWriter(out, storage_options, build=build, overwrite=overwrite, description=desc) as w:
        for c in chrom_list:
            w.add_snps(c, tables[c], None if ann is None else ann[c])
            it = iter(choices[c])

            def ld_fn(lo: int, hi: int):
                win, rows = next(it)
                if len(rows) != hi - lo:
                    raise AssertionError("slice plan and window choice disagree")
                used.add(win.url)
                return cache.get(win)[np.ix_(rows, rows)]

            _write_ld(w, c, tables[c][S.BP].to_numpy(), None, ld_fn, progress, core_kb=core_kb,
                      bandwidth_kb=bandwidth_kb, n_ref=None, shrinkage=shrinkage, dtype=dtype,
                      ld_source=f"UKBB LD {ld_dir}")
    details["windows"] = f"{n_windows} found, {len(used)} used"
    details["n_ref"] = "unknown (UKBB LD): no r^2 bias correction"
    sm = PrepareSummary("ukbb-ld", out, snps_read=n_read, snps_kept=sum(len(t) for t in tables.values()),
                        details=details)
    if n_bad:
        sm.dropped["SNP IDs listed twice in a window or with different positions/alleles"] = n_bad
    return _finish_summary(sm, w.manifest, t0)


# ================================================================================================ updates
def prepare_sumstats(out: str, trait: str, file: str, *, fmt: str = "auto", columns: dict | str | None = None,
                     n: float | None = None, keep_ambiguous: bool = False, overwrite: bool = False,
                     storage_options: dict | None = None, input_storage_options: dict | None = None,
                     progress: bool | None = True) -> PrepareSummary:
    """Read GWAS summary statistics, harmonise them to the dataset's reference alleles and add them as
    ``trait`` (atomically: the dataset is unchanged if anything fails). Strand-ambiguous SNPs are dropped
    unless ``keep_ambiguous``; an existing trait is replaced only with ``overwrite``."""
    t0 = time.perf_counter()
    cmap = parse_columns(columns) if isinstance(columns, str) else columns
    with DatasetWriter.update(out, storage_options) as w, \
            _bar(progress, total=4, desc=f"sumstats {trait}", unit="step") as bar:
        old = w.base_manifest
        if trait in w.traits and not overwrite:
            raise InputError(f"{out}: trait {trait!r} is already in the dataset; fix: pass --overwrite "
                             "to replace it, or choose another --trait")
        bar.update(1)
        ss = read_sumstats(file, fmt=fmt, column_map=cmap, storage_options=input_storage_options, n=n)
        bar.update(1)
        h, rep = harmonise(ss, w.reference_snps(), drop_ambiguous=not keep_ambiguous)
        bar.update(1)
        if trait in w.traits:
            w.remove_trait(trait)
        w.add_sumstats(trait, h[[S.SNP, S.A1, S.A2, S.Z, S.N]])
        bar.update(1)
    man = w.manifest
    sm = PrepareSummary("sumstats", out, snps_read=rep.read, snps_kept=rep.matched, snps_flipped=rep.flipped,
                        details={"trait": trait, "format": ss.attrs.get("format", fmt), "file": str(file),
                                 "median N": float(np.median(h[S.N])),
                                 "reference SNPs without a z-score": int(man["snps"]["n_total"] - rep.matched),
                                 "traits now": ", ".join(man["traits"])})
    sm.dropped["not in the reference"] = rep.dropped_not_in_reference
    sm.dropped["allele mismatch"] = rep.dropped_allele_mismatch
    sm.dropped["strand-ambiguous (A/T, C/G)" + (" kept as written" if keep_ambiguous else "")] = rep.dropped_ambiguous
    sm.bytes_written = _new_bytes(old, man)
    sm.elapsed_s = time.perf_counter() - t0
    return sm


def prepare_annotations(out: str, files: str | list[str], *, fill: float | None = None,
                        storage_options: dict | None = None, input_storage_options: dict | None = None,
                        progress: bool | None = True) -> PrepareSummary:
    """Replace the annotation columns of the dataset's SNP tables with those of ``files`` (LDSC .annot(.gz),
    full or thin, or Parquet with a SNP column), atomically. Thin annots are aligned to the dataset's SNP
    tables (chromosomes in ascending order). Dataset SNPs missing from the files: InputError listing the
    first few, unless ``fill`` (e.g. 0)."""
    t0 = time.perf_counter()
    files = [files] if isinstance(files, str) else list(files)
    with DatasetWriter.update(out, storage_options) as w:
        old = w.base_manifest
        ref = w.reference_snps()
        table, names = read_annotations(files, reference=ref, storage_options=input_storage_options)
        by_chrom = {int(c): df.reset_index(drop=True) for c, df in ref.groupby(S.CHR, sort=True)}
        per_chrom, counts = align_annotations(table, names, by_chrom, fill, where=", ".join(files))
        for c in _bar(progress, iterable=sorted(per_chrom), desc="annotations", unit="chrom"):
            w.set_annotations(c, per_chrom[c])
    man = w.manifest
    sm = PrepareSummary("annotations", out, snps_read=counts["rows"], snps_kept=counts["matched"],
                        details={"annotations": ", ".join(names),
                                 "binary": ", ".join(man["features"]["binary"]) or "-",
                                 "constant (not scaled)": ", ".join(man["features"]["constant"]) or "-",
                                 "previous annotations": ", ".join(old["features"]["names"]) or "-",
                                 **_metadata_note(table)})
    if fill is not None:
        sm.details[f"dataset SNPs filled with {fill:g}"] = counts["filled"]
    if counts["not_in_dataset"]:
        sm.dropped["not in the dataset (ignored)"] = counts["not_in_dataset"]
    sm.bytes_written = _new_bytes(old, man)
    sm.elapsed_s = time.perf_counter() - t0
    return sm


# ================================================================================================ simulate
def _panels_from_plink(panel: Panel, progress: bool | None) -> tuple[list, int, int]:
    """One ChromPanel per chromosome of a PLINK panel: missing calls imputed (rounded mean), SNPs at an
    already-seen position dropped. Returns (panels, imputed calls, SNPs dropped)."""
    from ..simulate.genotypes import panel_from_genotypes
    panels, n_imputed, n_dup = [], 0, 0
    for c, a, b in _bar(progress, iterable=_chrom_blocks(panel.snps), desc="reading genotypes", unit="chrom"):
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
                     design: str | None = None, chroms=None, length_mb: float = 5.0, seed: int = 0,
                     core_kb: float = 1000.0, bandwidth_kb: float = 500.0, from_plink: str | None = None,
                     maf: float = 0.01, overwrite: bool = False, storage_options: dict | None = None,
                     progress: bool | None = True) -> PrepareSummary:
    """A semi-synthetic dataset (:func:`deepwas_dist.simulate.dataset.write_simulated_dataset`): msprime
    genotypes (a reference panel of ``individuals`` and, out-of-sample, a GWAS cohort of ``gwas_individuals``
    (default 10x) from the same population, x ``chroms`` (default 1-8) x ``length_mb``), or with
    ``from_plink`` the genotypes of a real PLINK panel (its chromosomes, or ``chroms`` of them; MAF >=
    ``maf``). ``design``: "out-of-sample" (default) or "in-sample" (the default and only design with
    ``from_plink``)."""
    from ..simulate.dataset import SimulationSpec, write_simulated_dataset
    t0 = time.perf_counter()
    design = design or ("in-sample" if from_plink else "out-of-sample")
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
    _refuse_existing(out, storage_options, overwrite)
    chrom_list = parse_chroms(chroms)
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
                              length_mb=float(length_mb), seed=int(seed), core_kb=core_kb, bandwidth_kb=bandwidth_kb,
                              design=design, n_gwas=None if gwas_individuals is None else int(gwas_individuals))
        read = None
        details["genotypes"] = (f"msprime, {spec.n_individuals:,} individuals x {len(spec.chroms)} chromosomes x "
                                f"{spec.length_mb:g} Mb, seed {spec.seed}")
    n_gwas = spec.check().gwas_individuals
    details["design"] = (f"{design}: z from a {n_gwas:,}-person GWAS cohort, LD from the {spec.n_individuals:,}-"
                         "person panel" if n_gwas else f"{design}: z and LD from the same panel")
    man = write_simulated_dataset(out, spec, storage_options=storage_options, overwrite=overwrite,
                                  log=lambda msg: print(msg, file=sys.stderr) if progress is not False else None)
    n = int(man["snps"]["n_total"])
    sm = PrepareSummary("simulate", out, snps_read=n if read is None else read, snps_kept=n, dropped=dropped,
                        details=details)
    sm.details["traits"] = ", ".join(man["traits"])
    sm.details["features"] = f"{len(man['features']['names'])} annotations" + (
        f", tracks {man['tracks']['K']} x {man['tracks']['w']}" if man["tracks"] else "")
    return _finish_summary(sm, man, t0)


# ================================================================================================ info
def dataset_info(url: str, storage_options: dict | None = None) -> dict:
    """The manifest summary of the dataset at ``url``: chromosomes, SNPs, traits, features, slices, bytes."""
    m = Dataset.open(url, storage_options).manifest
    ld = m["ld"]
    return {
        "url": url, "build": m.get("build"), "created": m.get("created"), "updated": m.get("updated"),
        "chromosomes": m["chromosomes"], "snps": int(m["snps"]["n_total"]),
        "snps_per_chrom": {int(c): int(v) for c, v in m["snps"]["per_chrom"].items()},
        "traits": {t: {"snps_with_z": int(i.get("n_matched", 0)), "median_N": i.get("median_N"),
                       "has_truth": bool(i.get("has_f_true"))} for t, i in m["traits"].items()},
        "features": list(m["features"]["names"]), "binary_features": list(m["features"]["binary"]),
        "tracks": m["tracks"],
        "slices": int(ld["n_slices"]), "core_kb": ld["core_kb"], "bandwidth_kb": ld.get("bandwidth_kb"),
        "bandwidth_cm": ld.get("bandwidth_cm"), "ld_source": ld.get("source"), "n_ref": ld.get("n_ref"),
        "shrinkage": ld.get("shrinkage"), "ld_dtype": ld.get("dtype"), "slice_bytes": int(ld["slice_bytes"]),
        "bytes_per_slice": float(ld["bytes_per_slice_mean"]), "max_slice_snps": int(ld["max_m"]),
        "max_rank": int(ld["max_rank"]), "files": len(m["files"]), "bytes": int(m["bytes_written"]),
        "simulation": m.get(S.MANIFEST_SIMULATION),
    }


def format_info(info: dict) -> str:
    """Text rendering of :func:`dataset_info`."""
    mib = 2 ** 20
    chroms = info["chromosomes"]
    lines = [f"dataset {info['url']}  (build {info['build']}, created {info['created']}"
             + (f", updated {info['updated']})" if info.get("updated") else ")"),
             f"  chromosomes   {_ranges(chroms)}  ({len(chroms)})",
             f"  SNPs          {info['snps']:,}",
             f"  traits        {len(info['traits'])}"]
    for t, v in info["traits"].items():
        med = "" if v["median_N"] is None else f", median N {v['median_N']:,.0f}"
        lines.append(f"    {t}: {v['snps_with_z']:,} SNPs with z{med}" + (", with truth" if v["has_truth"] else ""))
    feats = info["features"]
    lines.append(f"  features      {len(feats)} annotations" + (f": {_examples(feats, 12)}" if feats else ""))
    if info["tracks"]:
        lines.append(f"  tracks        {info['tracks']['K']} x {info['tracks']['w']}")
    bw = " + ".join(f"{info[k]:g} {u}" for k, u in (("bandwidth_kb", "kb"), ("bandwidth_cm", "cM"))
                    if info.get(k) is not None)
    lines += [f"  slices        {info['slices']:,} (core {info['core_kb']:g} kb, flanks {bw}; "
              f"max {info['max_slice_snps']:,} SNPs, rank {info['max_rank']:,}; "
              f"{info['bytes_per_slice'] / 1024:,.1f} KiB/slice {info['ld_dtype']})",
              f"  LD            {info['ld_source']}; n_ref {info['n_ref']}; shrinkage {info['shrinkage']}",
              *_simulation_lines(info.get("simulation")),
              f"  bytes         {info['bytes']:,} ({info['bytes'] / mib:.1f} MiB in {info['files']} files; "
              f"LD {info['slice_bytes'] / mib:.1f} MiB)"]
    return "\n".join(lines)


def _simulation_lines(sim: dict | None) -> list[str]:
    if not sim:
        return []
    cohort = f", GWAS cohort {sim['n_gwas']:,} people (z)" if sim.get("n_gwas") else " (LD and z)"
    return [f"  simulation    {sim['design']} design: reference panel {sim['n_panel']:,} people{cohort}"]


def _ranges(xs: list[int]) -> str:
    xs = sorted(int(x) for x in xs)
    out, i = [], 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
            j += 1
        out.append(str(xs[i]) if i == j else f"{xs[i]}-{xs[j]}")
        i = j + 1
    return ",".join(out)


_SPACES = re.compile(r"\s*\n\s*")


def one_line(msg: str) -> str:
    """An error message on one line (for the command line)."""
    return _SPACES.sub(" ", str(msg)).strip()
