"""Writing a versioned dataset (DESIGN.md section 3): SNP tables, LD slice shards, summary statistics.

Usage::

    with DatasetWriter("s3://bucket/ds", storage_options={"endpoint_url": ...}, build="hg19") as w:
        for c in chroms:
            w.add_snps(c, snps_df, annotations_df, tracks=None)
            w.add_ld_slices(c, ld_fn, core_kb=1000, bandwidth_kb=1000, n_ref=378)
        w.add_sumstats("height", sumstats_df)
    # the manifest is written by close(), last

Atomicity: every file is written under a fresh writer id (``part-<wid>-<k>.parquet``), through a
temporary name plus rename on local filesystems (object stores publish an object only when its upload
completes). ``manifest.json`` is written last, so a dataset is either complete or not a dataset; a
writer that fails (an exception inside ``with``, or :meth:`abort`) deletes its files and writes no
manifest. Overwriting (``overwrite=True``) swaps the manifest atomically and then deletes the old files.

Updating an existing dataset (add or replace a trait, replace the annotation columns)::

    with DatasetWriter.update("s3://bucket/ds", storage_options) as w:
        w.add_sumstats("bmi", harmonised_df)          # and/or w.remove_trait(...), w.set_annotations(c, df)
    # close() writes a new manifest that lists the kept files plus the new ones

An update writes only new files (under its own writer id), then swaps the manifest; until that swap
the old manifest and every file it lists stay untouched, so a failure at any point (validation,
storage, an interrupted process) leaves the old dataset valid and unchanged. Files the new manifest no
longer lists (a replaced trait's or SNP table's) are deleted after the swap. The swap refuses when
another writer changed the dataset since :meth:`DatasetWriter.update` opened it.
"""
from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import json
import logging
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from ..errors import InputError
from ..slice import LDSlice
from . import schema as S
from .chroms import chrom_code as _as_chrom
from .slicing import plan_slices, SlicePlan
from .storage import atomic_open, filesystem, is_local, join, new_write_id, read_json, storage_errors, write_bytes

log = logging.getLogger(__name__)

MiB = 1 << 20
#: LD settings recorded in the manifest's "ld" section by add_ld_slices (the same on every chromosome).
_LD_GEOMETRY_KEYS = ("core_kb", "bandwidth_kb", "bandwidth_cm", "n_ref", "shrinkage", "eig_threshold", "dtype",
                     "source")
_TRAIT_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_NP_STORAGE = {"float16": np.float16, "float32": np.float32, "float64": np.float64}


@dataclass
class _Chrom:
    n: int
    bp: np.ndarray
    cm: np.ndarray | None
    ids: pa.Array
    a1: pa.Array
    a2: pa.Array
    hashes: np.ndarray
    files: list


def _chrom_codes(col: pd.Series) -> np.ndarray:
    """Integer chromosome codes of a CHR column (-1 where missing or unreadable)."""
    codes = {}
    for v in pd.unique(col):
        try:
            codes[v] = -1 if pd.isna(v) else _as_chrom(v)
        except InputError:
            codes[v] = -1
    return col.map(codes).fillna(-1).to_numpy(dtype=np.int64)


def _simulation_section(sim: dict | None) -> dict | None:
    """The manifest's "simulation" section (schema.SIMULATION_KEYS), checked; None for real data."""
    if sim is None:
        return None
    if set(sim) != set(S.SIMULATION_KEYS):
        raise InputError(f"simulation must have exactly the keys {list(S.SIMULATION_KEYS)}, got {sorted(sim)}")
    return {k: sim[k] for k in S.SIMULATION_KEYS}


def _examples(values, k: int = 5) -> str:
    vals = list(values)
    more = f" (+{len(vals) - k} more)" if len(vals) > k else ""
    return ", ".join(map(str, vals[:k])) + more


