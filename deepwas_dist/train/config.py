"""The training configuration: one dataclass whose fields are the command-line flags.

``--config FILE`` (YAML or TOML) takes the same keys as the flags (with ``-`` or ``_``); flags given on
the command line win over the file, which wins over the defaults.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..models.names import MODELS, SIZES
from ..settings import MismatchSetting, SigmaSetting
from .selection import VAL_SELECT

#: --sigma's help (train and tune).
SIGMA_HELP = ("null variance of z (the LDSC intercept): sldsc (held at the S-LDSC intercept of the training slices, "
              "stratified by the dataset's annotations), ldsc (the same, unstratified), learn (trained with the "
              "prior), or a value to hold it at, e.g. a genome-wide S-LDSC intercept for these z-scores")


def flag(default: Any, help: str, choices: tuple | list | None = None, shown: str | None = None) -> Any:
    """A config field that is also a command-line flag: its default, help text and choices, written once
    (``shown``: how the help names a None default)."""
    meta = {"help": help, "choices": tuple(choices) if choices else None, "shown": shown}
    return field(default=default, metadata=meta)


#: --jackknife: refit (a large network: refit-local, evaluate/local_shape.py), refit-scale, fixed.
JACKKNIFE_CHOICES = ("refit", "refit-scale", "fixed")


@dataclass
class TrainConfig:
    """Everything a training run needs; serialised into the run directory as ``config.json``."""

    # Fields with a help text are the command-line flags (deepwas_dist.cli.add_config_flags: --name-with-dashes,
    # type, choices and "(default ...)" come from here); the others are keys of a --config file only.
    data: str | None = flag(None, "dataset URL (local path, s3://...)", shown="the embedded demo dataset")
    traits: str = flag("all", "'all' or a comma list of trait names")
    gpus: int = flag(0, "number of GPU workers (one per GPU; 0: CPU workers)")
    workers: int = flag(2, "number of CPU workers when --gpus is 0 (0: train in this process, without Ray; "
                           "train/in_process.py)")
    model: str = flag("mlp", "prior network", choices=MODELS)
    size: str = flag("small", "size preset of mlp/conv", choices=SIZES)
    objective: str = flag("likelihood", "training objective", choices=("likelihood", "ldsc"))
    method: str = flag("auto", "slice linear algebra", choices=("auto", "exact", "iterative"))
    mismatch: str = flag("learn", "LD reference-panel mismatch lambda per trait: learn, off, or a fixed value "
                                  "(z ~ N(0, R S R + sigma R + lambda I); deepwas_dist/mismatch.py)")
    sigma: str = flag("sldsc", SIGMA_HELP)
    ld_keep_variance: float | None = flag(0.995, "keep only R_CC's leading eigenpairs explaining this share of its "
                                                 "variance (SBayesRC-style truncation; 1: all)")
    num_probes: int = flag(16, "probe vectors of the iterative path")
    bandwidth_kb: float | None = flag(None, "LD flank width in kb (at most the stored one)", shown="the stored one")
    epochs: int = flag(20, "training epochs")
    lr: float = flag(3e-3, "peak learning rate of AdamW")
    weight_decay: float = flag(1e-4, "AdamW weight decay")
    grad_clip: float = 1.0
    warmup_epochs: float = 1.0
    accumulation: int = flag(2, "slices per worker per optimiser step")
    holdout_chroms: str = flag("auto", "held-out chromosomes, e.g. 6,7,8 or 20-22,X (auto: the last quarter; with "
                                       "fewer than 4 chromosomes, blocks of slices as --holdout-blocks)")
    holdout_blocks: int = flag(0, "hold out K contiguous runs of slices within chromosomes (a quarter of the slices; "
                                  "one buffer slice each side excluded from training and scoring)")
    val_chroms: str = flag("none", "validation chromosomes taken out of training, e.g. 6 (auto: the last quarter of "
                                   "the training chromosomes): scored every epoch, and the run keeps the epoch "
                                   "with the lowest validation NLL (train/holdout.py)")
    patience: int = flag(0, "with --val-chroms: stop after this many epochs without a lower validation NLL "
                            "(0: train every epoch)")
    val_select: str = flag("nll", "with --val-chroms, the score that picks the epoch: nll (the likelihood's, "
                                  "for every objective) or objective (the run's own: the LDSC loss with "
                                  "--objective ldsc, as a user of LDSC alone would choose)",
                            choices=VAL_SELECT)
    storage: str = flag("runs", "where run directories go: local path or s3://bucket/prefix")
    name: str | None = flag(None, "run name", shown="generated")
    resume: bool = flag(False, "continue the run --name from its latest checkpoint")
    seed: int = flag(0, "random seed")
    checkpoint_every_steps: int = flag(0, "also checkpoint every K optimiser steps (0: at the end of every epoch)")
    max_failures: int = flag(1, "worker failures Ray Train may recover from")
    placement_strategy: str = flag("PACK", "how Ray places workers on nodes",
                                   choices=("PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"))
    storage_options: dict = field(default_factory=dict)   # --storage-option KEY=VALUE (repeatable): fsspec options
    eval_every: int = 1                     # held-out NLL every k epochs (0: only at the end)
    cache_mib: float | None = flag(None, "per-worker in-memory slice cache in MiB (and the final evaluation's); a "
                                         "worker whose shard fits reads its slices once (data/cache.py)",
                                   shown="half of the machine's memory, or of the GPU's, shared by its workers")
    dtype: str = flag("float64", "linear-algebra precision", choices=("float64", "float32"))
    log_every_epoch: bool = True
    jackknife: str = flag("refit", "standard errors of h2 and enrichment: refit the prior without each block (a "
                                   "network over 200 parameters: its scale and its last layer on its leading "
                                   "features), refit only its scale (refit-scale), or hold it fixed",
                          choices=JACKKNIFE_CHOICES)
    jackknife_blocks: int = flag(20, "jackknife blocks of contiguous training slices")
    # Test-only: plan the slice schedule for this many ranks (>= the workers); rank r then scores the planned
    # ranks r, r + workers, ...: one worker takes a 2-worker run's steps (tests/train/test_ddp.py).
    plan_world: int | None = None

    @property
    def num_workers(self) -> int:
        return self.gpus if self.gpus > 0 else self.workers

    @property
    def in_process(self) -> bool:
        """``--workers 0`` (and no GPUs): training runs in the driver, without Ray."""
        return self.gpus == 0 and self.workers == 0

    @property
    def use_gpu(self) -> bool:
        return self.gpus > 0

    @property
    def mismatch_setting(self) -> MismatchSetting:
        """The parsed --mismatch; under the LDSC objective lambda is never trained (it is a second
        intercept there), so the network has none and evaluation fits it with the prior held fixed."""
        setting = MismatchSetting.parse(self.mismatch)
        return setting if self.objective == "likelihood" or setting.mode == "fixed" else MismatchSetting("off")

    @property
    def sigma_setting(self) -> SigmaSetting:
        """The parsed --sigma (:class:`SigmaSetting`); the values it holds sigma at are the run plan's
        ``fixed_log_sigma``."""
        return SigmaSetting.parse(self.sigma)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def validate(self) -> "TrainConfig":
        """Raise InputError naming the flag for any impossible setting; returns self."""
        if self.objective not in ("likelihood", "ldsc"):
            raise InputError(f"--objective must be 'likelihood' or 'ldsc', got {self.objective!r}")
        MismatchSetting.parse(self.mismatch)
        SigmaSetting.parse(self.sigma)
        if self.method not in ("auto", "exact", "iterative"):
            raise InputError(f"--method must be auto, exact or iterative, got {self.method!r}")
        if self.model not in MODELS:
            raise InputError(f"--model must be one of {MODELS}, got {self.model!r}")
        if self.size not in SIZES:
            raise InputError(f"--size must be one of {SIZES}, got {self.size!r}")
        if self.num_workers < 1 and not self.in_process:
            raise InputError("need at least one worker: --workers N (CPU; 0 trains in this process) or --gpus N, "
                             f"got --workers {self.workers} --gpus {self.gpus}")
        for name in ("epochs", "accumulation", "num_probes"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"--lr must be a positive number, got {self.lr}")
        if self.ld_keep_variance is not None and not 0 < self.ld_keep_variance <= 1:
            raise InputError(f"--ld-keep-variance must be in (0, 1] (e.g. 0.995), got {self.ld_keep_variance}")
        if self.bandwidth_kb is not None and self.bandwidth_kb < 0:
            raise InputError(f"--bandwidth must be >= 0 kb, got {self.bandwidth_kb}")
        if self.cache_mib is not None and not self.cache_mib > 0:
            raise InputError(f"--cache-mib must be > 0 MiB, got {self.cache_mib}; fix: leave it unset for the default")
        if self.holdout_blocks < 0:
            raise InputError(f"--holdout-blocks must be >= 0 (0: off), got {self.holdout_blocks}")
        if self.patience < 0:
            raise InputError(f"--patience must be >= 0 (0: off), got {self.patience}")
        if self.patience and self.val_chroms in ("none", ""):
            raise InputError(f"--patience {self.patience} stops on the validation NLL; fix: add --val-chroms "
                             "(e.g. auto)")
        if self.val_select not in VAL_SELECT:
            raise InputError(f"--val-select must be one of {', '.join(VAL_SELECT)}, got {self.val_select!r}")
        if self.jackknife not in JACKKNIFE_CHOICES:
            raise InputError(f"--jackknife must be one of {', '.join(JACKKNIFE_CHOICES)}, got {self.jackknife!r}")
        if self.jackknife_blocks < 2:
            raise InputError(f"--jackknife-blocks must be >= 2, got {self.jackknife_blocks}")
        if self.dtype not in ("float64", "float32"):
            raise InputError(f"--dtype must be float64 or float32, got {self.dtype!r}")
        return self


FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}
#: Fields that exist for the tests only (not flags; still accepted in a file).
TEST_ONLY = {"plan_world"}
_FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(TrainConfig)}
#: Flag spellings that differ from the field name.
ALIASES = {"bandwidth": "bandwidth_kb"}


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Keys of a YAML (.yaml/.yml) or TOML (.toml) file, normalised to field names; errors name the key."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"--config {p}: file not found")
    text = p.read_text()
    if p.suffix in (".yaml", ".yml"):
        import yaml
        raw = yaml.safe_load(text) or {}
    elif p.suffix == ".toml":
        import tomllib
        raw = tomllib.loads(text)
    elif p.suffix == ".json":
        raw = json.loads(text)
    else:
        raise InputError(f"--config {p}: unknown extension; use .yaml, .yml, .toml or .json")
    if not isinstance(raw, dict):
        raise InputError(f"--config {p}: expected a mapping of flag names to values")
    out = {}
    for k, v in raw.items():
        key = ALIASES.get(k.replace("-", "_"), k.replace("-", "_"))
        if key not in FIELDS:
            raise InputError(f"--config {p}: unknown key {k!r}; valid keys are the train.py flags: "
                             f"{sorted(FIELDS - TEST_ONLY)}")
        out[key] = v
    return out


def flag_name(field_name: str) -> str:
    """The command-line spelling of a config field (``bandwidth_kb`` -> ``--bandwidth``)."""
    inv = {v: k for k, v in ALIASES.items()}
    return "--" + inv.get(field_name, field_name).replace("_", "-")


_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


def coerce_value(name: str, value: Any) -> Any:
    """``value`` converted to the type of field ``name``; InputError naming the flag if it cannot be.

    Config files are loosely typed (YAML reads ``lr: 3e-3`` as a string, TOML ``holdout_chroms = 4`` as
    an integer), so values are converted here rather than failing later with a TypeError."""
    ftype = str(_FIELD_TYPES[name])
    optional = "None" in ftype
    base = ftype.replace("| None", "").replace("None |", "").strip()
    if value is None:
        if optional:
            return None
        raise InputError(f"{flag_name(name)} needs a value (got null)")
    kind = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
            "dict": "a mapping"}.get(base, base)
    bad = InputError(f"{flag_name(name)}: expected {kind}, got {value!r}")
    try:
        if base == "int":
            if isinstance(value, bool):
                raise bad
            if isinstance(value, float):
                if not value.is_integer():
                    raise bad
                return int(value)
            return int(value) if isinstance(value, int) else int(str(value).strip())
        if base == "float":
            if isinstance(value, bool):
                raise bad
            return float(value)
        if base == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise bad
        if base == "str":
            if isinstance(value, (list, tuple)):          # holdout_chroms: [6, 7, 8], traits: [A, B]
                return ",".join(str(v) for v in value)
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                return str(value)
            raise bad
        if base == "dict":
            if isinstance(value, dict):
                return dict(value)
            raise bad
    except (TypeError, ValueError):
        raise bad from None
    return value


def make_config(file_values: dict[str, Any], cli_values: dict[str, Any]) -> TrainConfig:
    """Defaults <- config file <- explicitly given flags."""
    values = {**file_values, **{k: v for k, v in cli_values.items() if v is not None}}
    unknown = sorted(set(values) - FIELDS)
    if unknown:
        raise InputError(f"unknown setting(s) {unknown}; valid keys are the train.py flags: "
                         f"{sorted(FIELDS - TEST_ONLY)}")
    return TrainConfig(**{k: coerce_value(k, v) for k, v in values.items()}).validate()
