"""``--workers 0``: train in the driver process, without Ray, with checkpoints in the run directory.

For a small dataset, a debugger, or a machine where Ray cannot start: the same training loop
(:func:`deepwas_dist.train.loop.run_worker`), plan, outputs and run directory as a Ray Train run, on the
CPU with torch's default threads, and without the ~20 s of Ray and worker start-up (measured on the
README's chr22 example: Ray 7.5 s, the worker group 18 s, for 3 s of training).

:class:`StorageSession` writes each checkpoint the loop reports as ``<run>/checkpoint_<n>/`` (any fsspec
URL), completion marker included, and keeps the newest ``KEEP`` of them, as Ray Train's
``CheckpointConfig(num_to_keep=2)`` does; ``--resume`` and ``deepwas evaluate`` find them by the same
rule as Ray's (:mod:`deepwas_dist.train.checkpoint`: the newest complete one).
"""
from __future__ import annotations

import shutil
from contextlib import contextmanager
from typing import Iterator

from ..data.storage import filesystem, is_local, join
from .checkpoint import checkpoint_dirs, complete_candidates, load_latest
from .session import Session

#: Checkpoints kept in the run directory (Ray Train runs keep 2: run.py's CheckpointConfig).
KEEP = 2


class StorageSession(Session):
    """One in-process rank whose checkpoints go to the run directory at ``run_url``."""

    def __init__(self, run_url: str, storage_options: dict | None = None):
        self.run_url, self.storage_options = run_url, dict(storage_options or {}) or None
        self.fs, self.root = filesystem(run_url, self.storage_options)
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in checkpoint_dirs(self.fs, self.root)] \
            if self.fs.exists(self.root) else []
        self._next = 1 + max((int(n.rsplit("_", 1)[-1]) for n in names if n.rsplit("_", 1)[-1].isdigit()), default=0)
        self.reports: list[dict] = []

    def report(self, metrics: dict, checkpoint_dir: str | None) -> None:
        self.reports.append(dict(metrics))
        if not checkpoint_dir:
            return
        dest = join(self.root, f"checkpoint_{self._next:06d}")
        self._next += 1
        self.fs.put(checkpoint_dir.rstrip("/") + "/", dest + "/", recursive=True)
        for old in complete_candidates(self.run_url, self.storage_options)[KEEP:]:
            self.fs.rm(old, recursive=True)

    @contextmanager
    def latest_checkpoint(self) -> Iterator[str | None]:
        if not complete_candidates(self.run_url, self.storage_options):
            yield None
            return
        _, _, local = load_latest(self.run_url, self.storage_options)
        try:
            yield local
        finally:
            if not is_local(self.fs):
                shutil.rmtree(local, ignore_errors=True)


__all__ = ["KEEP", "StorageSession"]
