"""Writing a dataset's Parquet part files: LD shards (one row group per slice), row-indexed tables, the
slice index.

Every file is named ``part-<writer id>-<k>.parquet`` and recorded in the writer's ledger (``w._ledger``,
:mod:`.ledger`: its size and the checksum of the bytes written, :class:`~.checksum.HashingFile`) once
complete; local files are written under a temporary name and renamed (object stores publish an object
only when its upload completes). Sizes: an LD shard is closed after the first slice that takes it to
``target_file_mib`` (64 MiB by default), so it is at most that plus one slice; a table's part file holds
``target_file_mib`` worth of rows, in row groups of about ``row_group_mib``. The ``w`` these take is the
:class:`~deepwas_dist.data.writer.DatasetWriter` whose files they are: its filesystem, URL, writer id,
size targets and compression, and its ledger.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import schema as S
from .checksum import HashingFile
from .storage import atomic_open, is_local, join, storage_errors

if TYPE_CHECKING:   # annotation only: the writer imports this module
    from .writer import DatasetWriter


class ShardWriter:
    """Streams one-row tables (one row group each) into LD shard files of about ``target_bytes``."""

    def __init__(self, w: DatasetWriter, chrom: int, schema: pa.Schema):
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
        w._ledger.pending.add(target)
        hf = HashingFile(fh)
        # float factors: dictionary encoding only adds a dictionary page (+58% size measured), and
        # min/max statistics of list elements are useless
        pw = pq.ParquetWriter(hf, self.schema, compression=w.ld_compression or "none", use_dictionary=False,
                              write_statistics=[S.SNP_LO, S.SNP_HI, S.SLICE_ID, S.CHR])
        self.cur = dict(rel=rel, path=path, target=target, fh=fh, hf=hf, pw=pw, rows=0, nbytes=0)
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
            w._ledger.pending.discard(cur["target"])
            nbytes = w._ledger.record(cur["rel"], cur["hf"].checksum)
        self.done.append({"path": cur["rel"], "n_slices": cur["rows"], "bytes": nbytes})

    def abort(self) -> None:
        cur, self.cur = self.cur, None
        if cur is not None:
            for obj in (cur["pw"], cur["fh"]):
                with contextlib.suppress(Exception):
                    obj.close()


def write_row_parts(w: DatasetWriter, table: pa.Table, reldir: str, bytes_per_row: float,
                    dictionary: list[str] | bool = False) -> list[dict]:
    """Write a row-indexed table as part files of ~target size with row groups of ~row_group_mib."""
    rg_rows = int(np.clip(w.row_group_bytes // max(bytes_per_row, 1.0), 1, 1 << 17))
    file_rows = max(rg_rows, int(w.target_file_bytes // max(bytes_per_row, 1.0)) // rg_rows * rg_rows)
    out = []
    for k, lo in enumerate(range(0, table.num_rows, file_rows)):
        hi = min(lo + file_rows, table.num_rows)
        rel = f"{reldir}/part-{w.write_id}-{k:05d}.parquet"
        with atomic_open(w.fs, join(w.root, rel), w.url) as f:
            pq.write_table(table.slice(lo, hi - lo), f, row_group_size=rg_rows,
                           compression=w.compression or "none", use_dictionary=dictionary)
        with storage_errors(w.url, "write"):
            nbytes = w._ledger.record(rel, f.checksum)
        out.append({"path": rel, "row_lo": lo, "row_hi": hi, "bytes": nbytes})
    return out


#: Slice-index column -> key of the writer's per-slice record (add_ld_slices).
_INDEX_KEYS = {S.CHR: "chrom", S.SLICE_ID: "slice_id", S.SNP_LO: "lo", S.SNP_HI: "hi", S.CORE_LO: "core_lo",
               S.CORE_HI: "core_hi", S.M_SNPS: "m", S.N_CORE: "n", S.RANK: "rank", S.BYTES: "bytes",
               S.FILE: "file", S.ROW_GROUP: "row_group"}


def write_slice_index(w: DatasetWriter, rows: list[dict]) -> str:
    """Write the slice index (one row per slice record, in the given order); returns its relative path."""
    # column types come from the schema (the one place they are defined)
    index = pa.Table.from_pydict({col: [r[_INDEX_KEYS[col]] for r in rows] for col in S.SLICE_INDEX_SCHEMA.names},
                                 schema=S.SLICE_INDEX_SCHEMA)
    index_rel = f"{S.LD_DIR}/slice_index-{w.write_id}.parquet"
    with atomic_open(w.fs, join(w.root, index_rel), w.url) as f:
        pq.write_table(index, f, compression="zstd")
    with storage_errors(w.url, "write"):
        w._ledger.record(index_rel, f.checksum)
    return index_rel
