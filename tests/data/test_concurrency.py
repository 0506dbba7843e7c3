"""Concurrent writers (data/commit.py): no update is ever lost, a losing writer fails clearly and publishes
nothing, and the dataset stays valid; locally and on S3 (moto)."""
from __future__ import annotations

import shutil
import threading
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deepwas_dist.data import Dataset, DatasetWriter
from deepwas_dist.data import schema as S
from deepwas_dist.data.commit import LOG_DIR, claim, read_head, read_version
from deepwas_dist.errors import InputError

from .conftest import make_toy, write_toy

ROUNDS = 20


@pytest.fixture(scope="module")
def tiny():
    return make_toy(seed=5, sizes={1: 80, 2: 40}, n_ref=40)


@pytest.fixture(scope="module")
def tiny_local(tiny, tmp_path_factory) -> str:
    url = str(tmp_path_factory.mktemp("conc") / "base")
    write_toy(tiny, url)
    return url


def _sumstats(tiny, seed: int) -> pd.DataFrame:
    snps = pd.concat([tiny.snps[c] for c in tiny.chroms], ignore_index=True)
    z = np.random.default_rng(seed).standard_normal(len(snps))
    return pd.DataFrame({"SNP": snps["SNP"], "Z": z, "N": 1e5})


def _race(jobs) -> list[BaseException | None]:
    """Run the jobs in threads; each gets a barrier to wait on just before it publishes."""
    barrier = threading.Barrier(len(jobs))
    out: list[BaseException | None] = [None] * len(jobs)

    def run(i):
        try:
            jobs[i](barrier)
        except BaseException as e:  # noqa: BLE001 - the test inspects every outcome
            out[i] = e
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _racing(open_writer, fill):
    """A racer: open a writer, fill it, wait at the barrier for the other racer, then publish (close)."""
    def job(barrier):
        w = open_writer()
        try:
            fill(w)
            barrier.wait(10)
        except BaseException:
            w.abort()
            raise
        w.close()
    return job


def _add_trait(url, so, trait, df):
    # both writers start from the same version
    return _racing(lambda: DatasetWriter.update(url, so), lambda w: w.add_sumstats(trait, df))


def _one_clear_failure(errs) -> None:
    failed = [e for e in errs if e is not None]
    assert len(failed) <= 1, failed
    for e in failed:
        assert isinstance(e, InputError), repr(e)
        msg = str(e)
        assert "\n" not in msg and "another writer published version" in msg and "retrying is safe" in msg, msg


def _rounds(tiny, url, so) -> dict:
    """ROUNDS races of two updates: even rounds add different traits (both must be kept, or one fails
    clearly), odd rounds the same trait (exactly one wins, its data intact)."""
    expected: dict[str, float] = {}
    counts = {"both": 0, "one failed": 0}
    for r in range(ROUNDS):
        same = r % 2 == 1
        names = [f"s{r}", f"s{r}"] if same else [f"a{r}", f"b{r}"]
        dfs = [_sumstats(tiny, 100 * r + i) for i in range(2)]
        errs = _race([_add_trait(url, so, n, df) for n, df in zip(names, dfs)])
        _one_clear_failure(errs)
        if same:
            assert sum(e is not None for e in errs) == 1, errs
        ok = [i for i, e in enumerate(errs) if e is None]
        counts["both" if len(ok) == 2 else "one failed"] += 1
        for i in ok:
            expected[names[i]] = float(dfs[i]["Z"].iloc[0])
        ds = Dataset.open(url, so)                                 # valid after every round
        assert set(expected) <= set(ds.traits), (r, sorted(set(expected) - set(ds.traits)))
        for i in ok:
            assert ds.sumstats(names[i])[S.Z].iloc[0] == pytest.approx(expected[names[i]]), (r, names[i])
        assert len(ds.sumstats(names[ok[0]], chroms=[2])) == 40
    ds = Dataset.open(url, so)
    assert set(ds.traits) == {"t1", "t2", *expected}
    assert ds.manifest.checksums.keys() == ds.manifest.files.keys()
    b = ds.read_slice(1, 0, traits=sorted(expected)[:3])
    assert b.z.shape[1] == 3
    # nothing unreferenced was left behind by the losers (their files are deleted)
    parts = {p for p in ds.fs.find(ds.root) if p.endswith(".parquet")}
    listed = {f"{ds.root}/{rel}" for rel in ds.manifest.files}
    assert parts == {p.removeprefix("file://") for p in listed} or parts == listed
    return counts


