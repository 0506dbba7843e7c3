"""Reading a dataset: manifest validation, a cheap slice index, and streaming slices for training.

``Dataset.open(url, storage_options)`` reads and checks the newest manifest version (:mod:`.commit`; a
directory without one is not a dataset: its writer never finished). Every file is checked against its
checksum in the manifest the first time this ``Dataset`` opens it (:mod:`.checksum`; a pickled copy
checks again). ``Dataset.slices(...)`` streams :class:`SliceBatch` es with bounded memory: one LD row
group (= one slice) at a time, plus a few SNP-table / sumstats row groups.
A ``Dataset`` pickles as (URL, storage options, manifest), so it can be shipped to Ray workers; each
worker opens its own filesystem.

Core restriction: a slice's core is the SNPs that have a z-score for *every* requested trait. Core
SNPs missing from any requested trait are demoted to flank SNPs (``LDSlice.restrict_core``): their
effects still enter through LD, but no z-score of theirs is modelled for any trait. Request fewer
traits, or score traits one at a time, to keep more core SNPs. A slice left with no core SNP is skipped
by ``slices()`` (logged) and is an InputError from ``read_slice()``.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import pyarrow as pa
import torch

from ..device import resolve_dtype, to_device
from ..errors import InputError, SchemaError
from ..slice import LDSlice
from . import schema as S
from .checksum import check_manifest
from .chroms import chrom_code
from .commit import read_head, version_rel
from .manifest import Manifest, validate_manifest
from .slice_rows import decode_slice_row
from .slicing import crop_keep_mask, resolve_bandwidth
from .storage import ParquetHandle, filesystem
from .tables import ChromReaders, RowReader, f64, tracks_array

log = logging.getLogger(__name__)


@dataclass
class SliceBatch:
    """One slice, ready for the likelihood: LD factors, features and every requested trait's z-scores.

    Row order everywhere is the slice's SNP order (genomic). ``snp_index`` are row indices into the
    chromosome's SNP table. ``z``/``N`` rows are the core SNPs (``ld.core_mask``) in order.
    """

    chrom: int
    slice_id: int
    snp_index: np.ndarray          # (m,) int64
    snp_ids: np.ndarray            # (m,) str
    bp: np.ndarray                 # (m,) int64
    ld: LDSlice
    features: torch.Tensor         # (m, A) float32, standardised annotations
    tracks: torch.Tensor | None    # (m, K, w) float32
    z: torch.Tensor                # (n, T)
    N: torch.Tensor                # (n, T)
    f_true: torch.Tensor | None    # (m, T); NaN for a trait without truth or a SNP without a row
    traits: list[str]
    n_demoted: int = 0             # core SNPs demoted to flank (no z for some requested trait)
    cm: np.ndarray | None = field(default=None, repr=False)

    @property
    def m(self) -> int:
        return self.ld.m

    @property
    def n(self) -> int:
        return self.ld.n

    @property
    def core_index(self) -> np.ndarray:
        """(n,) SNP-table row indices of the (restricted) core SNPs."""
        return self.snp_index[self.ld.core_mask.cpu().numpy()]


class Dataset:
    """A dataset opened for reading. Use :meth:`open`."""

    def __init__(self, url: str, storage_options: dict | None, manifest: Manifest):
        self.url = url
        self.storage_options = dict(storage_options or {})
        self.manifest = manifest
        self._fs = None
        self._root = None
        self._index: pd.DataFrame | None = None
        self._verified: set[str] = set()          # files whose checksum this handle checked

    # --------------------------------------------------------------------------- opening
    @classmethod
    def open(cls, url: str, storage_options: dict | None = None) -> Dataset:
        """Open the dataset at ``url``; refuses a directory without a manifest and newer schema versions."""
        fs, root = filesystem(url, storage_options)
        head = read_head(fs, root, url)
        if head.obj is None:
            raise InputError(f"{url}: no {S.MANIFEST_FILE}; this is not a deepwas_dist dataset, or its writer did "
                             "not finish (the manifest is written last, so an interrupted write is never valid); "
                             "fix: point at a dataset root, or re-run the writer")
        check_manifest(head.obj, f"{url.rstrip('/')}/{S.MANIFEST_FILE}" if head.legacy else
                       f"{url.rstrip('/')}/{version_rel(head.version)}")
        ds = cls(url, storage_options, validate_manifest(head.obj, url))
        ds._fs, ds._root = fs, root
        return ds

    def __getstate__(self) -> dict:
        return {"url": self.url, "storage_options": self.storage_options, "manifest": self.manifest}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["url"], state["storage_options"], state["manifest"])

    def __repr__(self) -> str:
        return (f"Dataset({self.url!r}, chroms={self.chromosomes}, snps={self.n_snps}, "
                f"slices={self.manifest.ld.n_slices}, traits={self.traits})")

    @property
    def fs(self):
        if self._fs is None:
            self._fs, self._root = filesystem(self.url, self.storage_options)
        return self._fs

    @property
    def root(self) -> str:
        _ = self.fs
        return self._root

    def _parquet(self, rel: str, required: tuple[str, ...]) -> ParquetHandle:
        crc = None if rel in self._verified else self.manifest.checksums.get(rel)
        h = ParquetHandle(self.fs, self.root, rel, self.url, expected_bytes=self.manifest.files.get(rel),
                          required=required, checksum=crc)
        self._verified.add(rel)
        return h

    # ------------------------------------------------------------------------- metadata
    @property
    def chromosomes(self) -> list[int]:
        return list(self.manifest.chromosomes)

    @property
    def traits(self) -> list[str]:
        return list(self.manifest.traits)

    @property
    def feature_names(self) -> list[str]:
        return list(self.manifest.features.names)

    @property
    def binary_features(self) -> list[str]:
        return list(self.manifest.features.binary)

    @property
    def tracks_shape(self) -> tuple[int, int] | None:
        t = self.manifest.tracks
        return None if t is None else (t.K, t.w)

    @property
    def n_snps(self) -> int:
        return self.manifest.snps.n_total

    @property
    def simulation(self) -> dict | None:
        """A simulated dataset's design, panel and GWAS-cohort sizes and population history
        (schema.SIMULATION_KEYS); None for real data and for datasets written before the section existed."""
        sim = self.manifest.simulation
        return None if sim is None else {"demography": "constant", **sim}

    @property
    def ld_info(self) -> dict:
        """LD geometry and provenance: core_kb, bandwidth_kb/cm (stored maxima), n_ref, shrinkage, dtype, ..."""
        return self.manifest.ld.to_json()

    def _check_chroms(self, chroms) -> list[int]:
        if chroms is None:
            return self.chromosomes
        chroms = [chrom_code(c) for c in ([chroms] if np.isscalar(chroms) else chroms)]
        bad = sorted(set(chroms) - set(self.chromosomes))
        if bad:
            raise InputError(f"{self.url}: chromosomes {bad} are not in the dataset (has {self.chromosomes})")
        return sorted(set(chroms))

    def _check_traits(self, traits) -> list[str]:
        if traits is None:
            return self.traits
        traits = [traits] if isinstance(traits, str) else list(traits)
        bad = [t for t in traits if t not in self.manifest.traits]
        if bad:
            raise InputError(f"{self.url}: traits {bad} are not in the dataset (has {self.traits})")
        return traits

    def slice_index(self, chroms=None) -> pd.DataFrame:
        """Small table, one row per slice: CHR SLICE_ID SNP_LO SNP_HI CORE_LO CORE_HI M N_CORE RANK BYTES FILE
        ROW_GROUP (names in ``schema``). Costs one small read; no LD is loaded."""
        if self._index is None:
            h = self._parquet(self.manifest.ld.index, S.SLICE_INDEX_COLUMNS)
            try:
                self._index = h.read().to_pandas()
            finally:
                h.close()
        idx = self._index
        if chroms is not None:
            idx = idx[idx[S.CHR].isin(self._check_chroms(chroms))]
        return idx.reset_index(drop=True)

    def snps(self, chrom, columns: list[str] | None = None) -> pd.DataFrame:
        """The stored SNP table of ``chrom`` (raw annotation values; TRACKS only if asked for)."""
        c = self._check_chroms([chrom])[0]
        cols = columns or [n for n in S.SNP_COLUMNS] + self.feature_names
        r = RowReader(self, self.manifest.snps.files[c], tuple(cols))
        try:
            n = self.manifest.snps.per_chrom[c]
            return r.read(0, n, list(cols)).to_pandas()
        finally:
            r.close()

    def features(self, chrom, tracks: bool = True) -> tuple[pd.DataFrame, torch.Tensor, torch.Tensor | None]:
        """Every SNP of ``chrom``: (SNP table, standardised annotations (M, A) float32, tracks (M, K, w) or None),
        standardised exactly as in :class:`SliceBatch` (the network's input)."""
        c = self._check_chroms([chrom])[0]
        want = bool(tracks) and self.tracks_shape is not None
        cols = list(S.SNP_COLUMNS) + self.feature_names + ([S.TRACKS] if want else [])
        r = RowReader(self, self.manifest.snps.files[c], tuple(cols))
        try:
            tb = r.read(0, self.manifest.snps.per_chrom[c], cols)
        finally:
            r.close()
        X = torch.from_numpy(self._standardised(tb, tb.num_rows))
        trk = torch.from_numpy(tracks_array(tb)) if want else None
        return tb.select(list(S.SNP_COLUMNS)).to_pandas(), X, trk

    def _standardised(self, tb: pa.Table, m: int) -> np.ndarray:
        """(m, A) float32 annotations of a SNP-table read, standardised with the manifest's statistics."""
        fm = self.manifest.features
        X = np.stack([f64(tb.column(f)) for f in self.feature_names], axis=1) if self.feature_names \
            else np.zeros((m, 0))
        return ((X - np.asarray(fm.mean)) / np.asarray(fm.std)).astype(np.float32)

    def sumstats(self, trait: str, chroms=None) -> pd.DataFrame:
        """A trait's stored summary statistics (CHR SNP Z N [F_TRUE]); SNPs without a z-score left out."""
        t = self._check_traits([trait])[0]
        info = self.manifest.traits[t]
        cols = [S.SNP, S.Z, S.N] + ([S.F_TRUE] if info.has_f_true else [])
        out = []
        for c in self._check_chroms(chroms):
            r = RowReader(self, info.files[c], tuple(cols))
            try:
                df = r.read(0, self.manifest.snps.per_chrom[c], cols).to_pandas()
            finally:
                r.close()
            df = df[df[S.Z].notna()]
            df.insert(0, S.CHR, c)
            out.append(df)
        return pd.concat(out, ignore_index=True)

    # --------------------------------------------------------------------------- slices
    def slices(self, chroms=None, traits=None, *, bandwidth_kb: float | None = None,
               bandwidth_cm: float | None = None, slice_ids: Iterable | None = None,
               device: torch.device | str | None = None, dtype: torch.dtype | str | None = None,
               tracks: bool = True) -> Iterator[SliceBatch]:
        """Stream slices in genomic order (one LD row group in memory at a time).

        ``slice_ids``: ints (those ids on every selected chromosome) or (chrom, slice_id) pairs.
        ``bandwidth_kb``/``bandwidth_cm``: flank width, at most the stored one (served by cropping);
        None keeps the stored flanks. ``dtype`` of LD factors and z/N (float64 default); ``device``
        (CPU default). ``tracks=False`` skips reading track windows.
        """
        traits = self._check_traits(traits)
        bw = resolve_bandwidth(bandwidth_kb, bandwidth_cm, self.manifest.ld.bandwidth_kb,
                               self.manifest.ld.bandwidth_cm)
        idx = self.slice_index(chroms)
        if slice_ids is not None:
            ids = list(slice_ids)
            pairs = {(int(a), int(b)) for a, b in (x for x in ids if isinstance(x, (tuple, list)))}
            plain = {int(x) for x in ids if not isinstance(x, (tuple, list))}
            sel = idx[S.SLICE_ID].isin(plain).to_numpy() | np.array(
                [(int(c), int(s)) in pairs for c, s in zip(idx[S.CHR], idx[S.SLICE_ID])], dtype=bool)
            idx = idx[sel]
        return self._iter(idx, traits, bw, device, dtype, tracks, strict=False)

    def read_slice(self, chrom, slice_id: int, traits=None, *, bandwidth_kb: float | None = None,
                   bandwidth_cm: float | None = None, device: torch.device | str | None = None,
                   dtype: torch.dtype | str | None = None, tracks: bool = True,
                   keep_variance: float | None = None) -> SliceBatch:
        """Random access to one slice (same arguments as :meth:`slices`); ``keep_variance`` truncates its
        LD to the leading eigenpairs of R_CC (:meth:`LDSlice.truncate`)."""
        b = self._read_slice(chrom, slice_id, traits, bandwidth_kb, bandwidth_cm, device, dtype, tracks)
        return b if keep_variance is None or keep_variance >= 1.0 else replace(b, ld=b.ld.truncate(keep_variance))

    def _read_slice(self, chrom, slice_id, traits, bandwidth_kb, bandwidth_cm, device, dtype, tracks) -> SliceBatch:
        traits = self._check_traits(traits)
        bw = resolve_bandwidth(bandwidth_kb, bandwidth_cm, self.manifest.ld.bandwidth_kb,
                               self.manifest.ld.bandwidth_cm)
        idx = self.slice_index(chrom)
        idx = idx[idx[S.SLICE_ID] == int(slice_id)]
        if len(idx) != 1:
            raise InputError(f"{self.url}: chr{chrom} has no slice {slice_id} (see Dataset.slice_index())")
        return next(self._iter(idx, traits, bw, device, dtype, tracks, strict=True))

    def _iter(self, idx: pd.DataFrame, traits, bw, device, dtype, tracks, strict) -> Iterator[SliceBatch]:
        idx = idx.sort_values([S.CHR, S.SLICE_ID])
        want_tracks = bool(tracks) and self.tracks_shape is not None
        for chrom, sub in idx.groupby(S.CHR, sort=True):
            readers = ChromReaders(self, int(chrom), traits, want_tracks)
            try:
                for rel, fsub in sub.groupby(S.FILE, sort=False):
                    h = self._parquet(rel, S.LD_REQUIRED_COLUMNS)
                    try:
                        for rg, sid in zip(fsub[S.ROW_GROUP].tolist(), fsub[S.SLICE_ID].tolist()):
                            row = h.read_row_group(int(rg))
                            b = self._build(row, h.where, readers, traits, bw, device, dtype, want_tracks)
                            if b is None:
                                msg = (f"chr{chrom} slice {sid}: no core SNP has a z-score for every requested "
                                       f"trait {traits}")
                                if strict:
                                    raise InputError(f"{msg}; fix: request fewer traits")
                                log.warning("%s; skipped", msg)
                                continue
                            if b.slice_id != sid or b.chrom != chrom:
                                raise SchemaError(f"{h.where}: row group {rg} holds chr{b.chrom} slice {b.slice_id}, "
                                                  f"the slice index says chr{chrom} slice {sid}; "
                                                  "fix: re-write the dataset")
                            yield b
                    finally:
                        h.close()
            finally:
                readers.close()

    def _build(self, row: pa.Table, where: str, readers: ChromReaders, traits: list[str], bw, device, dtype,
               want_tracks: bool) -> SliceBatch | None:
        plan, sl = decode_slice_row(row, where, self.manifest.ld.n_ref)
        lo, hi, m = plan.lo, plan.hi, plan.m
        core = plan.core_mask()

        snp = readers.snps.read(lo, hi, readers.snp_cols)
        bp = snp.column(S.BP).to_numpy()
        cmcol = snp.column(S.CM)
        cm = None if cmcol.null_count else f64(cmcol)
        keep = np.ones(m, dtype=bool)
        if bw != (None, None):
            keep = crop_keep_mask(bp, cm, core, *bw)
            if not keep.all():
                sl = sl.crop(keep)
        rows = np.arange(lo, hi, dtype=np.int64)[keep]

        T_ = len(traits)
        zs, ns = np.full((m, T_), np.nan), np.full((m, T_), np.nan)
        ft = np.full((m, T_), np.nan)
        any_truth = False
        for j, (rd, cols) in enumerate(readers.traits):
            tb = rd.read(lo, hi, cols)
            zs[:, j], ns[:, j] = f64(tb.column(S.Z)), f64(tb.column(S.N))
            if S.F_TRUE in cols:
                ft[:, j] = f64(tb.column(S.F_TRUE))
                any_truth = True
        zs, ns, ft = zs[keep], ns[keep], ft[keep]
        core_k = np.nonzero(sl.core_mask.numpy())[0]
        have = np.isfinite(zs[core_k]).all(axis=1) & np.isfinite(ns[core_k]).all(axis=1)
        if not have.any():
            return None
        if not have.all():
            sl = sl.restrict_core(torch.from_numpy(have), eig_threshold=float(self.manifest.ld.eig_threshold))
        core_rows = core_k[have]

        X = self._standardised(snp, m)[keep]
        trk = None
        if want_tracks:
            trk = torch.from_numpy(tracks_array(snp)[keep])

        dt = resolve_dtype(dtype)
        dev = torch.device("cpu") if device is None else torch.device(device)
        return SliceBatch(
            chrom=plan.chrom, slice_id=plan.slice_id, snp_index=rows,
            snp_ids=snp.column(S.SNP).to_numpy(zero_copy_only=False)[keep], bp=bp[keep],
            cm=None if cm is None else cm[keep],
            ld=sl.to(device=dev, dtype=dt),
            features=to_device(torch.from_numpy(X), dev),          # pinned + non_blocking when dev is CUDA
            tracks=None if trk is None else to_device(trk, dev),
            z=to_device(torch.from_numpy(zs[core_rows]), dev, dt),
            N=to_device(torch.from_numpy(ns[core_rows]), dev, dt),
            f_true=to_device(torch.from_numpy(ft), dev, dt) if any_truth else None,
            traits=list(traits), n_demoted=int((~have).sum()))
