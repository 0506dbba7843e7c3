"""Shared fixtures: the real data beside the checkout, seeded RNGs."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
from pathlib import Path

# Under pytest-xdist (the README's test command: one worker per core) each worker, and each process it
# starts, computes on one thread: with the libraries' defaults (one thread per core each) two workers ran
# four threads on two cores, and the Ray group, the suite's critical path, waited on the other worker's
# BLAS. Set before numpy and torch load; a value the caller set wins.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
import pytest

from deepwas_dist.data import schema as S
from deepwas_dist.data.commit import LOG_DIR, encode
from deepwas_dist.realdata import shared_data_dir

SHARED_DATA = shared_data_dir()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (1000G chr22 panel, UK Biobank height chr22); skips the test when absent."""
    if not (SHARED_DATA / "1000G_eur_chr22.bed").exists():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@contextlib.contextmanager
def temp_env(env: dict[str, str]):
    """Set environment variables for the duration of the ``with``, then restore the previous values."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ------------------------------------------------------------------------------------------ Ray
@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for the whole session (start-up costs ~10 s; ``run_training`` reuses it).

    4 logical CPUs whatever the machine has: 2 Train workers plus Ray Train's controller and helper
    actors must all be schedulable, or a run waits forever for resources. The Train controller polls
    workers every RAY_TRAIN_HEALTH_CHECK_INTERVAL_S (default 2 s), and every ``ray.train.report`` waits
    for that poll; 0.1 s keeps per-epoch / per-step checkpointing of the tiny test runs fast. It must be
    in the environment before ``ray.init`` so that the controller actor inherits it.
    """
    ray = pytest.importorskip("ray")
    with temp_env({"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1", "RAY_DEDUP_LOGS": "0"}):
        started = not ray.is_initialized()
        if started:
            ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=True)
        try:
            yield ray
        finally:
            if started:
                ray.shutdown()


RAY_GROUP = "ray"


def _in_ray_group(item) -> bool:
    return "ray_session" in getattr(item, "fixturenames", ()) or item.get_closest_marker("ray") is not None


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``-n 2 --dist loadgroup``, the README's test command), every test that uses the
    session's Ray instance, or starts one of its own (marked ``ray``: the README example, the two-node
    cluster), runs in one worker: the session's instance starts once and two Ray instances never compete
    for the two cores. That group is the longest unit of work, so it is queued first (the first worker
    starts on it while the other runs the rest). Marked before xdist's own hook, which moves the group
    into the test's id; checked after it, because pytest 9.2 ignores that move (pytest-dev/pytest-xdist
    #1386: the lock pins pytest 9.1.1) and the Ray tests would silently start one Ray instance per worker."""
    loadgroup = getattr(config.option, "loadgroup", False)
    for item in items:
        if _in_ray_group(item):
            item.add_marker(pytest.mark.xdist_group(RAY_GROUP))
    if loadgroup:
        items.sort(key=lambda it: not _in_ray_group(it))       # stable: each group keeps its own order
    result = yield
    if loadgroup:
        lost = [i.nodeid for i in items if _in_ray_group(i) and not i.nodeid.endswith("@" + RAY_GROUP)]
        if lost:                     # xdist's controller shows a worker's exception only as its own assert
            msg = (f"error: --dist loadgroup did not group {lost[0]} (and {len(lost) - 1} more): this pytest/"
                   "pytest-xdist pair ignores xdist_group; install the versions in requirements.lock")
            print(msg, file=sys.__stderr__, flush=True)
            raise pytest.UsageError(msg)
    return result


# ------------------------------------------------------------------------------------------ S3
S3_BUCKET = "deepwas-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on 127.0.0.1 for the session, with dummy credentials in the environment."""
    pytest.importorskip("moto.server")
    s3fs = pytest.importorskip("s3fs")
    from moto.server import ThreadedMotoServer

    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true"}
    with temp_env(env):
        port = _free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
        opts = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
        fs = s3fs.S3FileSystem(**opts, skip_instance_cache=True)
        if not fs.exists(S3_BUCKET):          # moto keeps state per process
            fs.mkdir(S3_BUCKET)
        try:
            yield {"endpoint": endpoint, "bucket": S3_BUCKET, "storage_options": opts}
        finally:
            server.stop()




# ------------------------------------------------------------------------------------------ manifests
def manifest_path(url: str) -> Path:
    """The file holding a local dataset's newest manifest: its newest log version (manifest.json when legacy)."""
    versions = sorted((Path(url) / LOG_DIR).glob("*.json"))
    return versions[-1] if versions else Path(url) / S.MANIFEST_FILE


def edit_manifest(url: str, fn) -> None:
    """Apply ``fn`` to a local dataset's newest manifest object in place (re-checksummed: a manifest that
    says something else, not a damaged one)."""
    p = manifest_path(url)
    m = json.loads(p.read_text())
    fn(m)
    p.write_bytes(encode(m, int(m.get("version", 0))) if "manifest_crc32" in m else json.dumps(m).encode())


def make_legacy(url: str, fn=None) -> None:
    """Turn a local dataset into one as releases before the manifest log wrote it: manifest.json only, no
    version, no checksums; ``fn`` edits that manifest object first."""
    p = manifest_path(url)
    m = json.loads(p.read_text())
    for k in ("version", "manifest_crc32", "checksums"):
        m.pop(k, None)
    if fn is not None:
        fn(m)
    shutil.rmtree(Path(url) / LOG_DIR, ignore_errors=True)
    (Path(url) / S.MANIFEST_FILE).write_text(json.dumps(m, indent=1))
