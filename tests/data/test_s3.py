"""The dataset on S3 (moto's server): identical round trip, picklable handle, clear credential errors."""
from __future__ import annotations

import pickle

import pytest
import torch

from deepwas_dist.data import Dataset, DatasetWriter
from deepwas_dist.data import schema as S
from deepwas_dist.errors import InputError, SchemaError

from .conftest import write_toy


def _same(a, b) -> None:
    assert (a.chrom, a.slice_id) == (b.chrom, b.slice_id)
    for x, y in ((a.ld.Z, b.ld.Z), (a.ld.T, b.ld.T), (a.ld.lam, b.ld.lam), (a.ld.omega, b.ld.omega),
                 (a.ld.core_mask, b.ld.core_mask), (a.z, b.z), (a.N, b.N), (a.features, b.features),
                 (a.tracks, b.tracks), (a.f_true, b.f_true)):
        assert torch.equal(x.nan_to_num(-1) if x.is_floating_point() else x,
                           y.nan_to_num(-1) if y.is_floating_point() else y)
    assert a.ld.logdet_R == b.ld.logdet_R and (a.snp_ids == b.snp_ids).all()


def test_s3_round_trip_equals_local(toy, toy_ds32, s3_url, s3_storage_options):
    man = write_toy(toy, s3_url, s3_storage_options, target_file_mib=0.1)
    assert len(man.ld.files) > 2
    ds = Dataset.open(s3_url, storage_options=s3_storage_options)
    local = Dataset.open(toy_ds32)
    assert ds.manifest.files.keys() != local.manifest.files.keys()        # fresh write id
    assert ds.slice_index().drop(columns=[S.FILE, S.ROW_GROUP]).equals(
        local.slice_index().drop(columns=[S.FILE, S.ROW_GROUP]))
    n = 0
    for a, b in zip(ds.slices(traits=["t1", "t2"]), local.slices(traits=["t1", "t2"])):
        _same(a, b)
        n += 1
    assert n == len(local.slice_index())
    _same(ds.read_slice(1, 2, bandwidth_kb=100), local.read_slice(1, 2, bandwidth_kb=100))
    # a Ray worker gets the pickled handle (URL + storage options) and opens its own filesystem
    ds2 = pickle.loads(pickle.dumps(ds))
    _same(next(ds2.slices(chroms=[2])), next(local.slices(chroms=[2])))
    assert ds2.fs.exists(f"{s3_url}/{S.MANIFEST_FILE}")


def test_s3_missing_manifest_and_failed_writer(toy, s3_url, s3_storage_options):
    with pytest.raises(InputError, match="no manifest.json"):
        Dataset.open(s3_url, s3_storage_options)
    with pytest.raises(RuntimeError):
        with DatasetWriter(s3_url, s3_storage_options) as w:
            w.add_snps(1, toy.snps[1], toy.ann[1])
            raise RuntimeError("killed")
    with pytest.raises(InputError, match="no manifest.json"):
        Dataset.open(s3_url, s3_storage_options)
    assert w.fs.find(s3_url) == []                                               # aborted writer cleaned up


def test_s3_truncated_object_names_the_file(toy, s3_url, s3_storage_options):
    write_toy(toy, s3_url, s3_storage_options)
    ds = Dataset.open(s3_url, s3_storage_options)
    rel = ds.manifest.ld.files[0]["path"]
    path = f"{s3_url}/{rel}"
    data = ds.fs.cat_file(path)
    ds.fs.pipe_file(path, data[:1000])
    with pytest.raises(SchemaError, match=f"{rel}.*truncated"):
        list(Dataset.open(s3_url, s3_storage_options).slices())


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
              "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
              "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_s3_without_credentials_is_a_clear_error(s3_server, s3_url, no_credentials):
    opts = {"endpoint_url": s3_server["endpoint"], "anon": False, "skip_instance_cache": True}
    with pytest.raises(InputError, match=rf"cannot read {s3_url}.*NoCredentialsError.*fix: give credentials") as e:
        Dataset.open(s3_url, opts)
    assert "--storage-option key=..." in str(e.value)
    with pytest.raises(InputError, match=rf"cannot access {s3_url}.*fix: give credentials"):
        DatasetWriter(s3_url, opts)


def test_bad_urls():
    with pytest.raises(InputError, match="pip install gcsfs"):
        Dataset.open("gs://bucket/ds")
    with pytest.raises(InputError, match="non-empty string"):
        Dataset.open("")