def _numeric(col: pd.Series, where: str, name: str) -> np.ndarray:
    try:
        return pd.to_numeric(col, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (ValueError, TypeError) as e:
        raise InputError(f"{where}: column {name} must be numeric ({e})") from e


def _strings(col: pd.Series, where: str, name: str, upper: bool = False) -> np.ndarray:
    if col.isna().any():
        rows = np.nonzero(col.isna().to_numpy())[0]
        raise InputError(f"{where}: column {name} has missing values at rows {_examples(rows)}")
    out = col.astype(str).str.strip()
    if upper:
        out = out.str.upper()
    if (out == "").any():
        rows = np.nonzero((out == "").to_numpy())[0]
        raise InputError(f"{where}: column {name} has empty strings at rows {_examples(rows)}")
    return out.to_numpy(dtype=object)


def _finite_or_raise(x: np.ndarray, ids: np.ndarray, where: str, name: str, fix: str) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        rows = np.nonzero(bad.reshape(len(ids), -1).any(axis=1))[0]
        raise InputError(f"{where}: {name} is missing/non-finite for {len(rows)} SNP(s): "
                         f"{_examples(ids[rows])}; fix: {fix}")


class _ShardWriter:
    """Streams one-row tables (one row group each) into LD shard files of about ``target_bytes``."""

    def __init__(self, w: "DatasetWriter", chrom: int, schema: pa.Schema):
        self.w, self.chrom, self.schema = w, chrom, schema
        self.k = 0
        self.cur: dict | None = None
        self.done: list[dict] = []

    def _open(self) -> None:
        w = self.w
        rel = f"{S.LD_DIR}/chr={self.chrom}/part-{w.write_id}-{self.k:05d}.parquet"
        path = join(w.root, rel)
        target = f"{path}.tmp" if is_local(w.fs) else path
        with storage_errors(w.url, "write"):
            if is_local(w.fs):
                w.fs.makedirs(join(w.root, f"{S.LD_DIR}/chr={self.chrom}"), exist_ok=True)
            fh = w.fs.open(target, "wb")
        w._pending.add(target)
        # float factors: dictionary encoding only adds a dictionary page (+58% size measured), and
        # min/max statistics of list elements are useless
        pw = pq.ParquetWriter(fh, self.schema, compression=w.ld_compression or "none", use_dictionary=False,
                              write_statistics=[S.SNP_LO, S.SNP_HI, S.SLICE_ID, S.CHR])
        self.cur = dict(rel=rel, path=path, target=target, fh=fh, pw=pw, rows=0, nbytes=0)
        self.k += 1

    def write(self, table: pa.Table, nbytes: int) -> tuple[str, int]:
        if self.cur is None:
            self._open()
        cur = self.cur
        with storage_errors(self.w.url, "write"):
            cur["pw"].write_table(table)
        rg = cur["rows"]
        cur["rows"] += 1
        cur["nbytes"] += nbytes
        if cur["nbytes"] >= self.w.target_file_bytes:
            self.finish()
        return cur["rel"], rg

    def finish(self) -> None:
        cur, self.cur = self.cur, None
        if cur is None:
            return
        w = self.w
        with storage_errors(w.url, "write"):
            cur["pw"].close()
            cur["fh"].close()
            if cur["target"] != cur["path"]:
                w.fs.mv(cur["target"], cur["path"])
            w._pending.discard(cur["target"])
            w._record(cur["rel"])
        self.done.append({"path": cur["rel"], "n_slices": cur["rows"], "bytes": w._files[cur["rel"]]})

    def abort(self) -> None:
        cur, self.cur = self.cur, None
        if cur is not None:
            for obj in (cur["pw"], cur["fh"]):
                with contextlib.suppress(Exception):
                    obj.close()


class DatasetWriter:
    """Write a dataset at ``url`` (any fsspec URL; ``storage_options`` go to the filesystem, e.g.
    ``{"endpoint_url": ..., "key": ..., "secret": ...}`` for s3fs).

    Args:
        build: genome build of the positions (e.g. "hg19"), recorded in the manifest.
        overwrite: replace an existing dataset at ``url`` (atomically, at close); else refuse.
        target_file_mib: target size of LD shards and SNP/sumstats part files.
        row_group_mib: target size of a SNP-table row group (the reader's unit of I/O).
        compression: Parquet codec of SNP and sumstats tables; ``ld_compression`` that of LD shards
            (whitened factors are near-incompressible floats, so None by default: faster reads).
    """

    def __init__(self, url: str, storage_options: dict | None = None, *, build: str | None = None,
                 overwrite: bool = False, target_file_mib: float = 64.0, row_group_mib: float = 16.0,
                 compression: str | None = "zstd", ld_compression: str | None = None,
                 description: str | None = None, simulation: dict | None = None):
        self.url = url
        self.storage_options = dict(storage_options or {})
        self.fs, self.root = filesystem(url, self.storage_options)
        self.write_id = new_write_id()
        self.build = build
        self.description = description
        self.simulation = _simulation_section(simulation)
        if not target_file_mib > 0 or not row_group_mib > 0:
            raise InputError("target_file_mib and row_group_mib must be > 0")
        self.target_file_bytes = int(target_file_mib * MiB)
        self.row_group_bytes = int(row_group_mib * MiB)
        self.compression, self.ld_compression = compression, ld_compression
        mpath = join(self.root, S.MANIFEST_FILE)
        with storage_errors(url, "access"):
            exists = self.fs.exists(mpath)
        self._old_manifest: dict | None = None
        if exists:
            if not overwrite:
                raise InputError(f"{url}: a dataset already exists here (manifest.json found); fix: choose a new "
                                 "URL or pass overwrite=True (the old dataset stays valid until close())")
            with contextlib.suppress(Exception):
                self._old_manifest = read_json(self.fs, mpath, url)
        self._chroms: dict[int, _Chrom] = {}
        self._features: list[str] | None = None
        self._stat_n = 0
        self._stat_mean: np.ndarray | None = None
        self._stat_m2: np.ndarray | None = None
        self._binary: np.ndarray | None = None
        self._tracks_shape: tuple[int, int] | None = None
        self._track_names: list[str] | None = None
        self._has_tracks: bool | None = None
        self._ld: dict | None = None
        self._ld_files: list[dict] = []
        self._slice_rows: list[dict] = []
        self._traits: dict[str, dict] = {}
        self._files: dict[str, int] = {}
        self._pending: set[str] = set()
        self._closed = False
        self.manifest: dict | None = None
        # update mode (DatasetWriter.update): the dataset being updated, files kept from it, and the
        # chromosomes whose annotations set_annotations still has to replace (None: not replacing)
        self._base: dict | None = None
        self._base_ds = None
        self._inherited: set[str] = set()
        self._annot_pending: set[int] | None = None

    # ------------------------------------------------------------------------------ updating
    @classmethod
    def update(cls, url: str, storage_options: dict | None = None, **kw) -> "DatasetWriter":
        """Open the existing dataset at ``url`` for an atomic update.

        Allowed on the returned writer: :meth:`add_sumstats` (a new trait), :meth:`remove_trait`,
        :meth:`set_annotations` (every chromosome's annotation columns, replaced as a whole). SNPs and LD
        slices cannot change (re-write the dataset for that). :meth:`close` writes the new manifest; an
        exception inside ``with`` (or :meth:`abort`) deletes the new files and leaves the dataset as it was.
        ``kw``: the constructor's file-size / compression options.
        """
        from .reader import Dataset
        ds = Dataset.open(url, storage_options)
        for k in ("overwrite", "build", "description", "simulation"):
            if k in kw:
                raise InputError(f"DatasetWriter.update does not take {k!r} (it keeps the dataset's own)")
        w = cls(url, storage_options, overwrite=True, **kw)
        w._load_base(ds)
        return w

    def _load_base(self, ds) -> None:
        m = ds.manifest
        self._base, self._base_ds, self._old_manifest = m, ds, m
        self.build, self.description = m.get("build"), m.get("description")
        self.simulation = m.get(S.MANIFEST_SIMULATION)
        self._ld = {k: v for k, v in m["ld"].items() if k in _LD_GEOMETRY_KEYS}
        self._features = list(m["features"]["names"])
        t = m["tracks"]
        self._has_tracks = t is not None
        if t is not None:
            self._tracks_shape, self._track_names = (int(t["K"]), int(t["w"])), t.get("names")
        self._traits = copy.deepcopy(m["traits"])
        self._files = {rel: int(b) for rel, b in m["files"].items()}
        self._inherited = set(self._files)
        for c in ds.chromosomes:
            df = ds.snps(c, columns=[S.SNP, S.BP, S.CM, S.A1, S.A2])
            ids = pa.array(df[S.SNP].to_numpy(dtype=object), type=pa.string())
            cm = df[S.CM].to_numpy(dtype=np.float64, na_value=np.nan)
            self._chroms[c] = _Chrom(n=len(df), bp=df[S.BP].to_numpy(dtype=np.int64),
                                     cm=None if np.isnan(cm).all() else cm, ids=ids,
                                     a1=pa.array(df[S.A1].to_numpy(dtype=object), type=pa.string()),
                                     a2=pa.array(df[S.A2].to_numpy(dtype=object), type=pa.string()),
                                     hashes=pd.util.hash_array(df[S.SNP].to_numpy(dtype=object)),
                                     files=list(m["snps"]["files"][str(c)]))

    def _check_new(self, what: str, fix: str) -> None:
        if self._base is not None:
            raise InputError(f"{self.url}: {what} cannot change in an update (DatasetWriter.update); fix: {fix}")

    def _drop_files(self, entries: list[dict]) -> None:
        """Unlist files from the manifest being built: kept files are deleted after the swap (close),
        files this writer wrote are deleted now."""
        for e in entries:
            rel = e["path"]
            self._files.pop(rel, None)
            if rel in self._inherited:
                self._inherited.discard(rel)
            else:
                with contextlib.suppress(Exception):
                    self.fs.rm(join(self.root, rel))

    @property
    def base_manifest(self) -> dict | None:
        """The manifest of the dataset being updated (None when writing a new dataset)."""
        return self._base

    @property
    def traits(self) -> list[str]:
        """Traits the dataset will have at close()."""
        return list(self._traits)

    def reference_snps(self) -> pd.DataFrame:
        """The reference SNPs added so far (or of the dataset being updated): CHR SNP BP A1 A2, genomic order."""
        parts = [pd.DataFrame({S.CHR: np.full(st.n, c, dtype=np.int32), S.SNP: st.ids.to_numpy(zero_copy_only=False),
                               S.BP: st.bp, S.A1: st.a1.to_numpy(zero_copy_only=False),
                               S.A2: st.a2.to_numpy(zero_copy_only=False)})
                 for c, st in sorted(self._chroms.items())]
        if not parts:
            return pd.DataFrame({k: [] for k in (S.CHR, S.SNP, S.BP, S.A1, S.A2)})
        return pd.concat(parts, ignore_index=True)

    def remove_trait(self, trait: str) -> None:
        """Drop ``trait`` (e.g. to replace it by add_sumstats): its files leave the new manifest and are
        deleted once the new manifest is published."""
        self._check_open()
        if trait not in self._traits:
            raise InputError(f"{self.url}: no trait {trait!r} to remove (has {sorted(self._traits)})")
        info = self._traits.pop(trait)
        self._drop_files([e for files in info.get("files", {}).values() for e in files])

    def set_annotations(self, chrom, annotations: pd.DataFrame) -> int:
        """Replace chromosome ``chrom``'s annotation columns (update mode only).

        ``annotations``: one row per SNP of the stored SNP table, in its order (an SNP column, if present,
        must match), every non-metadata column a numeric annotation; checked exactly as in
        :meth:`add_snps`. The whole annotation set is replaced, so call it for every chromosome before
        close(); the standardisation statistics are recomputed. Track windows are kept. Returns the SNP count.
        """
        self._check_open()
        if self._base is None:
            raise InputError(f"{self.url}: set_annotations updates an existing dataset (DatasetWriter.update); "
                             "a new dataset takes its annotations in add_snps")
        c = _as_chrom(chrom)
        if c not in self._chroms:
            raise InputError(f"{self.url}: chr{c} is not in the dataset (has {sorted(self._chroms)})")
        if self._annot_pending is None:           # first call: the old annotation set goes entirely
            self._annot_pending = set(self._chroms)
            self._features = None
            self._stat_n, self._stat_mean, self._stat_m2, self._binary = 0, None, None, None
        elif c not in self._annot_pending:
            raise InputError(f"{self.url}: annotations of chr{c} set twice; fix: call set_annotations once per "
                             "chromosome")
        snps, _, tracks = self._base_ds.features(c, tracks=True)
        old = self._chroms.pop(c)
        try:
            n = self._put_snps(c, snps, annotations, tracks, self._track_names)
        except BaseException:
            self._chroms[c] = old
            raise
        self._drop_files(old.files)
        self._annot_pending.discard(c)
        return n

    # ------------------------------------------------------------------------------ bookkeeping
    def _record(self, rel: str) -> None:
        self._files[rel] = int(self.fs.size(join(self.root, rel)))

    def _check_open(self) -> None:
        if self._closed:
            raise InputError(f"{self.url}: the writer is closed; open a new DatasetWriter")

    def _write_rows(self, table: pa.Table, reldir: str, bytes_per_row: float,
                    dictionary: list[str] | bool = False) -> list[dict]:
        """Write a row-indexed table as part files of ~target size with row groups of ~row_group_mib."""
        rg_rows = int(np.clip(self.row_group_bytes // max(bytes_per_row, 1.0), 1, 1 << 17))
        file_rows = max(rg_rows, int(self.target_file_bytes // max(bytes_per_row, 1.0)) // rg_rows * rg_rows)
        out = []
        for k, lo in enumerate(range(0, table.num_rows, file_rows)):
            hi = min(lo + file_rows, table.num_rows)
            rel = f"{reldir}/part-{self.write_id}-{k:05d}.parquet"
            with atomic_open(self.fs, join(self.root, rel), self.url) as f:
                pq.write_table(table.slice(lo, hi - lo), f, row_group_size=rg_rows,
                               compression=self.compression or "none", use_dictionary=dictionary)
            with storage_errors(self.url, "write"):
                self._record(rel)
            out.append({"path": rel, "row_lo": lo, "row_hi": hi, "bytes": self._files[rel]})
        return out

    # ---------------------------------------------------------------------------------- SNPs
    def add_snps(self, chrom, snps: pd.DataFrame, annotations: pd.DataFrame | None = None,
                 tracks: np.ndarray | None = None, track_names: list[str] | None = None) -> int:
        """Add chromosome ``chrom``'s reference SNPs (sorted by BP) and their features.

        ``snps``: columns SNP BP A1 A2 (CHR, CM, MAF optional). ``annotations``: one row per SNP in the
        same order (an SNP column, if present, must match; CHR/BP/CM/... columns of an LDSC .annot are
        dropped), every other column a numeric annotation; the same columns on every chromosome.
        ``tracks``: optional (M, K, w) float32 windows of functional tracks. Returns the SNP count.
        """
        self._check_open()
        self._check_new("the SNPs", "write a new dataset (DatasetWriter(url, overwrite=True)); annotations can be "
                        "replaced with set_annotations")
        c = _as_chrom(chrom)
        where = f"SNP table for chr{c}"
        if c in self._chroms:
            raise InputError(f"{where}: chromosome added twice; fix: call add_snps once per chromosome")
        if self._traits:
            raise InputError(f"{where}: add every chromosome's SNPs before add_sumstats")
        return self._put_snps(c, snps, annotations, tracks, track_names)

    def _put_snps(self, c: int, snps: pd.DataFrame, annotations, tracks, track_names) -> int:
        """Validate and write one chromosome's SNP table (add_snps, set_annotations)."""
        where = f"SNP table for chr{c}"
        if not isinstance(snps, pd.DataFrame):
            raise InputError(f"{where}: expected a pandas DataFrame, got {type(snps).__name__}")
        S.check_columns(snps.columns, S.SNP_REQUIRED_COLUMNS, where, stored=False,
                        fix=f"rename the columns to {list(S.SNP_REQUIRED_COLUMNS)} (CHR, CM, MAF optional)")
        df = snps.reset_index(drop=True)
        n = len(df)
        if n == 0:
            raise InputError(f"{where}: no SNPs")
        ids = _strings(df[S.SNP], where, S.SNP)
        dup = pd.Index(ids).duplicated()
        if dup.any():
            raise InputError(f"{where}: duplicate SNP IDs {_examples(pd.unique(ids[dup]))}; fix: drop duplicates "
                             "(e.g. keep the first; multi-allelic sites need distinct IDs)")
        if S.CHR in df.columns:
            bad = _chrom_codes(df[S.CHR]) != c
            if bad.any():
                raise InputError(f"{where}: CHR differs from {c} for SNPs {_examples(ids[bad])}; "
                                 "fix: split the table by chromosome")
        bp = _numeric(df[S.BP], where, S.BP)
        _finite_or_raise(bp, ids, where, "BP", "drop SNPs without a position")
        if np.any(bp < 0) or np.any(bp != np.round(bp)):
            raise InputError(f"{where}: BP must be non-negative integers")
        bp = bp.astype(np.int64)
        if np.any(np.diff(bp) < 0):
            i = int(np.nonzero(np.diff(bp) < 0)[0][0]) + 1
            raise InputError(f"{where}: positions out of order at row {i} (SNP {ids[i]}: BP {bp[i]} < {bp[i - 1]}); "
                             "fix: sort the SNP table (and its annotations) by BP")
        a1 = _strings(df[S.A1], where, S.A1, upper=True)
        a2 = _strings(df[S.A2], where, S.A2, upper=True)
        cm = None
        if S.CM in df.columns:
            cm = _numeric(df[S.CM], where, S.CM)
            if np.isnan(cm).all():
                cm = None
            else:
                _finite_or_raise(cm, ids, where, "CM", "fill every SNP's genetic position or drop the CM column")
                if np.any(np.diff(cm) < 0):
                    i = int(np.nonzero(np.diff(cm) < 0)[0][0]) + 1
                    raise InputError(f"{where}: CM decreases at row {i} (SNP {ids[i]}) while BP increases; "
                                     "fix: use a genetic map on the same build as BP")
        maf = _numeric(df[S.MAF], where, S.MAF) if S.MAF in df.columns else np.full(n, np.nan)
        if np.any((maf < 0) | (maf > 1)):
            raise InputError(f"{where}: MAF outside [0, 1]")

        feats, X = self._annotations(annotations, ids, n, where)
        trk = self._tracks(tracks, track_names, ids, n, where)
        # cross-chromosome duplicate IDs (64-bit hashes, confirmed on the strings)
        hashes = pd.util.hash_array(ids.astype(object))
        for oc, st in self._chroms.items():
            common = np.intersect1d(hashes, st.hashes)
            if common.size:
                other = set(st.ids.to_pylist())
                clash = [s for s in ids[np.isin(hashes, common)] if s in other]
                if clash:
                    raise InputError(f"{where}: SNP IDs {_examples(clash)} also appear on chr{oc}; "
                                     "fix: SNP IDs must be unique genome-wide")

        cols = {
            S.CHR: pa.array(np.full(n, c, dtype=np.int32)),
            S.SNP: pa.array(ids, type=pa.string()),
            S.BP: pa.array(bp, type=pa.int64()),
            S.CM: pa.array(cm if cm is not None else np.full(n, np.nan), mask=None if cm is not None else np.ones(n, bool),
                           type=pa.float64()),
            S.A1: pa.array(a1, type=pa.string()),
            S.A2: pa.array(a2, type=pa.string()),
            S.MAF: pa.array(maf, mask=np.isnan(maf), type=pa.float64()),
        }
        for j, name in enumerate(feats):
            cols[name] = pa.array(X[:, j], type=pa.float32())
        if trk is not None:
            cols[S.TRACKS] = pa.FixedShapeTensorArray.from_numpy_ndarray(trk)
        schema = S.snp_table_schema(feats, self._tracks_shape)
        table = pa.Table.from_pydict(cols, schema=schema)
        bytes_per_row = 48 + 4 * len(feats) + (4 * trk.shape[1] * trk.shape[2] if trk is not None else 0)
        files = self._write_rows(table, f"{S.SNPS_DIR}/chr={c}", bytes_per_row, dictionary=[S.CHR, S.A1, S.A2])
        self._update_stats(X)
        self._chroms[c] = _Chrom(n=n, bp=bp, cm=cm, ids=table.column(S.SNP).combine_chunks(),
                                 a1=table.column(S.A1).combine_chunks(), a2=table.column(S.A2).combine_chunks(),
                                 hashes=hashes, files=files)
        return n

    def _annotations(self, annotations, ids, n, where) -> tuple[list[str], np.ndarray]:
        if annotations is None:
            feats, X = [], np.zeros((n, 0), dtype=np.float32)
        else:
            if not isinstance(annotations, pd.DataFrame):
                raise InputError(f"{where}: annotations must be a pandas DataFrame, got {type(annotations).__name__}")
            ann = annotations.reset_index(drop=True)
            if len(ann) != n:
                raise InputError(f"{where}: annotations have {len(ann)} rows for {n} SNPs; fix: one annotation row "
                                 "per SNP, in the SNP table's order")
            if S.SNP in ann.columns:
                a_ids = ann[S.SNP].astype(str).str.strip().to_numpy(dtype=object)
                bad = a_ids != ids
                if bad.any():
                    i = int(np.nonzero(bad)[0][0])
                    raise InputError(f"{where}: annotation row {i} is SNP {a_ids[i]} but the SNP table has {ids[i]}; "
                                     "fix: align (merge) the annotations to the SNP table before writing")
            feats = [str(col) for col in ann.columns if col not in S.ANNOT_METADATA_COLUMNS]
            if len(set(feats)) != len(feats):
                raise InputError(f"{where}: duplicate annotation names")
            clash = sorted(set(feats) & S.RESERVED_COLUMNS)
            if clash:
                raise InputError(f"{where}: annotation names {clash} are reserved; fix: rename them")
            X = np.empty((n, len(feats)), dtype=np.float64)
            for j, col in enumerate(feats):
                X[:, j] = _numeric(ann[col], where, f"annotation {col!r}")
            _finite_or_raise(X, ids, where, "an annotation", "fill missing annotation values (e.g. 0) before writing")
        if self._features is None:
            self._features = feats
        elif feats != self._features:
            raise InputError(f"{where}: annotation columns {feats} differ from the first chromosome's "
                             f"{self._features}; fix: use the same annotations, in the same order, everywhere")
        return feats, X

    def _tracks(self, tracks, track_names, ids, n, where) -> np.ndarray | None:
        has = tracks is not None
        if self._has_tracks is not None and has != self._has_tracks:
            raise InputError(f"{where}: tracks given for some chromosomes but not others; fix: all or none")
        self._has_tracks = has
        if not has:
            return None
        trk = np.asarray(tracks.detach().cpu().numpy() if isinstance(tracks, torch.Tensor) else tracks)
        if trk.ndim != 3 or trk.shape[0] != n:
            raise InputError(f"{where}: tracks must have shape (M={n}, K, w), got {trk.shape}")
        trk = np.ascontiguousarray(trk, dtype=np.float32)
        _finite_or_raise(trk, ids, where, "a track value", "fill missing track coverage (e.g. 0)")
        shape = (int(trk.shape[1]), int(trk.shape[2]))
        if self._tracks_shape is None:
            self._tracks_shape = shape
            self._track_names = list(track_names) if track_names is not None else None
            if self._track_names is not None and len(self._track_names) != shape[0]:
                raise InputError(f"{where}: {len(self._track_names)} track names for K={shape[0]} tracks")
        elif shape != self._tracks_shape:
            raise InputError(f"{where}: track windows {shape} differ from the first chromosome's {self._tracks_shape}")
        return trk

    def _update_stats(self, X: np.ndarray) -> None:
        """Chan et al. merge of per-chromosome mean / sum of squares (float64, numerically stable)."""
        nb = X.shape[0]
        mb = X.mean(axis=0)
        m2b = ((X - mb) ** 2).sum(axis=0)
        binb = np.all((X == 0) | (X == 1), axis=0)
        if self._stat_mean is None:
            self._stat_n, self._stat_mean, self._stat_m2, self._binary = nb, mb, m2b, binb
            return
        na = self._stat_n
        delta = mb - self._stat_mean
        tot = na + nb
        self._stat_mean = self._stat_mean + delta * nb / tot
        self._stat_m2 = self._stat_m2 + m2b + delta ** 2 * na * nb / tot
        self._stat_n = tot
        self._binary = self._binary & binb

    # ------------------------------------------------------------------------------------ LD
    def add_ld_slices(self, chrom, ld_fn: Callable[[int, int], np.ndarray], *, core_kb: float = 1000.0,
                      bandwidth_kb: float | None = None, bandwidth_cm: float | None = None,
                      n_ref: int | None = None, shrinkage: float = 0.0, eig_threshold: float = 1e-6,
                      dtype: str = "float32", ld_source: str | None = None) -> dict:
        """Cut chromosome ``chrom`` into slices and store each slice's whitened LD factors.

        ``ld_fn(lo, hi)`` returns the LD (correlation) matrix R, shape (hi-lo, hi-lo), of SNP rows
        [lo, hi) of the chromosome's SNP table (dense array, torch tensor or scipy sparse), unshrunk:
        the writer applies ``R <- (1 - shrinkage) R + shrinkage I``. ``LDSlice.from_ld`` runs once per
        slice (float64) and Z, T are stored as ``dtype`` ("float32" default; "float64"; "float16" with a
        measured NLL cost). Geometry (``core_kb``, bandwidths) and LD settings must be the same on every
        chromosome. Returns {n_slices, bytes, bytes_per_slice, max_m, max_rank}.
        """
        self._check_open()
        self._check_new("LD slices", "write a new dataset (DatasetWriter(url, overwrite=True))")
        c = _as_chrom(chrom)
        if c not in self._chroms:
            raise InputError(f"chr{c}: no SNP table; fix: call add_snps({c}, ...) before add_ld_slices")
        if any(r["chrom"] == c for r in self._slice_rows):
            raise InputError(f"chr{c}: LD slices added twice; fix: call add_ld_slices once per chromosome")
        if dtype not in S.STORAGE_DTYPES:
            raise InputError(f"dtype must be one of {sorted(S.STORAGE_DTYPES)}, got {dtype!r}")
        if not (0.0 <= shrinkage < 1.0):
            raise InputError(f"shrinkage must be in [0, 1), got {shrinkage}")
        if n_ref is not None and (int(n_ref) != n_ref or n_ref < 2):
            raise InputError(f"n_ref must be an integer >= 2 (reference-panel size), got {n_ref!r}")
        geom = {"core_kb": float(core_kb),
                "bandwidth_kb": None if bandwidth_kb is None else float(bandwidth_kb),
                "bandwidth_cm": None if bandwidth_cm is None else float(bandwidth_cm),
                "n_ref": None if n_ref is None else int(n_ref), "shrinkage": float(shrinkage),
                "eig_threshold": float(eig_threshold), "dtype": dtype, "source": ld_source}
        if self._ld is not None and self._ld != geom:
            diff = {k: (self._ld[k], geom[k]) for k in geom if self._ld[k] != geom[k]}
            raise InputError(f"chr{c}: LD settings differ from the first chromosome's: {diff} (first, now); "
                             "fix: one geometry and LD source per dataset")
        st = self._chroms[c]
        plans = plan_slices(c, st.bp, cm=st.cm, core_kb=core_kb, bandwidth_kb=bandwidth_kb, bandwidth_cm=bandwidth_cm)
        self._ld = geom
        shard = _ShardWriter(self, c, S.ld_shard_schema(dtype))
        rows, nbytes = [], 0
        try:
            for p in plans:
                sl = self._slice_from_ld(ld_fn, p, geom)
                table, b = _slice_table(sl, p, dtype)
                rel, rg = shard.write(table, b)
                rows.append({"chrom": c, "slice_id": p.slice_id, "lo": p.lo, "hi": p.hi, "core_lo": p.core_lo,
                             "core_hi": p.core_hi, "m": p.m, "n": p.n, "rank": sl.rank, "bytes": b,
                             "file": rel, "row_group": rg})
                nbytes += b
            shard.finish()
        except BaseException:
            shard.abort()
            raise
        self._slice_rows.extend(rows)
        self._ld_files.extend(shard.done)
        out = {"n_slices": len(rows), "bytes": nbytes, "bytes_per_slice": nbytes / max(len(rows), 1),
               "max_m": max(r["m"] for r in rows), "max_rank": max(r["rank"] for r in rows)}
        log.info("chr%d: %d slices, %.1f MiB, %.1f KiB/slice", c, out["n_slices"], nbytes / MiB,
                 out["bytes_per_slice"] / 1024)
        return out

    @staticmethod
    def _slice_from_ld(ld_fn, p: SlicePlan, geom: dict) -> LDSlice:
        name = f"chr{p.chrom} slice {p.slice_id} (SNP rows {p.lo}..{p.hi})"
        R = ld_fn(p.lo, p.hi)
        if hasattr(R, "toarray"):
            R = R.toarray()
        if isinstance(R, torch.Tensor):
            R = R.detach().cpu().numpy()
        R = np.asarray(R, dtype=np.float64)
        if R.shape != (p.m, p.m):
            raise InputError(f"{name}: ld_fn({p.lo}, {p.hi}) returned shape {R.shape}, expected {(p.m, p.m)}")
        a = geom["shrinkage"]
        if a > 0:
            R = (1.0 - a) * R
            R[np.diag_indices(p.m)] += a
        return LDSlice.from_ld(R, p.core_mask(), geom["eig_threshold"], n_ref=geom["n_ref"], name=name)

    # ------------------------------------------------------------------------------ sumstats
    def add_sumstats(self, trait: str, df: pd.DataFrame) -> dict:
        """Add a trait's summary statistics, harmonised to the reference alleles.

        Columns SNP Z N (A1 A2 optional: if present they must equal the reference alleles; CHR optional:
        checked; F_TRUE optional: simulated per-SNP heritability). SNPs not in the SNP tables are dropped
        and counted. Stored dense per chromosome, aligned to the SNP table (null where no z-score).
        Returns {n_input, n_matched, n_unmatched}.
        """
        self._check_open()
        where = f"sumstats for trait {trait!r}"
        if not isinstance(trait, str) or not _TRAIT_RE.match(trait):
            raise InputError(f"trait name {trait!r} must match [A-Za-z0-9_.-]+ (it becomes a path)")
        if trait in self._traits:
            raise InputError(f"{where}: trait added twice" + ("" if self._base is None else
                             " (it is already in the dataset); fix: remove_trait first to replace it"))
        if not self._chroms:
            raise InputError(f"{where}: no SNP tables yet; fix: call add_snps for every chromosome first")
        if not isinstance(df, pd.DataFrame):
            raise InputError(f"{where}: expected a pandas DataFrame, got {type(df).__name__}")
        S.check_columns(df.columns, S.SUMSTATS_REQUIRED_COLUMNS, where, stored=False,
                        fix="harmonise with deepwas_dist.ingest, which yields SNP A1 A2 Z N")
        d = df.reset_index(drop=True)
        if len(d) == 0:
            raise InputError(f"{where}: no rows")
        ids = _strings(d[S.SNP], where, S.SNP)
        dup = pd.Index(ids).duplicated()
        if dup.any():
            raise InputError(f"{where}: duplicate SNP IDs {_examples(pd.unique(ids[dup]))}; fix: keep one row per SNP")
        z = _numeric(d[S.Z], where, S.Z)
        _finite_or_raise(z, ids, where, "Z", "drop SNPs without a z-score (absent SNPs are simply not scored)")
        nn = _numeric(d[S.N], where, S.N)
        _finite_or_raise(nn, ids, where, "N", "give every SNP its GWAS sample size")
        if np.any(nn <= 0):
            raise InputError(f"{where}: N must be > 0 (SNPs {_examples(ids[nn <= 0])})")
        f_true = None
        if S.F_TRUE in d.columns:
            f_true = _numeric(d[S.F_TRUE], where, S.F_TRUE)
            _finite_or_raise(f_true, ids, where, "F_TRUE", "give the truth for every SNP or drop the column")
            if np.any(f_true < 0):
                raise InputError(f"{where}: F_TRUE (per-SNP heritability) must be >= 0")
        alleles = (_strings(d[S.A1], where, S.A1, upper=True), _strings(d[S.A2], where, S.A2, upper=True)) \
            if S.A1 in d.columns and S.A2 in d.columns else None
        chr_in = _chrom_codes(d[S.CHR]) if S.CHR in d.columns else None

        index = pd.Index(ids)
        matches: dict[int, np.ndarray] = {}
        total = 0
        for c in sorted(self._chroms):
            st = self._chroms[c]
            pos = index.get_indexer(st.ids.to_numpy(zero_copy_only=False))
            hit = pos >= 0
            src = pos[hit]
            if chr_in is not None:
                bad = chr_in[src] != c
                if bad.any():
                    raise InputError(f"{where}: SNPs {_examples(ids[src[bad]])} are on chr{c} in the reference but "
                                     "on another chromosome in the sumstats; fix: use the reference build")
            if alleles is not None:
                ra1 = st.a1.to_numpy(zero_copy_only=False)[hit]
                ra2 = st.a2.to_numpy(zero_copy_only=False)[hit]
                bad = (alleles[0][src] != ra1) | (alleles[1][src] != ra2)
                if bad.any():
                    k = int(np.nonzero(bad)[0][0])
                    raise InputError(f"{where}: {int(bad.sum())} SNP(s) are not harmonised to the reference alleles "
                                     f"(e.g. {ids[src[k]]}: {alleles[0][src[k]]}/{alleles[1][src[k]]} vs reference "
                                     f"{ra1[k]}/{ra2[k]}); fix: harmonise with deepwas_dist.ingest (flip Z on "
                                     "swapped alleles, drop mismatches)")
            matches[c] = pos
            total += int(hit.sum())
        if total == 0:
            raise InputError(f"{where}: none of its {len(d)} SNP IDs is in the SNP tables; fix: use the reference "
                             "panel's SNP IDs (e.g. rsIDs) or harmonise by position first")
        schema = S.sumstats_table_schema(f_true is not None)
        files = {}
        for c, pos in matches.items():
            st = self._chroms[c]
            miss = pos < 0
            safe = np.where(miss, 0, pos)
            cols = {S.SNP: st.ids,
                    S.Z: pa.array(z[safe], mask=miss, type=pa.float64()),
                    S.N: pa.array(nn[safe], mask=miss, type=pa.float64())}
            if f_true is not None:
                cols[S.F_TRUE] = pa.array(f_true[safe], mask=miss, type=pa.float64())
            table = pa.Table.from_pydict(cols, schema=schema)
            files[str(c)] = self._write_rows(table, f"{S.SUMSTATS_DIR}/{trait}/chr={c}", 40.0)
        info = {"n_input": int(len(d)), "n_matched": total, "n_unmatched": int(len(d) - total),
                "has_f_true": f_true is not None, "median_N": float(np.median(nn)), "files": files}
        self._traits[trait] = info
        if info["n_unmatched"]:
            log.info("%s: %d of %d SNPs not in the reference, dropped", where, info["n_unmatched"], len(d))
        return {k: info[k] for k in ("n_input", "n_matched", "n_unmatched")}

    # --------------------------------------------------------------------------- finishing
    def close(self) -> dict:
        """Validate completeness, write the slice index and then, last, the manifest. Returns it."""
        if self._closed:
            if self.manifest is None:
                raise InputError(f"{self.url}: the writer was aborted; nothing was published")
            return self.manifest
        try:
            manifest = self._finish()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        self.manifest = manifest
        if self._old_manifest is not None:   # replaced dataset: its files are garbage now
            for rel in self._old_manifest.get("files", {}):
                if rel not in self._files:
                    with contextlib.suppress(Exception):
                        self.fs.rm(join(self.root, rel))
        return manifest

    def _finish(self) -> dict:
        if not self._chroms:
            raise InputError(f"{self.url}: nothing to write; fix: add_snps / add_ld_slices / add_sumstats first")
        if self._annot_pending:
            raise InputError(f"{self.url}: set_annotations replaced the annotations of some chromosomes but not of "
                             f"{sorted(self._annot_pending)}; fix: set them for every chromosome (the annotation "
                             "set is replaced as a whole)")
        ld = self._base["ld"] if self._base is not None else self._write_slice_index()
        chroms = sorted(self._chroms)
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        manifest = {
            "format": S.DATASET_FORMAT,
            "schema_version": S.SCHEMA_VERSION,
            "write_id": self.write_id,
            "created": now if self._base is None else self._base.get("created", now),
            "writer": _writer_version(),
            "description": self.description,
            S.MANIFEST_SIMULATION: self.simulation,
            "build": self.build,
            "chromosomes": chroms,
            "snps": {"n_total": int(sum(self._chroms[c].n for c in chroms)),
                     "per_chrom": {str(c): self._chroms[c].n for c in chroms},
                     "has_cm": {str(c): self._chroms[c].cm is not None for c in chroms},
                     "files": {str(c): self._chroms[c].files for c in chroms}},
            "features": self._features_section(),
            "tracks": None if self._tracks_shape is None else
            {"K": self._tracks_shape[0], "w": self._tracks_shape[1], "names": self._track_names},
            "traits": self._traits,
            "ld": ld,
            "files": dict(sorted(self._files.items())),
            "bytes_written": int(sum(self._files.values())),
        }
        if self._base is not None:
            manifest["updated"] = now
            self._check_unchanged()
        data = json.dumps(manifest, indent=1, allow_nan=False).encode("utf-8")
        write_bytes(self.fs, join(self.root, S.MANIFEST_FILE), data, self.url)
        return manifest

    def _write_slice_index(self) -> dict:
        """Write the slice index of a new dataset; the manifest's "ld" section."""
        no_ld = sorted(set(self._chroms) - {r["chrom"] for r in self._slice_rows})
        if no_ld:
            raise InputError(f"{self.url}: chromosomes {no_ld} have SNPs but no LD slices; fix: call add_ld_slices "
                             "for each")
        rows = sorted(self._slice_rows, key=lambda r: (r["chrom"], r["slice_id"]))
        keys = {S.CHR: "chrom", S.SLICE_ID: "slice_id", S.SNP_LO: "lo", S.SNP_HI: "hi", S.CORE_LO: "core_lo",
                S.CORE_HI: "core_hi", S.M_SNPS: "m", S.N_CORE: "n", S.RANK: "rank", S.BYTES: "bytes",
                S.FILE: "file", S.ROW_GROUP: "row_group"}
        # column types come from the schema (the one place they are defined)
        index = pa.Table.from_pydict({col: [r[keys[col]] for r in rows] for col in S.SLICE_INDEX_SCHEMA.names},
                                     schema=S.SLICE_INDEX_SCHEMA)
        index_rel = f"{S.LD_DIR}/slice_index-{self.write_id}.parquet"
        with atomic_open(self.fs, join(self.root, index_rel), self.url) as f:
            pq.write_table(index, f, compression="zstd")
        with storage_errors(self.url, "write"):
            self._record(index_rel)
        slice_bytes = int(sum(r["bytes"] for r in rows))
        return {**self._ld, "n_slices": len(rows), "index": index_rel, "files": self._ld_files,
                "slice_bytes": slice_bytes, "bytes_per_slice_mean": slice_bytes / len(rows),
                "max_m": max(r["m"] for r in rows), "max_rank": max(r["rank"] for r in rows)}

    def _features_section(self) -> dict:
        """Annotation names and standardisation statistics (kept as they were by an update that does not
        replace the annotations)."""
        if self._base is not None and self._annot_pending is None:
            return self._base["features"]
        feats = self._features or []
        std = np.sqrt(self._stat_m2 / max(self._stat_n, 1)) if feats else np.zeros(0)
        constant = [f for f, s in zip(feats, std) if not s > 0]
        std = np.where(std > 0, std, 1.0)
        return {"names": feats,
                "binary": [f for f, b in zip(feats, self._binary if feats else []) if b],
                "mean": [float(v) for v in (self._stat_mean if feats else [])],
                "std": [float(v) for v in std],
                "constant": constant}

    def _check_unchanged(self) -> None:
        """Before an update's manifest swap: the dataset must still be the one update() opened."""
        try:
            now = read_json(self.fs, join(self.root, S.MANIFEST_FILE), self.url)
        except FileNotFoundError:
            now = {}
        if now.get("write_id") != self._base.get("write_id"):
            raise InputError(f"{self.url}: the dataset was changed or removed by another writer while this update "
                             "ran; nothing was published; fix: run the update again")

    def abort(self) -> None:
        """Delete everything this writer wrote (an update keeps the dataset's files); no manifest is
        written. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for rel in [r for r in self._files if r not in self._inherited] + list(self._pending):
            path = rel if rel in self._pending else join(self.root, rel)
            with contextlib.suppress(Exception):
                self.fs.rm(path)
        self._files.clear()
        self._pending.clear()

    def __enter__(self) -> "DatasetWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self.abort()
        else:
            self.close()
        return False


def _slice_table(sl: LDSlice, p: SlicePlan, dtype: str) -> tuple[pa.Table, int]:
    """One LD-shard row for slice ``p`` and the bytes its arrays take in storage."""
    npdt = _NP_STORAGE[dtype]
    where = f"chr{p.chrom} slice {p.slice_id}"

    def flat(x: torch.Tensor, dt=npdt) -> np.ndarray:
        a = x.detach().cpu().numpy().astype(dt).ravel()
        if not np.all(np.isfinite(a)):
            raise InputError(f"{where}: whitened LD factors overflow {dtype} storage; fix: store as float32")
        return a

    def lst(a: np.ndarray) -> pa.Array:
        return pa.LargeListArray.from_arrays(pa.array([0, a.size], pa.int64()), pa.array(a))

    Z, T = flat(sl.Z), flat(sl.T)
    lam, omega = flat(sl.lam, np.float64), flat(sl.omega, np.float64)
    cols = {S.CHR: pa.array([p.chrom], pa.int32()), S.SLICE_ID: pa.array([p.slice_id], pa.int32()),
            S.SNP_LO: pa.array([p.lo], pa.int64()), S.SNP_HI: pa.array([p.hi], pa.int64()),
            S.CORE_LO: pa.array([p.core_lo], pa.int64()), S.CORE_HI: pa.array([p.core_hi], pa.int64()),
            S.M_SNPS: pa.array([p.m], pa.int32()), S.N_CORE: pa.array([p.n], pa.int32()),
            S.RANK: pa.array([sl.rank], pa.int32()), S.LOGDET_R: pa.array([sl.logdet_R], pa.float64()),
            S.LD_LAM: lst(lam), S.LD_OMEGA: lst(omega), S.LD_Z: lst(Z), S.LD_T: lst(T)}
    nbytes = Z.nbytes + T.nbytes + lam.nbytes + omega.nbytes
    return pa.Table.from_pydict(cols, schema=S.ld_shard_schema(dtype)), int(nbytes)


def _writer_version() -> str:
    from .. import __version__
    return f"deepwas_dist {__version__}"
