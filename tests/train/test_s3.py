"""Runs stored on S3 (moto's server on 127.0.0.1): Ray's checkpoints and our outputs land in the bucket."""
from __future__ import annotations

import gzip
import json

import pytest

from deepwas_dist.errors import InputError
from deepwas_dist.train.run import storage_for_ray

from .conftest import TRAIT, base_config, run


def test_storage_for_ray_maps_fsspec_options_to_pyarrow():
    path, fs = storage_for_ray("s3://bucket/runs", {"endpoint_url": "http://127.0.0.1:9000", "key": "k",
                                                    "secret": "s"})
    assert path == "bucket/runs"
    assert type(fs).__name__ == "S3FileSystem"
    assert storage_for_ray("/tmp/x", {}) == ("/tmp/x", None)
    _, fs = storage_for_ray("s3://bucket/runs", {"key": "k", "secret": "s", "token": "t",
                                                 "client_kwargs": {"region_name": "eu-west-1"}})
    assert fs.region == "eu-west-1"
    with pytest.raises(InputError, match="give both key=... and secret=..."):
        storage_for_ray("s3://bucket/runs", {"key": "k"})


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.timeout(600)
def test_run_with_s3_storage(ray_session, s3_server, sim_dataset):
    import s3fs

    opts = dict(s3_server["storage_options"])
    storage = f"s3://{s3_server['bucket']}/runs"
    res = run(base_config(sim_dataset, storage, "on-s3", epochs=1, storage_options=opts))
    assert res.metrics["traits"][TRAIT]["heldout_snps"] > 0

    fs = s3fs.S3FileSystem(**opts, skip_instance_cache=True)
    root = f"{s3_server['bucket']}/runs/on-s3"
    names = {p.rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)}
    assert {"config.json", "metrics.json", "model.pt", "summary.txt", "snpvar", "enrichment", "plots"} <= names
    ckpts = [n for n in names if n.startswith("checkpoint_") and not n.endswith(".json")]   # not Ray's snapshot
    assert ckpts, f"Ray Train's checkpoints are in the bucket: {sorted(names)}"
    assert all(fs.exists(f"{root}/{c}/meta.json") and fs.exists(f"{root}/{c}/state.pt") for c in ckpts)
    assert json.loads(fs.cat(f"{root}/metrics.json"))["run"] == "on-s3"
    snpvar = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{root}/snpvar", detail=False))
    assert snpvar == [f"{TRAIT}.{c}.snpvar.gz" for c in (1, 2, 3, 4)]
    head = gzip.decompress(fs.cat(f"{root}/snpvar/{TRAIT}.1.snpvar.gz")).decode().splitlines()[0]
    assert head.split("\t") == ["CHR", "SNP", "BP", "A1", "A2", "SNPVAR", "Z", "N"]
