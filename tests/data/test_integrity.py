"""Checksums (data/checksum.py) and garbage collection (data/gc.py): a flipped byte in any kind of file
is a clear error on read and in `info --verify`; gc deletes only old, unreferenced, non-live files."""
from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest

from deepwas_dist.commands.prepare import main as prepare_main
from deepwas_dist.data import Dataset, DatasetWriter
from deepwas_dist.data.checksum import Hasher, checksum_bytes
from deepwas_dist.data.gc import collect
from deepwas_dist.data.storage import join
from deepwas_dist.data.verify import verify_dataset
from deepwas_dist.errors import SchemaError
from deepwas_dist.ingest.info import dataset_info
from tests.conftest import edit_manifest, make_legacy, manifest_path

from .conftest import make_toy, write_toy


@pytest.fixture(scope="module")
def tiny_ds(tmp_path_factory) -> str:
    url = str(tmp_path_factory.mktemp("integrity") / "base")
    write_toy(make_toy(seed=3, sizes={1: 80, 2: 40}, n_ref=40), url)
    return url


@pytest.fixture
def ds_url(tiny_ds, tmp_path) -> str:
    url = str(tmp_path / "ds")
    shutil.copytree(tiny_ds, url)
    return url


def _flip(p: Path, at: int | None = None) -> None:
    raw = bytearray(p.read_bytes())
    i = len(raw) // 2 if at is None else at
    raw[i] ^= 0x01
    p.write_bytes(bytes(raw))


def _read_all(url: str) -> None:
    ds = Dataset.open(url)
    list(ds.slices(traits=ds.traits))
    for t in ds.traits:
        ds.sumstats(t)


# kind -> (relative path of a file of that kind, what the fix says)
def _files(m) -> dict[str, tuple[str, str]]:
    return {"LD shard": (m.ld.files[0]["path"], "re-write the dataset's LD"),
            "slice index": (m.ld.index, "re-write the dataset's LD"),
            "SNP table (with the annotations)": (m.snps.files[2][0]["path"], "re-ingest chr2's SNP table"),
            "sumstats": (m.traits["t2"].files[1][0]["path"], "re-ingest trait 't2'")}


@pytest.mark.parametrize("kind", ["LD shard", "slice index", "SNP table (with the annotations)", "sumstats"])
def test_a_flipped_byte_is_detected_on_read(ds_url, kind):
    rel, fix = _files(Dataset.open(ds_url).manifest)[kind]
    p = Path(ds_url) / rel
    size = p.stat().st_size
    _flip(p)
    assert p.stat().st_size == size
    with pytest.raises(SchemaError, match=rf"{rel}: checksum mismatch .*corrupt; fix: {fix}"):
        _read_all(ds_url)
    plain = verify_dataset(Dataset.open(ds_url))                   # info: sizes only, passes
    assert plain.ok
    full = verify_dataset(Dataset.open(ds_url), full=True)
    assert len(full.problems) == 1 and rel in full.problems[0] and "checksum mismatch" in full.problems[0]
    assert prepare_main(["info", ds_url, "--verify"]) == 1


def test_crc32c_of_the_check_vector():
    assert checksum_bytes(b"123456789") == "crc32c:e3069283"          # the CRC-32C check value
    h = Hasher()
    for part in (b"1234", memoryview(b"567"), bytearray(b"89")):       # any buffer, in blocks
        h.update(part)
    assert h.checksum == "crc32c:e3069283"
    assert checksum_bytes(b"123456789", "crc32") == "crc32:cbf43926"   # zlib's CRC-32, still checked on read


def test_entries_name_their_algorithm_and_crc32_entries_still_check(ds_url):
    m = Dataset.open(ds_url).manifest
    assert set(m.checksums) == set(m.files) and all(v.startswith("crc32c:") for v in m.checksums.values())
    assert json.loads(manifest_path(ds_url).read_text())["manifest_crc32"].startswith("crc32c:")
    rel = m.ld.index
    crc32 = checksum_bytes((Path(ds_url) / rel).read_bytes(), "crc32")
    edit_manifest(ds_url, lambda o: o["checksums"].__setitem__(rel, crc32))
    _read_all(ds_url)
    assert verify_dataset(Dataset.open(ds_url), full=True).ok
    edit_manifest(ds_url, lambda o: o["checksums"].__setitem__(rel, "md5:" + "0" * 32))
    with pytest.raises(SchemaError, match=rf"{rel}: checksum 'md5:0+' uses an algorithm this version does not know"):
        _read_all(ds_url)


class _CountingFile:
    def __init__(self, f, counts: Counter, path: str):
        self._f, self._counts, self._path = f, counts, path

    def __getattr__(self, k):
        return getattr(self._f, k)

    def read(self, *a):
        out = self._f.read(*a)
        self._counts[self._path] += len(out)
        return out

    def readinto(self, b):
        n = self._f.readinto(b)
        self._counts[self._path] += n or 0
        return n


class _CountingFS:
    """A filesystem proxy counting, per path, requests (open, cat_file) and bytes read from storage."""

    def __init__(self, fs):
        self._fs, self.bytes, self.requests = fs, Counter(), Counter()

    def __getattr__(self, k):
        return getattr(self._fs, k)

    def cat_file(self, path, *a, **kw):
        out = self._fs.cat_file(path, *a, **kw)
        self.requests[path] += 1
        self.bytes[path] += len(out)
        return out

    def open(self, path, mode="rb", **kw):
        self.requests[path] += 1
        return _CountingFile(self._fs.open(path, mode, **kw), self.bytes, path)


