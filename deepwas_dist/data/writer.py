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
completes), and checksummed as it is written (:mod:`.checksum`). The manifest is published last, as the
next version of the dataset's manifest log, claimed by exclusive create (:mod:`.commit`), so a dataset is
either complete or not a dataset, and of two concurrent writers only one can publish a given version; a
writer that fails (an exception inside ``with``, a lost race, or :meth:`abort`) deletes its files and
publishes nothing. Overwriting (``overwrite=True``) publishes the next version and then deletes the old
files. While it runs, a writer holds a lease (:class:`~.gc.WriterLease`) that keeps ``prepare.py gc``
off its files.

Updating an existing dataset (add or replace a trait, replace the annotation columns)::

    with DatasetWriter.update("s3://bucket/ds", storage_options) as w:
        w.add_sumstats("bmi", harmonised_df)          # and/or w.remove_trait(...), w.set_annotations(c, df)
    # close() writes a new manifest that lists the kept files plus the new ones

An update writes only new files (under its own writer id), then swaps the manifest; until that swap
the old manifest and every file it lists stay untouched, so a failure at any point (validation,
storage, an interrupted process) leaves the old dataset valid and unchanged. Files the new manifest no
longer lists (a replaced trait's or SNP table's) are deleted after the swap. The swap refuses when
another writer changed the same part of the dataset since :meth:`DatasetWriter.update` opened it; an
update of other traits is rebased onto it (:meth:`UpdateMixin._rebase`).

This module holds the writer's orchestration (what is added when, publishing the manifest). The concerns
it delegates: table checks (:mod:`.validate`), annotation statistics (:mod:`.feature_stats`), the track
windows' layout (:mod:`.track_layout`), LD numerics (:mod:`.ld_numerics`), the LD row format
(:mod:`.slice_rows`), part files and shards (:mod:`.shards`), the files written with their sizes and
checksums (:mod:`.ledger`), the typed manifest and its assembly (:mod:`.manifest`) and update transactions
(:mod:`.update`).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import re
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import InputError
from . import schema as S
from . import validate as V
from .chroms import chrom_code as _as_chrom
from .chroms import lenient_chrom_codes
from .commit import Head, publish, read_head
from .feature_stats import FeatureStats
from .gc import WriterLease
from .ld_numerics import ld_settings, slice_from_ld
from .ledger import FileLedger
from .manifest import LDInfo, Manifest, TraitInfo, build_manifest, ld_section, simulation_section
from .records import ChromRecord
from .shards import ShardWriter, write_row_parts, write_slice_index
from .slice_rows import encode_slice_row
from .slicing import SliceGeometry, plan_slices
from .storage import filesystem, join, new_write_id, storage_errors
from .table_rows import encode_snp_table, encode_sumstats_table
from .track_layout import TrackLayout
from .update import UpdateMixin

log = logging.getLogger(__name__)

MiB = 1 << 20
_TRAIT_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


