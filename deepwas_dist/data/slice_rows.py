"""The LD shard row format: one stored row per slice, encoded by the writer and decoded by the reader.

A row holds the slice's geometry (schema.SLICE_GEOMETRY_FIELDS: where it sits in the chromosome's SNP
table), ``logdet_R`` and the whitened factors of :class:`~deepwas_dist.slice.LDSlice` as flat lists:
``lam`` and ``omega`` (r,) in float64, ``Z`` (m*r) and ``T`` (n*r) row-major in the storage dtype. The
Arrow schema is :func:`schema.ld_shard_schema`; this module is the one place that maps a slice to that
schema and back.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import torch

from ..errors import InputError, SchemaError
from ..slice import LDSlice
from . import schema as S
from .slicing import SlicePlan

#: numpy types of the storage dtypes (schema.STORAGE_DTYPES) of Z and T.
NP_STORAGE = {"float16": np.float16, "float32": np.float32, "float64": np.float64}

#: Scalar columns of a row, read by :func:`decode_slice_row`.
_SCALARS = (S.CHR, S.SLICE_ID, S.SNP_LO, S.SNP_HI, S.CORE_LO, S.CORE_HI, S.M_SNPS, S.N_CORE, S.RANK, S.LOGDET_R)


def encode_slice_row(sl: LDSlice, p: SlicePlan, dtype: str) -> tuple[pa.Table, int]:
    """One LD-shard row for slice ``p`` and the bytes its arrays take in storage."""
    npdt = NP_STORAGE[dtype]
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


def decode_slice_row(row: pa.Table, where: str, n_ref: int | None) -> tuple[SlicePlan, LDSlice]:
    """The slice geometry and the float64 CPU :class:`LDSlice` of one stored row (``where`` names the file
    in errors; ``n_ref`` is the dataset's reference-panel size). SchemaError on a malformed row."""
    if row.num_rows != 1:
        raise SchemaError(f"{where}: an LD row group must hold one slice, found {row.num_rows} rows; "
                          "fix: re-write the dataset")
    g = {k: row.column(k)[0].as_py() for k in _SCALARS}
    lo, hi, c0, c1, m, n, r = (int(g[k]) for k in (S.SNP_LO, S.SNP_HI, S.CORE_LO, S.CORE_HI, S.M_SNPS,
                                                  S.N_CORE, S.RANK))

    def arr(name: str, shape: tuple[int, ...]) -> np.ndarray:
        col = row.column(name).combine_chunks()
        if col.null_count:
            raise SchemaError(f"{where}: slice {g[S.SLICE_ID]} has no {name}; fix: re-write the dataset")
        a = col.flatten().to_numpy(zero_copy_only=False)
        if a.size != int(np.prod(shape)):
            raise SchemaError(f"{where}: slice {g[S.SLICE_ID]} column {name} has {a.size} values, expected "
                              f"{shape}; the file is corrupt; fix: re-write the dataset")
        return a.astype(np.float64).reshape(shape)

    if m != hi - lo or n != c1 - c0 or not (lo <= c0 < c1 <= hi):
        raise SchemaError(f"{where}: slice {g[S.SLICE_ID]} has inconsistent geometry; fix: re-write the dataset")
    plan = SlicePlan(chrom=int(g[S.CHR]), slice_id=int(g[S.SLICE_ID]), lo=lo, hi=hi, core_lo=c0, core_hi=c1)
    Zm, Tm = arr(S.LD_Z, (m, r)), arr(S.LD_T, (n, r))
    lam, omega = arr(S.LD_LAM, (r,)), arr(S.LD_OMEGA, (r,))
    t = torch.from_numpy
    sl = LDSlice(Z=t(Zm), T=t(Tm), lam=t(lam), logdet_R=float(g[S.LOGDET_R]), core_mask=t(plan.core_mask()),
                 omega=t(omega), n_ref=n_ref)
    return plan, sl