def test_the_first_read_of_each_file_reads_it_from_storage_once(tiny_ds):
    ds = Dataset.open(tiny_ds)
    fs = ds._fs = _CountingFS(ds.fs)
    assert len(list(ds.slices(traits=ds.traits))) > 0         # every file: index, LD, SNP tables, sumstats
    want = {join(ds.root, rel): n for rel, n in ds.manifest.files.items()}
    assert dict(fs.bytes) == want                              # each byte once: checksummed and decoded
    assert set(fs.requests.values()) == {1}                    # in one request per file


def test_a_flipped_byte_in_the_manifest_is_detected(ds_url):
    p = manifest_path(ds_url)
    text = p.read_text()
    start = text.index('"n_total": ')
    at = text.index(",", start) - 1                                # its last digit: still valid JSON, another value
    _flip(p, at)
    with pytest.raises(SchemaError, match=r"_manifests/00000001.json: manifest checksum mismatch.*corrupt"):
        Dataset.open(ds_url)


def test_info_checks_files_exist_and_verify_reads_them(ds_url, capsys):
    info = dataset_info(ds_url, verify=True)
    assert info["integrity"]["problems"] == [] and info["integrity"]["bytes_hashed"] > 0
    m = Dataset.open(ds_url).manifest
    rel = m.traits["t1"].files[1][0]["path"]
    (Path(ds_url) / rel).unlink()
    assert prepare_main(["info", ds_url]) == 1
    out = capsys.readouterr().out
    assert f"{rel}: missing; fix: re-ingest trait 't1'" in out and "1 problem(s)" in out


def test_old_manifests_without_checksums_still_read(ds_url, capsys):
    make_legacy(ds_url)
    ds = Dataset.open(ds_url)
    assert ds.manifest.version == 0 and ds.manifest.checksums == {}
    _read_all(ds_url)
    assert prepare_main(["info", ds_url, "--verify"]) == 0
    assert "have no recorded checksum" in capsys.readouterr().out
    with DatasetWriter.update(ds_url) as w:                        # an update starts the log at version 1
        w.remove_trait("t2")
    ds = Dataset.open(ds_url)
    assert ds.manifest.version == 1 and ds.traits == ["t1"]
    assert set(ds.manifest.checksums) <= set(ds.manifest.files)           # inherited files stay unchecksummed


def _age(p: Path, hours: float) -> None:
    t = time.time() - hours * 3600
    os.utime(p, (t, t))


def test_gc_deletes_only_old_unreferenced_files_of_dead_writers(ds_url, capsys):
    root = Path(ds_url)
    listed = set(Dataset.open(ds_url).manifest.files)
    orphan = root / "snps/chr=1/part-0123456789ab-00000.parquet"     # a killed writer's part
    tmp = root / "ld/chr=1/part-0123456789ab-00001.parquet.tmp"      # ... and its upload in progress
    stale_lease = root / "_writers/0123456789ab.json"
    young = root / "sumstats/t1/chr=1/part-ba9876543210-00000.parquet"
    for p in (orphan, tmp, stale_lease, young):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * 10)
    for p in (orphan, tmp, stale_lease):
        _age(p, 2)
    live = DatasetWriter.update(ds_url)                               # a writer still running
    live_file = root / f"sumstats/t9/chr=1/part-{live.write_id}-00000.parquet"
    live_file.parent.mkdir(parents=True)
    live_file.write_bytes(b"y")
    _age(live_file, 3)
    for p in root.rglob("*"):                                         # the dataset itself is old too
        if p.is_file() and str(p.relative_to(root)) in listed:
            _age(p, 5)

    g = collect(ds_url, grace_s=3600)
    assert set(g.files) == {str(p.relative_to(root)) for p in (orphan, tmp, stale_lease)}
    assert not g.deleted and orphan.exists() and g.kept_live == 1 and live.write_id in g.live_writers
    assert prepare_main(["gc", ds_url]) == 0
    assert "would delete (pass --yes" in capsys.readouterr().out
    assert prepare_main(["gc", ds_url, "--yes"]) == 0
    assert not orphan.exists() and not tmp.exists() and not stale_lease.exists()
    assert young.exists() and live_file.exists()
    assert verify_dataset(Dataset.open(ds_url), full=True).ok                     # nothing listed was touched
    live.abort()
    assert prepare_main(["gc", ds_url, "--grace-hours", "0.01"]) == 2            # below the minimum


def test_gc_after_an_update_keeps_every_referenced_file(ds_url):
    with DatasetWriter.update(ds_url) as w:                      # replace t2: its old files are deleted
        df = Dataset.open(ds_url).sumstats("t2")
        w.remove_trait("t2")
        w.add_sumstats("t2", df)
    g = collect(ds_url, grace_s=3600, now=time.time() + 10 * 3600)  # everything is "old"
    assert g.files == {}                                          # the writer left nothing behind
    assert not (Path(ds_url) / "_writers").exists() or not any((Path(ds_url) / "_writers").iterdir())
    _read_all(ds_url)