def test_racing_updates_local(tiny, tiny_local, tmp_path):
    url = str(tmp_path / "ds")
    shutil.copytree(tiny_local, url)
    counts = _rounds(tiny, url, None)
    assert counts["both"] >= ROUNDS // 2                          # disjoint traits are rebased, not refused


def test_racing_updates_s3(tiny, s3_url, s3_storage_options):
    write_toy(tiny, s3_url, s3_storage_options)
    counts = _rounds(tiny, s3_url, s3_storage_options)
    assert counts["both"] >= ROUNDS // 2


def _create(tiny, url, so, seed):
    def fill(w):
        for c in tiny.chroms:
            w.add_snps(c, tiny.snps[c], tiny.ann[c])
            w.add_ld_slices(c, lambda lo, hi, R=tiny.R[c]: R[lo:hi, lo:hi], core_kb=500, bandwidth_kb=250,
                            n_ref=tiny.n_ref)
        w.add_sumstats(f"t{seed}", _sumstats(tiny, seed))
    return _racing(lambda: DatasetWriter(url, so, build="hg19"), fill)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_two_new_datasets_at_one_url(tiny, tmp_path, where, request):
    """Two writers create a dataset at the same new URL without overwrite: exactly one wins, and the
    dataset is entirely the winner's (no orphan of the loser)."""
    for r in range(3):
        if where == "s3":
            so = request.getfixturevalue("s3_storage_options")
            url = f"s3://{request.getfixturevalue('s3_server')['bucket']}/new-{uuid.uuid4().hex[:8]}"
        else:
            so, url = None, str(tmp_path / f"new{r}")
        errs = _race([_create(tiny, url, so, 2 * r + i) for i in range(2)])
        assert sum(e is not None for e in errs) == 1, errs
        _one_clear_failure(errs)
        winner = [i for i, e in enumerate(errs) if e is None][0]
        ds = Dataset.open(url, so)
        assert ds.traits == [f"t{2 * r + winner}"]
        assert len(list(ds.slices())) == len(ds.slice_index())
        parts = [p for p in ds.fs.find(ds.root) if p.endswith(".parquet")]
        assert len(parts) == len(ds.manifest.files), "the loser's files were not deleted"
        if where == "local":
            assert not list(Path(url).rglob("*.tmp"))


def test_stale_listing_cache_does_not_hide_a_version_s3(tiny, s3_url, s3_storage_options):
    """s3fs sizes an object from its listing cache, which threads share: a listing taken by another writer
    just before a version was created can be cached after that version's creator invalidated it. Reading
    the version (after listing it, or after creating it) must then ask the store, not fail with
    FileNotFoundError (seen once in CI as a raw error from a race of two updates)."""
    write_toy(tiny, s3_url, s3_storage_options)
    ds = Dataset.open(s3_url, s3_storage_options)
    fs, root = ds.fs, ds.root
    head = read_head(fs, root, s3_url)
    log_dir = f"{root}/{LOG_DIR}"
    stale = list(fs.ls(log_dir, detail=True, refresh=True))
    assert stale
    nxt = head.version + 1
    data = b'{"a": 1}'
    real_invalidate = fs.invalidate_cache
    calls = []

    def invalidate_then_race(path=None):
        real_invalidate(path)
        if not calls:                                  # the other thread's older listing lands just after
            fs.dircache[log_dir] = stale
        calls.append(path)

    fs.invalidate_cache = invalidate_then_race
    try:
        assert claim(fs, root, s3_url, nxt, data, "t")                 # created, and read back despite the cache
        fs.dircache[log_dir] = stale
        assert read_version(fs, root, s3_url, nxt) == {"a": 1}
    finally:
        del fs.invalidate_cache