class DatasetWriter(UpdateMixin):
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
        self.simulation = simulation_section(simulation)
        if not target_file_mib > 0 or not row_group_mib > 0:
            raise InputError("target_file_mib and row_group_mib must be > 0")
        self.target_file_bytes = int(target_file_mib * MiB)
        self.row_group_bytes = int(row_group_mib * MiB)
        self.compression, self.ld_compression = compression, ld_compression
        with storage_errors(url, "access"):
            self._head: Head = read_head(self.fs, self.root, url, "access")   # the version this write follows
        if self._head.obj is not None and not overwrite:
            raise InputError(f"{url}: a dataset already exists here (manifest found); fix: choose a new "
                             "URL or pass overwrite=True (the old dataset stays valid until close())")
        self._chroms: dict[int, ChromRecord] = {}
        self._stats = FeatureStats()
        self._trk = TrackLayout()
        self._ld: dict | None = None
        self._ld_files: list[dict] = []
        self._slice_rows: list[dict] = []
        self._traits: dict[str, TraitInfo] = {}
        self._ledger = FileLedger(self.fs, self.root)          # the files written, their sizes and checksums
        self._closed = False
        self.manifest: Manifest | None = None
        # update mode (DatasetWriter.update): the dataset being updated, files kept from it, and the
        # chromosomes whose annotations set_annotations still has to replace (None: not replacing)
        self._base: Manifest | None = None
        self._base_ds = None
        self._annot_pending: set[int] | None = None
        self._rebased: Manifest | None = None
        self._garbage: set[str] = set()
        self._lease = WriterLease(self.fs, self.root, url, self.write_id)

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

    def set_tracks_dtype(self, dtype: str) -> None:
        """Store the track windows written from now on as ``dtype`` (schema.TRACK_DTYPES: "float32", the
        default, or "float16", rounded to nearest; read back as float32). Call it before the first
        chromosome's tracks (add_snps, or the first set_annotations, which re-writes every SNP table); an
        update that does not call set_annotations keeps the dataset's (changing it then is an error)."""
        self._check_open()
        if dtype not in S.TRACK_DTYPES:
            raise InputError(f"track dtype {dtype!r}: choose one of {list(S.TRACK_DTYPES)}")
        written = bool(self._trk.has) if self._base is None else self._annot_pending is not None
        if written and dtype != self._trk.dtype:
            raise InputError(f"{self.url}: track windows already written as {self._trk.dtype}; fix: set the "
                             "track dtype before the first chromosome's tracks")
        self._trk.dtype = dtype

    def set_annotations(self, chrom, annotations: pd.DataFrame, tracks: np.ndarray | None = None,
                        track_names: list[str] | None = None) -> int:
        """Replace chromosome ``chrom``'s annotation columns (update mode only).

        ``annotations``: one row per SNP of the stored SNP table, in its order (an SNP column, if present,
        must match), every non-metadata column a numeric annotation; checked exactly as in
        :meth:`add_snps`. The whole annotation set is replaced, so call it for every chromosome before
        close(); the standardisation statistics are recomputed. Track windows are kept, unless ``tracks``
        ((M, K, w) float32) replaces them (then on every chromosome; see :meth:`set_tracks_ingest`).
        Returns the SNP count.
        """
        self._check_open()
        if self._base is None:
            raise InputError(f"{self.url}: set_annotations updates an existing dataset (DatasetWriter.update); "
                             "a new dataset takes its annotations in add_snps")
        c = _as_chrom(chrom)
        if c not in self._chroms:
            raise InputError(f"{self.url}: chr{c} is not in the dataset (has {sorted(self._chroms)})")
        return self._replace_annotations(c, annotations, tracks, track_names)

    # ------------------------------------------------------------------------------ bookkeeping
    def _check_open(self) -> None:
        if self._closed:
            raise InputError(f"{self.url}: the writer is closed; open a new DatasetWriter")

    def _write_rows(self, table: pa.Table, reldir: str, bytes_per_row: float,
                    dictionary: list[str] | bool = False) -> list[dict]:
        """Write a row-indexed table as part files of ~target size with row groups of ~row_group_mib."""
        return write_row_parts(self, table, reldir, bytes_per_row, dictionary)

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
        sc = V.check_snp_table(snps, c, where, lenient_chrom_codes)
        ids, n = sc.ids, len(sc.ids)
        feats, X = V.check_annotations(annotations, ids, n, where)
        self._stats.expect(feats, where)
        trk = self._trk.check(tracks, track_names, ids, n, where)
        hashes = V.unique_genome_wide(ids, self._chroms, where)
        table, bytes_per_row = encode_snp_table(c, sc, feats, X, trk, self._trk.shape, self._trk.dtype)
        files = self._write_rows(table, f"{S.SNPS_DIR}/chr={c}", bytes_per_row, dictionary=[S.CHR, S.A1, S.A2])
        self._stats.add(X)
        self._chroms[c] = ChromRecord(n=n, bp=sc.bp, cm=sc.cm, ids=table.column(S.SNP).combine_chunks(),
                                      a1=table.column(S.A1).combine_chunks(), a2=table.column(S.A2).combine_chunks(),
                                      hashes=hashes, files=files)
        return n

    # ------------------------------------------------------------------------------------ LD
    def add_ld_slices(self, chrom, ld_fn: Callable[[int, int], np.ndarray], *,
                      core_kb: float = SliceGeometry.core_kb, bandwidth_kb: float | None = None,
                      bandwidth_cm: float | None = None, n_ref: int | None = None,
                      shrinkage: float = SliceGeometry.shrinkage, eig_threshold: float = SliceGeometry.eig_threshold,
                      dtype: str = SliceGeometry.dtype, ld_source: str | None = None, slice_maker=None) -> dict:
        """Cut chromosome ``chrom`` into slices and store each slice's whitened LD factors.

        ``ld_fn(lo, hi)`` returns the LD (correlation) matrix R, shape (hi-lo, hi-lo), of SNP rows
        [lo, hi) of the chromosome's SNP table (dense array, torch tensor or scipy sparse), unshrunk:
        the writer applies ``R <- (1 - shrinkage) R + shrinkage I``. ``LDSlice.from_ld`` runs once per
        slice (float64) and Z, T are stored as ``dtype`` ("float32" default; "float64"; "float16" with a
        measured NLL cost). Geometry (``core_kb``, bandwidths) and LD settings must be the same on every
        chromosome; the defaults are :class:`~deepwas_dist.data.slicing.SliceGeometry`'s (the flank bandwidth
        has none here: give ``bandwidth_kb`` and/or ``bandwidth_cm``).
        ``slice_maker(plans, settings)``, if given, yields each plan's LDSlice in plan order instead (ld_fn is
        then unused; e.g. Ray tasks, :mod:`deepwas_dist.ingest.ld_tasks`). Returns {n_slices, bytes,
        bytes_per_slice, max_m, max_rank}.
        """
        self._check_open()
        self._check_new("LD slices", "write a new dataset (DatasetWriter(url, overwrite=True))")
        c = _as_chrom(chrom)
        if c not in self._chroms:
            raise InputError(f"chr{c}: no SNP table; fix: call add_snps({c}, ...) before add_ld_slices")
        if any(r["chrom"] == c for r in self._slice_rows):
            raise InputError(f"chr{c}: LD slices added twice; fix: call add_ld_slices once per chromosome")
        geom = ld_settings(core_kb=core_kb, bandwidth_kb=bandwidth_kb, bandwidth_cm=bandwidth_cm, n_ref=n_ref,
                           shrinkage=shrinkage, eig_threshold=eig_threshold, dtype=dtype, ld_source=ld_source)
        if self._ld is not None and self._ld != geom:
            diff = {k: (self._ld[k], geom[k]) for k in geom if self._ld[k] != geom[k]}
            raise InputError(f"chr{c}: LD settings differ from the first chromosome's: {diff} (first, now); "
                             "fix: one geometry and LD source per dataset")
        st = self._chroms[c]
        plans = plan_slices(c, st.bp, cm=st.cm, core_kb=core_kb, bandwidth_kb=bandwidth_kb, bandwidth_cm=bandwidth_cm)
        self._ld = geom
        shard = ShardWriter(self, c, S.ld_shard_schema(dtype))
        rows, nbytes = [], 0
        made = (slice_from_ld(ld_fn, p, geom) for p in plans) if slice_maker is None else slice_maker(plans, geom)
        try:
            for p, sl in zip(plans, made, strict=True):
                table, b = encode_slice_row(sl, p, dtype)
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
        ss = V.check_sumstats(df, where, lenient_chrom_codes)
        ids, z, nn, f_true = ss.ids, ss.z, ss.n, ss.f_true
        matches, total = V.match_to_reference(ss, self._chroms, where)
        files: dict[int, list[dict]] = {}
        for c, pos in matches.items():
            table = encode_sumstats_table(self._chroms[c].ids, pos, z, nn, f_true)
            files[c] = self._write_rows(table, f"{S.SUMSTATS_DIR}/{trait}/chr={c}", 40.0)
        info = TraitInfo(n_input=len(ids), n_matched=total, n_unmatched=len(ids) - total, has_f_true=f_true is not None,
                         median_N=float(np.median(nn)), files=files)
        self._traits[trait] = info
        if info.n_unmatched:
            log.info("%s: %d of %d SNPs not in the reference, dropped", where, info.n_unmatched, len(ids))
        return {"n_input": info.n_input, "n_matched": info.n_matched, "n_unmatched": info.n_unmatched}

    # --------------------------------------------------------------------------- finishing
    def close(self) -> Manifest:
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
        self._lease.release()
        self.manifest = manifest
        # the replaced version's files that the new one does not list are garbage now (commit.py: no later
        # version can list them)
        for rel in self._garbage:
            with contextlib.suppress(Exception):
                self.fs.rm(join(self.root, rel))
        return manifest

    def _finish(self) -> Manifest:
        if not self._chroms:
            raise InputError(f"{self.url}: nothing to write; fix: add_snps / add_ld_slices / add_sumstats first")
        if self._annot_pending:
            raise InputError(f"{self.url}: set_annotations replaced the annotations of some chromosomes but not of "
                             f"{sorted(self._annot_pending)}; fix: set them for every chromosome (the annotation "
                             "set is replaced as a whole)")
        base_tracks = self._base.tracks if self._base is not None else None
        if (base_tracks is not None and self._annot_pending is None and self._trk.dtype != base_tracks.dtype):
            raise InputError(f"{self.url}: the track dtype changed to {self._trk.dtype} but no SNP table was "
                             "re-written; fix: call set_annotations for every chromosome after set_tracks_dtype")
        ld = self._base.ld if self._base is not None else self._write_slice_index()
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        # an update keeps the annotation statistics unless it replaced the annotations
        keep_features = self._base is not None and self._annot_pending is None
        manifest = build_manifest(
            write_id=self.write_id, created=now if self._base is None else (self._base.created or now),
            description=self.description, simulation=self.simulation, build=self.build, chroms=self._chroms,
            features=self._base.features if keep_features else self._stats.section(),
            tracks=self._trk.info(),
            traits=self._traits, ld=ld, files=self._ledger.files, checksums=self._ledger.checksums,
            updated=None if self._base is None else now)
        done = publish(self.fs, self.root, self.url, self._head, manifest.to_json(), self._rebase, self.write_id)
        final = replace(self._rebased or manifest, version=done.version)
        self._garbage = set((done.replaced or {}).get("files", {})) - set(final.files)
        return final

    def _write_slice_index(self) -> LDInfo:
        """Write the slice index of a new dataset; the manifest's "ld" section."""
        no_ld = sorted(set(self._chroms) - {r["chrom"] for r in self._slice_rows})
        if no_ld:
            raise InputError(f"{self.url}: chromosomes {no_ld} have SNPs but no LD slices; fix: call add_ld_slices "
                             "for each")
        rows = sorted(self._slice_rows, key=lambda r: (r["chrom"], r["slice_id"]))
        index_rel = write_slice_index(self, rows)
        return ld_section(self._ld, rows, index_rel, self._ld_files)

    def abort(self) -> None:
        """Delete everything this writer wrote (an update keeps the dataset's files); no manifest is
        written. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._lease.release()
        self._ledger.delete_own()

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self.abort()
        else:
            self.close()
        return False
