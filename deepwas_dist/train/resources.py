"""Checks of a run's resource requests against the Ray cluster, before anything waits on them.

Ray queues a request the cluster cannot meet and waits for ever (``--gpus 4`` on a machine without
GPUs hung for more than 10 minutes). Here a request that the cluster lacks is a one-line InputError
naming the flag; on a cluster joined by address (``RAY_ADDRESS``, ``ray_init_kwargs={"address": ...}``),
whose autoscaler may still add nodes, the check waits up to ``DEEPWAS_RESOURCE_WAIT_S`` seconds
(default 300) for them first.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable

from ..errors import InputError

#: Seconds to wait for an autoscaling cluster to grow (env DEEPWAS_RESOURCE_WAIT_S overrides).
RESOURCE_WAIT_S = 300.0


def joined_cluster(ray_init_kwargs: dict | None = None) -> bool:
    """True when Ray runs on a cluster given by address (which may autoscale), not a local instance."""
    address = (ray_init_kwargs or {}).get("address") or os.environ.get("RAY_ADDRESS")
    return bool(address) and address != "local"


def missing_resources(requests: dict[str, float], available: dict[str, float]) -> dict[str, tuple[float, float]]:
    """{resource: (requested, available)} of every request the cluster cannot meet."""
    return {r: (n, float(available.get(r, 0.0))) for r, n in requests.items()
            if n > 0 and float(available.get(r, 0.0)) + 1e-9 < n}


def check_resources(requests: dict[str, float], flags: dict[str, str], fixes: dict[str, str],
                    cluster_resources: Callable[[], dict], wait_s: float = 0.0,
                    log: Callable[[str], None] = print, poll_s: float = 5.0) -> None:
    """Raise InputError when ``cluster_resources()`` lacks a request (after up to ``wait_s`` seconds of
    polling). ``flags`` names, per resource, the flag that asked for it (e.g. ``{"GPU": "--gpus 4"}``);
    ``fixes`` says what to do instead."""
    missing = missing_resources(requests, cluster_resources())
    if missing and wait_s > 0:
        log(f"[deepwas] waiting up to {wait_s:.0f} s for the Ray cluster to add "
            + ", ".join(f"{n:g} {r}" for r, (n, _) in missing.items()))
        deadline = time.monotonic() + wait_s
        while missing and time.monotonic() < deadline:
            time.sleep(poll_s)
            missing = missing_resources(requests, cluster_resources())
    if missing:
        r, (n, have) = next(iter(missing.items()))
        waited = f" (after waiting {wait_s:.0f} s)" if wait_s > 0 else ""
        raise InputError(f"{flags.get(r, r)}: {n:g} {r} requested but the Ray cluster has {have:g}{waited}; "
                         f"{fixes.get(r, 'ask for less, or add nodes to the cluster')}")


def wait_s_for(ray_init_kwargs: dict | None = None) -> float:
    """How long :func:`check_resources` may wait: 0 on a local Ray instance (nothing will be added)."""
    if not joined_cluster(ray_init_kwargs):
        return 0.0
    return float(os.environ.get("DEEPWAS_RESOURCE_WAIT_S", RESOURCE_WAIT_S))


def train_requests(gpus: int, workers: int) -> tuple[dict, dict, dict]:
    """(requests, flags, fixes) of a training run's workers (Ray Train's defaults: one GPU each with
    ``--gpus N``, else one CPU each with ``--workers N``)."""
    if gpus > 0:
        return ({"GPU": float(gpus)}, {"GPU": f"--gpus {gpus}"},
                {"GPU": "drop --gpus to train on CPU workers (--workers N), or run on a machine or Ray "
                        "cluster with GPUs (RAY_ADDRESS=...)"})
    return ({"CPU": float(workers)}, {"CPU": f"--workers {workers}"},
            {"CPU": "ask for fewer workers, or start Ray with more CPUs (ray start --num-cpus N)"})


__all__ = ["check_resources", "missing_resources", "train_requests", "wait_s_for", "joined_cluster"]
