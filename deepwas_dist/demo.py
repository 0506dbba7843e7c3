"""The embedded demo dataset: simulated on first use into a cache directory, then reused.

Location: $DEEPWAS_CACHE/demo-v3 (default ~/.cache/deepwas_dist/demo-v3). v3: the European population
history (:mod:`deepwas_dist.simulate.demography`), so LD decays like real European LD; v2 had a constant
Ne. Both use the out-of-sample design (LD from a 1,000-person reference panel, z from a separate
10,000-person GWAS cohort of the same population); v1 drew z with the panel's own LD.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from .errors import InputError

DEMO_NAME = "demo-v3"


def cache_dir() -> Path:
    """$DEEPWAS_CACHE, or ~/.cache/deepwas_dist."""
    return Path(os.environ.get("DEEPWAS_CACHE", Path.home() / ".cache" / "deepwas_dist"))


def demo_dataset_url(log: Callable[[str], None] = print) -> str:
    """Path of the demo dataset, simulating it first if it is not cached yet."""
    from .simulate.dataset import write_simulated_dataset
    path = cache_dir() / DEMO_NAME
    if (path / "manifest.json").exists():
        return str(path)
    log(f"[deepwas] simulating the demo dataset into {path} (once; under a minute)")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # in-process (executor "local"), not Ray tasks: on a 2-core machine a 2-process pool is as
        # parallel, and starting a local Ray cost ~20 s plus ~10 s per worker's imports here, against
        # seconds of msprime for 8 x 5 Mb; training then starts its own Ray with its own settings
        write_simulated_dataset(str(path), log=log)
    except InputError:
        if not (path / "manifest.json").exists():     # not a concurrent writer that finished first
            raise
    return str(path)
