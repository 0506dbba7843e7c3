"""Write a dataset, read it back, compare with the inputs and with direct computation from R."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from deepwas_dist.data import Dataset, DatasetWriter, plan_slices
from deepwas_dist.data import schema as S
from deepwas_dist.errors import InputError
from deepwas_dist.slice import LDSlice

from .conftest import BANDWIDTH_KB, CORE_KB, make_toy, write_toy

try:
    from deepwas_dist.likelihood import marginal_nll
except ImportError:  # pragma: no cover - the likelihood engine is a separate module
    marginal_nll = None


def nll(sl: LDSlice, z: torch.Tensor, log_s: torch.Tensor, log_sigma: float = 0.0) -> float:
    """Exact slice NLL (DESIGN.md section 1): marginal_nll when available, else the closed form."""
    sl = sl.to(dtype=torch.float64)
    z, log_s = z.to(torch.float64), log_s.to(torch.float64)
    if marginal_nll is not None:
        return float(marginal_nll(sl, z, log_s, torch.tensor(log_sigma, dtype=torch.float64), method="exact").nll)
    u = sl.whiten(z)
    K = np.exp(log_sigma) * torch.eye(sl.rank, dtype=torch.float64) + sl.Z.T @ (log_s.exp()[:, None] * sl.Z)
    L = torch.linalg.cholesky(K)
    a = torch.cholesky_solve(u[:, None], L)[:, 0]
    return float(0.5 * (2 * L.diagonal().log().sum() + u @ a + sl.logdet_R + sl.rank * np.log(2 * np.pi)))


def _plans(toy, c, **bw):
    bp, cm = toy.snps[c]["BP"].to_numpy(), toy.snps[c]["CM"].to_numpy()
    return plan_slices(c, bp, cm=cm, core_kb=CORE_KB, **(bw or {"bandwidth_kb": BANDWIDTH_KB}))


def _direct(toy, p, core_mask=None) -> LDSlice:
    R = toy.R[p.chrom][p.lo:p.hi, p.lo:p.hi]
    return LDSlice.from_ld(R, p.core_mask() if core_mask is None else core_mask, n_ref=toy.n_ref)


def _log_s(m, seed=0):
    return torch.from_numpy(np.log(np.random.default_rng(seed).uniform(0.5, 5.0, m)))


def test_manifest_records_the_dataset(toy, toy_ds64):
    ds = Dataset.open(toy_ds64)
    m = ds.manifest
    assert m.schema_version == S.SCHEMA_VERSION and m.build == "hg19"
    assert ds.chromosomes == [1, 2] and ds.n_snps == 900
    assert m.snps.per_chrom == {1: 600, 2: 300}
    assert ds.feature_names == ["base", "coding", "cons"]
    assert ds.binary_features == ["base", "coding"] and m.features.constant == ["base"]
    allX = pd.concat([toy.ann[c] for c in toy.chroms])
    np.testing.assert_allclose(m.features.mean, allX[ds.feature_names].mean().to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(m.features.std[1:], allX[["coding", "cons"]].std(ddof=0).to_numpy(), rtol=1e-10)
    assert ds.tracks_shape == (2, 4)
    assert m.traits["t1"].n_unmatched == 1 and m.traits["t1"].has_f_true
    assert m.traits["t2"].n_matched == len(toy.sumstats["t2"])
    ld = ds.ld_info
    assert (ld["core_kb"], ld["bandwidth_kb"], ld["bandwidth_cm"], ld["n_ref"], ld["dtype"]) == \
        (CORE_KB, BANDWIDTH_KB, None, toy.n_ref, "float64")
    on_disk = {str(p.relative_to(toy_ds64)): p.stat().st_size for p in Path(toy_ds64).rglob("*.parquet")}
    assert on_disk == m.files and m.bytes_written == sum(on_disk.values())


def test_snp_tables_and_sumstats_read_back(toy, toy_ds64):
    ds = Dataset.open(toy_ds64)
    for c in toy.chroms:
        got = ds.snps(c)
        want = toy.snps[c]
        for col in ("SNP", "BP", "A1", "A2", "CM", "MAF"):
            np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy())
        np.testing.assert_array_equal(got[["base", "coding", "cons"]].to_numpy(),
                                      toy.ann[c][["base", "coding", "cons"]].to_numpy().astype(np.float32))
    for t in ("t1", "t2"):
        got = ds.sumstats(t).set_index("SNP")
        want = toy.sumstats[t].set_index("SNP").drop(index="rs_not_in_ref", errors="ignore")
        assert set(got.index) == set(want.index)
        np.testing.assert_array_equal(got.loc[want.index, "Z"], want["Z"])
        np.testing.assert_array_equal(got.loc[want.index, "N"], want["N"])
    assert "F_TRUE" in ds.sumstats("t1").columns and "F_TRUE" not in ds.sumstats("t2").columns


def test_slices_equal_direct_computation(toy, toy_ds64):
    """float64 storage: every array of every slice equals what we compute from R and the inputs."""
    ds = Dataset.open(toy_ds64)
    m = ds.manifest.features
    t1 = toy.sumstats["t1"].set_index("SNP")
    batches = list(ds.slices(traits=["t1"]))
    plans = [p for c in toy.chroms for p in _plans(toy, c)]
    assert [(b.chrom, b.slice_id) for b in batches] == [(p.chrom, p.slice_id) for p in plans]
    for b, p in zip(batches, plans):
        ref = _direct(toy, p)
        for name in ("Z", "T", "lam", "omega"):
            torch.testing.assert_close(getattr(b.ld, name), getattr(ref, name), rtol=0, atol=0)
        assert b.ld.logdet_R == ref.logdet_R and b.ld.n_ref == toy.n_ref and b.n_demoted == 0
        assert torch.equal(b.ld.core_mask, torch.from_numpy(p.core_mask()))
        np.testing.assert_array_equal(b.snp_index, np.arange(p.lo, p.hi))
        snps = toy.snps[p.chrom].iloc[p.lo:p.hi]
        np.testing.assert_array_equal(b.snp_ids, snps["SNP"].to_numpy())
        np.testing.assert_array_equal(b.bp, snps["BP"].to_numpy())
        X = toy.ann[p.chrom][ds.feature_names].to_numpy()[p.lo:p.hi].astype(np.float32).astype(np.float64)
        Xs = (X - np.array(m.mean)) / np.array(m.std)
        assert b.features.dtype == torch.float32
        np.testing.assert_allclose(b.features.numpy(), Xs, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(b.tracks.numpy(), toy.tracks[p.chrom][p.lo:p.hi])
        core_ids = snps["SNP"].to_numpy()[p.core_mask()]
        np.testing.assert_array_equal(b.z[:, 0].numpy(), t1.loc[core_ids, "Z"].to_numpy())
        np.testing.assert_array_equal(b.N[:, 0].numpy(), t1.loc[core_ids, "N"].to_numpy())
        np.testing.assert_array_equal(b.f_true[:, 0].numpy(), t1.loc[snps["SNP"], "F_TRUE"].to_numpy())
        np.testing.assert_array_equal(b.core_index, np.arange(p.core_lo, p.core_hi))
    # the standardised features over the whole dataset have mean 0, sd 1 (non-constant ones)
    F = torch.cat([b.features[b.ld.core_mask] for b in batches]).double()
    np.testing.assert_allclose(F.mean(0).numpy()[1:], 0, atol=1e-6)
    np.testing.assert_allclose(F.std(0, unbiased=False).numpy()[1:], 1, atol=1e-6)


def test_float32_storage_nll_error_is_small(toy, toy_ds64, toy_ds32, tmp_path):
    """Measured: float32 storage vs float64 changes the slice NLL by < 1e-5 relative; float16 reported."""
    url16 = str(tmp_path / "toy16")
    write_toy(toy, url16, dtype="float16")
    d64, d32, d16 = (Dataset.open(u) for u in (toy_ds64, toy_ds32, url16))
    worst = {"float32": 0.0, "float16": 0.0}
    for b64, b32, b16 in zip(d64.slices(traits=["t1"]), d32.slices(traits=["t1"]), d16.slices(traits=["t1"])):
        log_s = _log_s(b64.m) + np.log(1e-2)
        ref = nll(b64.ld, b64.z[:, 0], log_s)
        for name, b in (("float32", b32), ("float16", b16)):
            assert b.ld.dtype == torch.float64                    # cast back for the linear algebra
            worst[name] = max(worst[name], abs(nll(b.ld, b.z[:, 0], log_s) - ref) / abs(ref))
        rec = (b32.ld.Z - b64.ld.Z).abs().max() / b64.ld.Z.abs().max()
        assert rec < 1e-6
    print(f"\nworst relative NLL error of storage: {worst}")
    assert 0 < worst["float32"] < 1e-5
    assert worst["float16"] > worst["float32"]                    # measured, and worse: not the default
    ix32, ix64 = d32.slice_index(), d64.slice_index()
    np.testing.assert_array_equal(ix32[S.BYTES] * 2 - ix32[S.RANK] * 32, ix64[S.BYTES] - ix64[S.RANK] * 16)


def test_bytes_per_slice_are_reported(toy_ds32):
    ds = Dataset.open(toy_ds32)
    ix = ds.slice_index()
    expect = (ix[S.M_SNPS] + ix[S.N_CORE]) * ix[S.RANK] * 4 + 2 * ix[S.RANK] * 8
    np.testing.assert_array_equal(ix[S.BYTES], expect)
    assert ds.ld_info["slice_bytes"] == int(ix[S.BYTES].sum())
    print(f"\nfloat32 bytes per slice: median {ix[S.BYTES].median():.0f} "
          f"(m {ix[S.M_SNPS].median():.0f}, n {ix[S.N_CORE].median():.0f}, r {ix[S.RANK].median():.0f})")


def test_smaller_bandwidth_equals_reingestion(toy, toy_ds64):
    ds = Dataset.open(toy_ds64)
    for b in ds.slices(traits=["t1"], bandwidth_kb=100.0, tracks=False):
        p = next(q for q in _plans(toy, b.chrom, bandwidth_kb=100.0) if q.slice_id == b.slice_id)
        ref = _direct(toy, p)
        np.testing.assert_array_equal(b.snp_index, np.arange(p.lo, p.hi))
        assert b.features.shape[0] == p.m and b.tracks is None
        torch.testing.assert_close(b.ld.ld_core_rows(), ref.ld_core_rows(), rtol=0, atol=1e-10)
        assert b.ld.logdet_R == pytest.approx(ref.logdet_R, rel=1e-12)
        log_s = _log_s(p.m) - 3
        assert nll(b.ld, b.z[:, 0], log_s) == pytest.approx(nll(ref, b.z[:, 0], log_s), rel=1e-10)
    with pytest.raises(InputError, match="exceeds the stored maximum"):
        next(ds.slices(bandwidth_kb=BANDWIDTH_KB + 1))
    with pytest.raises(InputError, match="cut in kb only; fix: request a bandwidth in kb"):
        ds.read_slice(1, 0, bandwidth_cm=0.1)


def test_snps_missing_from_a_trait_become_flanks(toy, toy_ds64):
    ds = Dataset.open(toy_ds64)
    have2 = set(toy.sumstats["t2"]["SNP"])
    z = {t: toy.sumstats[t].set_index("SNP")["Z"] for t in ("t1", "t2")}
    n_demoted = 0
    for b in ds.slices(traits=["t1", "t2"]):
        p = _plans(toy, b.chrom)[b.slice_id]
        ids = toy.snps[b.chrom]["SNP"].to_numpy()[p.lo:p.hi]
        keep = p.core_mask() & np.isin(ids, list(have2))
        assert torch.equal(b.ld.core_mask, torch.from_numpy(keep))
        ref = _direct(toy, p, keep)
        torch.testing.assert_close(b.ld.ld_core_rows(), ref.ld_core_rows(), rtol=0, atol=1e-9)
        for j, t in enumerate(("t1", "t2")):
            np.testing.assert_array_equal(b.z[:, j].numpy(), z[t].loc[ids[keep]].to_numpy())
        assert b.N[0, 1] == 3e5 and torch.isnan(b.f_true[:, 1]).all() and not torch.isnan(b.f_true[:, 0]).any()
        log_s = _log_s(b.m) - 3
        assert nll(b.ld, b.z[:, 1], log_s) == pytest.approx(nll(ref, b.z[:, 1], log_s), rel=1e-9)
        assert b.n_demoted == p.n - keep.sum()
        n_demoted += b.n_demoted
    assert n_demoted > 50


def test_slice_index_read_slice_and_selection(toy, toy_ds32):
    ds = Dataset.open(toy_ds32)
    ix = ds.slice_index()
    plans = [p for c in toy.chroms for p in _plans(toy, c)]
    assert list(zip(ix[S.CHR], ix[S.SLICE_ID], ix[S.SNP_LO], ix[S.SNP_HI], ix[S.CORE_LO], ix[S.CORE_HI])) == \
        [(p.chrom, p.slice_id, p.lo, p.hi, p.core_lo, p.core_hi) for p in plans]
    assert (ix[S.M_SNPS] == ix[S.SNP_HI] - ix[S.SNP_LO]).all() and (ix[S.RANK] <= ix[S.N_CORE]).all()
    assert (ix[S.RANK] < ix[S.N_CORE]).any()                       # rank-deficient panel LD (n_ref=80)
    streamed = {(b.chrom, b.slice_id): b for b in ds.slices()}
    for c, s in [(1, 3), (2, 0), (2, 5)]:
        b = ds.read_slice(c, s)
        a = streamed[(c, s)]
        assert torch.equal(a.ld.Z, b.ld.Z) and torch.equal(a.z, b.z) and torch.equal(a.features, b.features)
    assert [(b.chrom, b.slice_id) for b in ds.slices(slice_ids=[1])] == [(1, 1), (2, 1)]
    assert [(b.chrom, b.slice_id) for b in ds.slices(slice_ids=[(2, 3), (1, 0)])] == [(1, 0), (2, 3)]
    assert [b.chrom for b in ds.slices(chroms=[2])] == [2] * int((ix[S.CHR] == 2).sum())
    b = ds.read_slice(1, 2, traits="t2", dtype="float32")
    assert b.ld.dtype == torch.float32 and b.z.dtype == torch.float32 and b.z.shape == (b.n, 1)
    assert b.f_true is None and b.traits == ["t2"]
    with pytest.raises(InputError, match="no slice 99"):
        ds.read_slice(1, 99)
    with pytest.raises(InputError, match="not in the dataset"):
        ds.read_slice(1, 0, traits=["nope"])
    with pytest.raises(InputError, match="chromosomes \\[7\\]"):
        list(ds.slices(chroms=[7]))


def test_pickled_handle_reads_the_same(toy_ds32):
    ds = Dataset.open(toy_ds32)
    ds2 = pickle.loads(pickle.dumps(ds))
    assert len(pickle.dumps(ds)) < 50_000 and ds2._fs is None
    for a, b in zip(ds.slices(chroms=[2]), ds2.slices(chroms=[2])):
        assert torch.equal(a.ld.Z, b.ld.Z) and torch.equal(a.ld.T, b.ld.T) and torch.equal(a.z, b.z)


def test_many_small_files_read_the_same(toy, toy_ds32, tmp_path):
    """Tiny file / row-group targets: LD over several shards, SNP tables over several parts and row groups."""
    url = str(tmp_path / "small")
    man = write_toy(toy, url, target_file_mib=0.02, row_group_mib=0.002)
    assert len(man.ld.files) > 2 and len(man.snps.files[1]) > 1
    ds, ref = Dataset.open(url), Dataset.open(toy_ds32)
    assert ds._parquet(man.snps.files[1][0]["path"], ()).pf.metadata.num_row_groups > 1
    n = 0
    for a, b in zip(ds.slices(), ref.slices()):
        for x, y in ((a.ld.Z, b.ld.Z), (a.ld.T, b.ld.T), (a.z, b.z), (a.N, b.N), (a.features, b.features),
                     (a.tracks, b.tracks), (a.f_true, b.f_true)):
            assert torch.equal(x.nan_to_num(-1), y.nan_to_num(-1))
        n += 1
    assert n == len(ref.slice_index())


def test_cm_bandwidth_dataset(toy, tmp_path):
    url = str(tmp_path / "cm")
    write_toy(toy, url, bandwidth_kb=None, bandwidth_cm=0.3)
    ds = Dataset.open(url)
    bp, cm = toy.snps[1]["BP"].to_numpy(), toy.snps[1]["CM"].to_numpy()
    want = plan_slices(1, bp, cm=cm, core_kb=CORE_KB, bandwidth_cm=0.1)
    got = [b for b in ds.slices(chroms=[1], traits=["t1"], bandwidth_cm=0.1)]
    assert [(b.snp_index[0], b.snp_index[-1] + 1) for b in got] == [(p.lo, p.hi) for p in want]
    with pytest.raises(InputError, match="cut in cM only"):
        next(ds.slices(bandwidth_kb=10))


def test_overwrite_swaps_datasets(toy, tmp_path):
    url = str(tmp_path / "ow")
    small = make_toy(seed=3, sizes={4: 120})
    write_toy(small, url)
    with pytest.raises(InputError, match="already exists"):
        DatasetWriter(url)
    old_files = set(Dataset.open(url).manifest.files)
    write_toy(toy, url, overwrite=True)
    ds = Dataset.open(url)
    assert ds.chromosomes == [1, 2]
    left = {str(p.relative_to(url)) for p in Path(url).rglob("*.parquet")}
    assert left == set(ds.manifest.files) and not (left & old_files)


def test_streaming_yields_every_slice_once_in_order(toy_ds32):
    """Streaming (one row group at a time) gives each indexed slice once, in genomic order, with the same
    factors as reading it by key. (Its speed is the benchmarks' business, not a test's.)"""
    ds = Dataset.open(toy_ds32)
    idx = ds.slice_index()
    want = [(int(c), int(s)) for c, s in zip(idx[S.CHR], idx[S.SLICE_ID])]
    got = [(b.chrom, b.slice_id, b) for b in ds.slices()]
    assert [(c, s) for c, s, _ in got] == sorted(want) and len(got) > 5
    for c, s, b in got[:: max(1, len(got) // 4)]:
        one = ds.read_slice(c, s)
        assert torch.equal(b.ld.Z, one.ld.Z) and torch.equal(b.z, one.z)
        assert np.array_equal(b.snp_index, one.snp_index)


def test_shrinkage_is_applied_and_recorded(tmp_path):
    toy = make_toy(seed=5, sizes={3: 200})
    url = str(tmp_path / "shrunk")
    with DatasetWriter(url) as w:
        w.add_snps(3, toy.snps[3], toy.ann[3])
        w.add_ld_slices(3, lambda lo, hi: toy.R[3][lo:hi, lo:hi], core_kb=CORE_KB, bandwidth_kb=BANDWIDTH_KB,
                        shrinkage=0.1, dtype="float64")
    ds = Dataset.open(url)
    assert ds.ld_info["shrinkage"] == 0.1 and ds.ld_info["n_ref"] is None
    for b, p in zip(ds.slices(traits=[]), _plans(toy, 3)):
        R = 0.9 * toy.R[3][p.lo:p.hi, p.lo:p.hi] + 0.1 * np.eye(p.m)
        ref = LDSlice.from_ld(R, p.core_mask())
        torch.testing.assert_close(b.ld.Z, ref.Z, rtol=0, atol=0)
        assert b.ld.rank == p.n and b.z.shape == (p.n, 0) and b.f_true is None   # shrunk LD has full rank
