"""TensorBoard event files of a training run: ``<run>/tensorboard/``, one scalar per metric per epoch.

Written by rank 0 into a local directory and copied to the run directory after every epoch, so it
works for local and object-store (s3://) runs alike. ``tensorboard --logdir <run>/tensorboard``.
"""
from __future__ import annotations

import os
import tempfile

from ..data.storage import filesystem, join


class EpochLogger:
    """Scalars of each epoch's metrics row to TensorBoard (no-op when tensorboardX is missing)."""

    def __init__(self, run_url: str | None, storage_options: dict | None = None):
        self.run_url, self.storage_options = run_url, storage_options
        self._dir = tempfile.mkdtemp(prefix="deepwas-tb-")
        try:
            from tensorboardX import SummaryWriter
            self._w = SummaryWriter(self._dir) if run_url else None
        except ImportError:
            self._w = None

    def log(self, row: dict) -> None:
        """Add every numeric entry of ``row`` at step ``row['epoch']`` and sync to the run directory."""
        if self._w is None:
            return
        for k, v in row.items():
            if k != "epoch" and isinstance(v, (int, float)):
                self._w.add_scalar(k, v, row["epoch"])
        self._w.flush()
        fs, root = filesystem(self.run_url, self.storage_options or None)
        dest = join(root, "tensorboard")
        fs.makedirs(dest, exist_ok=True)
        for name in os.listdir(self._dir):
            fs.put_file(os.path.join(self._dir, name), join(dest, name))

    def close(self) -> None:
        if self._w is not None:
            self._w.close()
