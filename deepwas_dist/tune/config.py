"""The configuration of a Tune scan: one dataclass whose flagged fields are ``launch/tune.py``'s flags
(help, choices and defaults written once here; :func:`deepwas_dist.cli.add_config_flags`). Torch-free,
so that ``--help`` answers before torch and Ray load."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..train.config import SIGMA_HELP, TrainConfig, flag


@dataclass
class ScanConfig:
    """A scan: the data, the split, the search space and the resources of one trial."""

    data: str | None = flag(None, "dataset URL", shown="the embedded demo dataset")
    traits: str = flag("all", "'all' or a comma list of trait names")
    storage: str = flag("runs", "local path or s3:// URL for the scan directory")
    name: str = flag("tune", "scan name")
    num_samples: int = flag(8, "configurations to sample")
    epochs: int = flag(12, "maximum epochs per trial (ASHA's max_t)")
    grace_period: int = flag(2, "ASHA: epochs before a trial can be stopped")
    reduction_factor: int = flag(2, "ASHA reduction factor")
    gpus_per_trial: float = flag(0.0, "GPUs per trial (fractions pack trials on a GPU)")
    workers_per_trial: int = flag(1, "CPU cores (threads) per trial")
    val_chroms: str = flag("auto", "validation chromosomes (auto: the ones before the test chromosomes)")
    test_chroms: str = flag("auto", "test chromosomes (auto: the last quarter)")
    space: dict = field(default_factory=dict)          # --space FILE (YAML): the search space
    seed: int = flag(0, "random seed")
    resume: bool = flag(False, "continue the scan --name: finished trials are not redone")
    objective: str = flag("likelihood", "training objective of every trial", choices=("likelihood", "ldsc"))
    sigma: str = flag(TrainConfig.sigma, SIGMA_HELP)
    storage_options: dict = field(default_factory=dict)   # --storage-option KEY=VALUE (repeatable)
    max_concurrent: int | None = flag(None, "cap on simultaneously running trials", shown="no cap")
