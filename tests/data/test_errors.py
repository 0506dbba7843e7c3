"""Bad input and damaged datasets: each a clear InputError/SchemaError, nothing half-written looks valid."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from deepwas_dist.data import Dataset, DatasetWriter
from deepwas_dist.data import schema as S
from deepwas_dist.errors import InputError, SchemaError
from tests.conftest import edit_manifest, make_legacy

from .conftest import make_toy, write_toy


@pytest.fixture(scope="module")
def small():
    return make_toy(seed=11, sizes={1: 150, 2: 90})


def _no_dataset(url: str) -> None:
    """Nothing at url may look valid: no manifest, and opening it is an InputError."""
    assert not (Path(url) / S.MANIFEST_FILE).exists()
    with pytest.raises(InputError, match="no manifest.json"):
        Dataset.open(url)


def _snps_error(small, tmp_path, df, match, ann=None):
    url = str(tmp_path / "bad")
    with pytest.raises(InputError, match=match):
        with DatasetWriter(url) as w:
            w.add_snps(1, df, small.ann[1] if ann is None else ann)
    _no_dataset(url)
    assert not list(Path(url).rglob("*.parquet")) if Path(url).exists() else True


def test_missing_snp_column(small, tmp_path):
    _snps_error(small, tmp_path, small.snps[1].drop(columns=["BP"]), r"missing column\(s\) \['BP'\]")


def test_duplicate_snp_ids(small, tmp_path):
    df = small.snps[1].copy()
    df.loc[7, "SNP"] = df.loc[3, "SNP"]
    _snps_error(small, tmp_path, df, "duplicate SNP IDs rs1_3", ann=small.ann[1].drop(columns=["SNP"]))


def test_duplicate_snp_ids_across_chromosomes(small, tmp_path):
    url = str(tmp_path / "bad")
    df2 = small.snps[2].copy()
    df2.loc[4, "SNP"] = "rs1_10"
    with pytest.raises(InputError, match="rs1_10 also appear on chr1"):
        with DatasetWriter(url) as w:
            w.add_snps(1, small.snps[1], small.ann[1])
            w.add_snps(2, df2, small.ann[2].drop(columns=["SNP"]))
    _no_dataset(url)
    assert not list(Path(url).rglob("*.parquet"))          # the failed writer cleaned up chr1's files


def test_positions_out_of_order(small, tmp_path):
    df = small.snps[1].copy()
    df.loc[20, "BP"] = df.loc[10, "BP"] - 1
    _snps_error(small, tmp_path, df, "positions out of order at row 20")


def test_annotations_misaligned_or_non_numeric(small, tmp_path):
    ann = small.ann[1].iloc[::-1].reset_index(drop=True)
    _snps_error(small, tmp_path, small.snps[1], "annotation row 0 is SNP rs1_149", ann=ann)
    ann = small.ann[1].copy()
    ann.loc[3, "cons"] = np.nan
    _snps_error(small, tmp_path, small.snps[1], "annotation is missing/non-finite for 1 SNP", ann=ann)


def _sumstats_error(small, tmp_path, df, match):
    url = str(tmp_path / "bad")
    with pytest.raises(InputError, match=match):
        with DatasetWriter(url) as w:
            w.add_snps(1, small.snps[1], small.ann[1])
            w.add_ld_slices(1, lambda lo, hi: small.R[1][lo:hi, lo:hi], core_kb=500, bandwidth_kb=100)
            w.add_sumstats("t", df)
    _no_dataset(url)


def test_nan_z(small, tmp_path):
    df = small.sumstats["t1"].copy()
    df.loc[[2, 9], "Z"] = np.nan
    _sumstats_error(small, tmp_path, df, "Z is missing/non-finite for 2 SNP\\(s\\): rs1_2, rs1_9")


def test_sumstats_missing_column_duplicates_alleles_and_no_overlap(small, tmp_path):
    _sumstats_error(small, tmp_path, small.sumstats["t1"].drop(columns=["N"]), r"missing column\(s\) \['N'\]")
    dup = pd.concat([small.sumstats["t1"], small.sumstats["t1"].iloc[[5]]])
    _sumstats_error(small, tmp_path, dup, "duplicate SNP IDs rs1_5")
    swapped = small.sumstats["t1"].copy()
    swapped.loc[0, ["A1", "A2"]] = swapped.loc[0, ["A2", "A1"]].to_numpy()
    _sumstats_error(small, tmp_path, swapped, "not harmonised")
    other = small.sumstats["t1"].assign(SNP=lambda d: "x" + d["SNP"])
    _sumstats_error(small, tmp_path, other, "none of its")


def test_ld_fn_wrong_shape_and_missing_ld(small, tmp_path):
    url = str(tmp_path / "bad")
    with pytest.raises(InputError, match=r"returned shape \(3, 3\)"):
        with DatasetWriter(url) as w:
            w.add_snps(1, small.snps[1], small.ann[1])
            w.add_ld_slices(1, lambda lo, hi: np.eye(3), core_kb=500, bandwidth_kb=100)
    _no_dataset(url)
    with pytest.raises(InputError, match=r"chromosomes \[2\] have SNPs but no LD slices"):
        with DatasetWriter(url) as w:
            w.add_snps(1, small.snps[1], small.ann[1])
            w.add_snps(2, small.snps[2], small.ann[2])
            w.add_ld_slices(1, lambda lo, hi: small.R[1][lo:hi, lo:hi], core_kb=500, bandwidth_kb=100)
    _no_dataset(url)
    assert not list(Path(url).rglob("*.parquet"))


def test_writer_that_raises_midway_leaves_no_manifest(small, tmp_path):
    url = str(tmp_path / "crash")
    calls = []

    def ld_fn(lo, hi):
        calls.append(lo)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return small.R[1][lo:hi, lo:hi]

    with pytest.raises(RuntimeError, match="disk on fire"):
        with DatasetWriter(url, target_file_mib=0.001) as w:       # shards roll after every slice
            w.add_snps(1, small.snps[1], small.ann[1])
            w.add_ld_slices(1, ld_fn, core_kb=300, bandwidth_kb=100)
    assert len(calls) == 3
    _no_dataset(url)
    assert [p for p in Path(url).rglob("*") if p.is_file()] == []  # no parquet, no temp files


def test_failed_overwrite_keeps_the_old_dataset(small, tmp_path):
    url = str(tmp_path / "keep")
    write_toy(small, url)
    before = Dataset.open(url).manifest
    with pytest.raises(RuntimeError):
        with DatasetWriter(url, overwrite=True) as w:
            w.add_snps(1, small.snps[1], small.ann[1])
            raise RuntimeError("interrupted")
    ds = Dataset.open(url)
    assert ds.manifest == before and len(list(ds.slices(chroms=[2]))) > 0


@pytest.fixture
def written(small, tmp_path) -> str:
    url = str(tmp_path / "ds")
    write_toy(small, url)
    return url


def _edit_manifest(url, fn):
    edit_manifest(url, fn)


def test_truncated_shard_names_the_file(written):
    ds = Dataset.open(written)
    rel = ds.manifest.ld.files[0]["path"]
    p = Path(written) / rel
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(SchemaError, match=f"{rel}.*truncated.*fix: re-write"):
        list(Dataset.open(written).slices())
    # the same damage without the size and checksum checks (manifest updated) is caught by the Parquet
    # footer check
    _edit_manifest(written, lambda m: (m["files"].__setitem__(rel, p.stat().st_size),
                                       m["checksums"].pop(rel)))
    with pytest.raises(SchemaError, match=f"{rel}: corrupt or truncated Parquet file"):
        list(Dataset.open(written).slices())


def test_corrupt_footer_and_missing_file(written):
    ds = Dataset.open(written)
    rel = ds.manifest.snps.files[2][0]["path"]
    p = Path(written) / rel
    raw = bytearray(p.read_bytes())
    raw[-8:-4] = (len(raw) * 2).to_bytes(4, "little")          # footer length beyond the file
    p.write_bytes(bytes(raw))
    with pytest.raises(SchemaError, match=f"{rel}: checksum mismatch.*corrupt; fix: re-ingest chr2"):
        list(ds.slices(chroms=[2]))
    assert len(list(ds.slices(chroms=[1]))) > 0                  # the damage is local to chr2
    p.unlink()
    with pytest.raises(SchemaError, match=f"{rel}: file listed in the manifest is missing"):
        ds.read_slice(2, 0)


def test_stored_file_missing_a_column(written):
    ds = Dataset.open(written)
    rel = ds.manifest.traits["t2"].files[1][0]["path"]
    p = Path(written) / rel
    pq.write_table(pq.read_table(p).drop_columns(["N"]), p)
    _edit_manifest(written, lambda m: (m["files"].__setitem__(rel, p.stat().st_size),
                                       m["checksums"].pop(rel)))
    with pytest.raises(SchemaError, match=rf"{rel}: missing column\(s\) \['N'\]"):
        list(Dataset.open(written).slices(traits=["t2"]))
    assert len(list(Dataset.open(written).slices(traits=["t1"]))) > 0


def test_newer_schema_version(written):
    _edit_manifest(written, lambda m: m.__setitem__("schema_version", S.SCHEMA_VERSION + 1))
    with pytest.raises(SchemaError, match=f"schema version {S.SCHEMA_VERSION + 1}, newer.*upgrade deepwas_dist"):
        Dataset.open(written)


def test_manifest_damage(written):
    make_legacy(written)
    p = Path(written) / S.MANIFEST_FILE
    text = p.read_text()
    p.write_text(text[: len(text) // 2])
    with pytest.raises(SchemaError, match="not valid JSON"):
        Dataset.open(written)
    m = json.loads(text)
    del m["ld"]
    p.write_text(json.dumps(m))
    with pytest.raises(SchemaError, match=r"lacks \['ld'\]"):
        Dataset.open(written)
    m["ld"], m["format"] = {}, "something else"
    p.write_text(json.dumps(m))
    with pytest.raises(SchemaError, match="not a deepwas_dist dataset"):
        Dataset.open(written)
    p.unlink()
    _no_dataset(written)


def test_writer_api_misuse(small, tmp_path):
    url = str(tmp_path / "misuse")
    w = DatasetWriter(url)
    with pytest.raises(InputError, match="call add_snps"):
        w.add_ld_slices(1, lambda lo, hi: None, bandwidth_kb=10)
    w.add_snps(1, small.snps[1], small.ann[1])
    with pytest.raises(InputError, match="added twice"):
        w.add_snps(1, small.snps[1], small.ann[1])
    with pytest.raises(InputError, match="differ from the first"):
        w.add_snps(2, small.snps[2], small.ann[2].drop(columns=["cons"]))
    with pytest.raises(InputError, match="trait name"):
        w.add_sumstats("a/b", small.sumstats["t1"])
    w.add_ld_slices(1, lambda lo, hi: small.R[1][lo:hi, lo:hi], core_kb=500, bandwidth_kb=100)
    with pytest.raises(InputError, match="LD settings differ"):
        w.add_snps(2, small.snps[2], small.ann[2])
        w.add_ld_slices(2, lambda lo, hi: small.R[2][lo:hi, lo:hi], core_kb=250, bandwidth_kb=100)
    w.abort()
    _no_dataset(url)
    with pytest.raises(InputError, match="closed"):
        w.add_sumstats("t", small.sumstats["t1"])
