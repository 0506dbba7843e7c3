"""The typed manifest (deepwas_dist.data.manifest): the JSON on disk round-trips, old manifests still load."""
from __future__ import annotations

import json
import shutil

import pytest

from deepwas_dist.data import Dataset, DatasetWriter, Manifest
from deepwas_dist.errors import SchemaError
from tests.conftest import make_legacy, manifest_path


def _on_disk(url: str) -> dict:
    """The newest manifest version as stored, less its own checksum."""
    raw = json.loads(manifest_path(url).read_text())
    raw.pop("manifest_crc32")
    return raw


def test_json_on_disk_round_trips(toy_ds64):
    raw = _on_disk(toy_ds64)
    m = Manifest.from_json(raw, toy_ds64)
    assert m.checksums.keys() == m.files.keys() and m.version == 1
    assert m.to_json() == raw and list(m.to_json()) == list(raw)          # same keys, same order
    assert Dataset.open(toy_ds64).manifest == m
    assert m.chromosomes == [1, 2] and set(m.snps.files) == {1, 2} and m.snps.per_chrom[1] == 600
    assert m.ld.settings()["core_kb"] == m.ld.core_kb and m.traits["t1"].has_f_true
    assert m.tracks is not None and (m.tracks.K, m.tracks.w) == (2, 4)


def test_an_update_keeps_the_untouched_sections(toy_ds32, tmp_path):
    url = str(tmp_path / "ds")
    shutil.copytree(toy_ds32, url)
    before = _on_disk(url)
    with DatasetWriter.update(url) as w:
        w.remove_trait("t2")
    after = _on_disk(url)
    for k in ("ld", "features", "tracks", "snps", "build", "created", "simulation", "description"):
        assert after[k] == before[k], k
    assert list(after["traits"]) == ["t1"] and after["traits"]["t1"] == before["traits"]["t1"]
    assert "updated" in after and "updated" not in before
    assert Dataset.open(url).manifest.version == 2


def test_old_manifests_without_optional_keys_still_load(toy_ds32, tmp_path):
    """A manifest as an earlier version wrote it: no simulation/created/writer, no features.constant,
    no has_cm, a trait without median_N / has_f_true."""
    url = str(tmp_path / "old")
    shutil.copytree(toy_ds32, url)
    raw = _on_disk(url)
    for k in ("simulation", "created", "writer", "description", "checksums", "version"):
        raw.pop(k)
    raw["features"].pop("constant")
    raw["snps"].pop("has_cm")
    for k in ("median_N", "has_f_true", "n_input", "n_unmatched"):
        raw["traits"]["t2"].pop(k)
    make_legacy(url, lambda m: (m.clear(), m.update(raw)))
    ds = Dataset.open(url)
    assert ds.simulation is None and ds.manifest.features.constant == []
    assert ds.manifest.traits["t2"].median_N is None and not ds.manifest.traits["t2"].has_f_true
    assert len(list(ds.slices(traits=["t1"]))) == len(ds.slice_index())


def test_missing_sections_are_schema_errors(toy_ds32):
    raw = _on_disk(toy_ds32)
    bad = json.loads(json.dumps(raw))
    del bad["ld"]["index"]
    with pytest.raises(SchemaError, match="section 'ld' lacks 'index'"):
        Manifest.from_json(bad, toy_ds32)
    bad = json.loads(json.dumps(raw))
    del bad["snps"]["files"]["2"]
    with pytest.raises(SchemaError, match="no SNP table listed for chr2"):
        Manifest.from_json(bad, toy_ds32)
    bad = json.loads(json.dumps(raw))
    del bad["traits"]["t1"]["files"]["1"]
    with pytest.raises(SchemaError, match="trait 't1' lists no sumstats for chr1"):
        Manifest.from_json(bad, toy_ds32)
