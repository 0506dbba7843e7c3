"""The LD shard row format (deepwas_dist.data.slice_rows): encode then decode gives the slice back."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from deepwas_dist.data import schema as S
from deepwas_dist.data.slice_rows import decode_slice_row, encode_slice_row
from deepwas_dist.data.slicing import SlicePlan
from deepwas_dist.errors import InputError, SchemaError
from deepwas_dist.slice import LDSlice


def _slice(m: int = 30, n_ref: int = 12, seed: int = 3) -> tuple[SlicePlan, LDSlice]:
    """A rank-deficient slice: LD of ``n_ref`` individuals, rows 40..70 of chr 5, core rows 50..60."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_ref, m))
    X = (X - X.mean(0)) / X.std(0)
    R = X.T @ X / n_ref
    p = SlicePlan(chrom=5, slice_id=2, lo=40, hi=40 + m, core_lo=50, core_hi=60)
    return p, LDSlice.from_ld(R, p.core_mask(), 1e-6, n_ref=n_ref)


@pytest.mark.parametrize("dtype,tol", [("float64", 0.0), ("float32", 1e-6)])
def test_encode_decode_round_trip(dtype, tol):
    p, sl = _slice()
    table, nbytes = encode_slice_row(sl, p, dtype)
    assert table.schema.equals(S.ld_shard_schema(dtype)) and table.num_rows == 1
    r = sl.rank
    assert nbytes == (p.m * r + p.n * r) * np.dtype(dtype).itemsize + 2 * r * 8
    plan, back = decode_slice_row(table, "test", sl.n_ref)
    assert plan == p
    assert back.rank == r and back.n_ref == sl.n_ref and back.logdet_R == sl.logdet_R
    assert torch.equal(back.core_mask, sl.core_mask)
    assert torch.equal(back.lam, sl.lam) and torch.equal(back.omega, sl.omega)   # stored as float64
    for a, b in ((back.Z, sl.Z), (back.T, sl.T)):
        assert a.dtype == torch.float64 and a.shape == b.shape
        assert torch.allclose(a, b, rtol=tol, atol=tol)


def test_decode_refuses_malformed_rows():
    p, sl = _slice()
    table, _ = encode_slice_row(sl, p, "float32")
    with pytest.raises(SchemaError, match="one slice, found 2 rows"):
        decode_slice_row(pa.concat_tables([table, table]), "f.parquet", None)
    bad = table.set_column(table.schema.get_field_index(S.M_SNPS), S.M_SNPS, pa.array([p.m + 1], pa.int32()))
    with pytest.raises(SchemaError, match="inconsistent geometry"):
        decode_slice_row(bad, "f.parquet", None)
    bad = table.set_column(table.schema.get_field_index(S.RANK), S.RANK, pa.array([sl.rank + 1], pa.int32()))
    with pytest.raises(SchemaError, match="corrupt"):
        decode_slice_row(bad, "f.parquet", None)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_encode_refuses_factors_that_overflow_float16():
    p, sl = _slice()
    big = LDSlice(Z=sl.Z * 1e6, T=sl.T, lam=sl.lam, logdet_R=sl.logdet_R, core_mask=sl.core_mask, omega=sl.omega)
    with pytest.raises(InputError, match="overflow float16"):
        encode_slice_row(big, p, "float16")
