"""Where the training loop runs: inside Ray Train, inside a Ray Tune trial, or in this process.

The loop in :mod:`deepwas_dist.train.loop` only talks to a :class:`Session`: who am I (rank, world),
how to wrap the model, how to sum numbers over ranks, how to report metrics with a checkpoint
directory, and where the latest checkpoint is. Each place it can run implements those five things.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


class Session:
    """Single-process defaults; subclasses override what differs."""

    rank: int = 0
    world: int = 1
    local_world: int = 1          # workers on this machine (they share its memory)
    node_id: str = "0"
    device: torch.device = torch.device("cpu")

    def prepare(self, module: nn.Module) -> nn.Module:
        """The module to call in the loop (DDP-wrapped where there are several ranks)."""
        return module.to(self.device)

    def allreduce(self, values) -> np.ndarray:
        """Sum of ``values`` over ranks (float64 array)."""
        return np.asarray(values, dtype=np.float64)

    def report(self, metrics: dict, checkpoint_dir: str | None) -> None:
        raise NotImplementedError

    @contextmanager
    def latest_checkpoint(self) -> Iterator[str | None]:
        yield None


@contextmanager
def _local_dir(ckpt) -> Iterator[str | None]:
    """A Ray Checkpoint (or None) as a local directory for the duration of the ``with``."""
    if ckpt is None:
        yield None
    else:
        with ckpt.as_directory() as d:
            yield d


class RayTrainSession(Session):
    """A Ray Train worker: DDP over the worker group, checkpoints through ``ray.train.report``."""

    def __init__(self, use_gpu: bool):
        import ray.train
        import ray.train.torch
        ctx = ray.train.get_context()
        import ray
        self.rank, self.world = ctx.get_world_rank(), ctx.get_world_size()
        self.local_world = ctx.get_local_world_size()
        self.node_id = ray.get_runtime_context().get_node_id()     # unique even for nodes sharing an IP
        self.device = ray.train.torch.get_device() if use_gpu else torch.device("cpu")

    def prepare(self, module: nn.Module) -> nn.Module:
        import ray.train.torch
        return ray.train.torch.prepare_model(module, move_to_device=self.device)

    def allreduce(self, values) -> np.ndarray:
        t = torch.tensor(np.asarray(values, dtype=np.float64), device=self.device)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(t)
        return t.cpu().numpy()

    def report(self, metrics: dict, checkpoint_dir: str | None) -> None:
        import ray.train
        ckpt = ray.train.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=ckpt)

    def latest_checkpoint(self):
        import ray.train
        return _local_dir(ray.train.get_checkpoint())


class TuneSession(Session):
    """A Ray Tune trial training in its own process on its own resources (no nested TorchTrainer)."""

    def __init__(self, device: torch.device):
        self.device = device

    def report(self, metrics: dict, checkpoint_dir: str | None) -> None:
        from ray import tune
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(checkpoint_dir) if checkpoint_dir else None)

    def latest_checkpoint(self):
        from ray import tune
        return _local_dir(tune.get_checkpoint())


class LocalSession(Session):
    """In this process (experiments, tests): keeps the latest checkpoint in ``checkpoint_root`` (or a
    temporary directory) and every reported metrics row in ``reports``."""

    def __init__(self, device: torch.device | None = None, checkpoint_root: str | None = None):
        self.device = device or torch.device("cpu")
        self._own = checkpoint_root is None
        self.root = checkpoint_root or tempfile.mkdtemp(prefix="deepwas-local-")
        self.reports: list[dict] = []

    @property
    def _latest(self) -> str:
        return os.path.join(self.root, "latest")

    def report(self, metrics: dict, checkpoint_dir: str | None) -> None:
        self.reports.append(dict(metrics))
        if checkpoint_dir:
            tmp = self._latest + ".tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(checkpoint_dir, tmp)
            shutil.rmtree(self._latest, ignore_errors=True)
            os.replace(tmp, self._latest)

    @contextmanager
    def latest_checkpoint(self) -> Iterator[str | None]:
        yield self._latest if os.path.isdir(self._latest) else None

    def close(self) -> None:
        if self._own:
            shutil.rmtree(self.root, ignore_errors=True)
