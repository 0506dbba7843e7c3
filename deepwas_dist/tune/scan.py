"""Ray Tune scans of model size, LD bandwidth, learning rate and weight decay, across traits.

Design choices:
- *Trials train in their own process on their own resources* (``tune.with_resources``), with the same
  training loop as ``launch/train.py`` behind a :class:`TuneSession`; no TorchTrainer is nested in a
  trial. In Ray 2.60 a Tune scheduler stopping a trial that runs a nested TorchTrainer leaves the
  trial's placement group behind and later trials hang (ray-project/ray#54305); here a stopped trial
  is just a finished process and its resources return to the pool. Scale-out is across trials.
- *Across traits, one multi-trait model per trial*: every trial trains a shared trunk with one head per
  trait on all requested traits, so each slice is read once per step for all traits. Every trial reports
  each trait's validation NLL; ASHA stops trials on the NLL improvement per SNP over the null prior,
  pooled over traits (a per-SNP, null-normalised number, comparable whatever the traits' scales), and
  the best configuration is then picked *per trait* on that trait's own validation improvement.
- *Honest test scores*: chromosomes are split three ways. Training never sees validation or test
  chromosomes; selection uses validation only; the test NLL of the chosen configuration is reported
  beside it.
"""
from __future__ import annotations

import os
from typing import Callable

import pandas as pd
import torch

from ..credentials import restore_secrets, secrets_of
from ..data.reader import Dataset
from ..data.storage import absolute_url, filesystem, join
from ..demo import demo_dataset_url
from ..errors import InputError
from ..train.config import TrainConfig
from ..train.holdout import auto_count
from ..train.loop import heldout_metrics, null_prior, quiet_ray_train_logs, run_worker
from ..train.plan import make_plan, resolve_holdout, resolve_traits
from ..train.resources import check_resources, wait_s_for
from ..train.run import public_config, storage_for_ray
from ..train.runplan import RunPlan
from ..train.session import TuneSession
from .config import ScanConfig

METRIC = "heldout_improvement_per_snp"
TUNED = ("model", "size", "bandwidth_kb", "lr", "weight_decay")


def split_chromosomes(ds: Dataset, val: str, test: str) -> tuple[list[int], list[int], list[int]]:
    """(train, validation, test) chromosomes; 'auto' takes the last chromosomes for test, then validation."""
    chroms = list(ds.chromosomes)
    if len(chroms) < 3:
        raise InputError(f"{ds.url}: a scan needs at least 3 chromosomes (train, validation, test); "
                         f"this dataset has {chroms}; fix: train with launch/train.py --holdout-blocks K (block "
                         "hold-out within chromosomes is not implemented for scans)")
    k = auto_count(len(chroms))
    test_c = chroms[-k:] if test == "auto" else resolve_holdout(ds, test)
    rest = [c for c in chroms if c not in test_c]
    val_c = rest[-k:] if val == "auto" else resolve_holdout(ds, val)
    if set(val_c) & set(test_c):
        raise InputError(f"validation chromosomes {val_c} overlap test chromosomes {test_c}")
    train_c = [c for c in chroms if c not in val_c and c not in test_c]
    if not train_c:
        raise InputError("no chromosome left for training after the validation and test split")
    return train_c, val_c, test_c


def default_space(max_bandwidth_kb: float | None) -> dict:
    """Model size, bandwidth (fractions of the stored flank), learning rate, weight decay."""
    from ray import tune
    bw = [None] if not max_bandwidth_kb else [round(max_bandwidth_kb * f, 1) for f in (0.25, 0.5, 1.0)]
    return {"model": "mlp", "size": tune.choice(["tiny", "small", "medium"]), "bandwidth_kb": tune.choice(bw),
            "lr": tune.loguniform(3e-4, 1e-2), "weight_decay": tune.loguniform(1e-6, 1e-2)}


def space_from_file(spec: dict, max_bandwidth_kb: float | None) -> dict:
    """A space from YAML-like dict: {key: value | {choice: [...]} | {loguniform: [a, b]} | {uniform: [a, b]}}."""
    from ray import tune
    out = {}
    for k, v in spec.items():
        if k not in TUNED:
            raise InputError(f"--space: unknown key {k!r}; tunable keys are {TUNED}")
        if isinstance(v, dict):
            (kind, arg), = v.items()
            fn = {"choice": tune.choice, "grid": tune.grid_search, "loguniform": lambda a: tune.loguniform(*a),
                  "uniform": lambda a: tune.uniform(*a)}.get(kind)
            if fn is None:
                raise InputError(f"--space: {k}: unknown distribution {kind!r} (choice, grid, loguniform, uniform)")
            out[k] = fn(arg)
        else:
            out[k] = v
        if k == "bandwidth_kb" and max_bandwidth_kb:
            vals = arg if isinstance(v, dict) and kind in ("choice", "grid") else [v] if not isinstance(v, dict) else []
            bad = [b for b in vals if b is not None and b > max_bandwidth_kb]
            if bad:
                raise InputError(f"--space: bandwidth_kb {bad} exceed the stored {max_bandwidth_kb} kb")
    return out


def trial(config: dict, storage_secrets: dict | None = None) -> None:
    """One Tune trial: train the sampled configuration, validating every epoch; test NLL at the end.
    ``config`` (persisted by Tune) has its credentials redacted; ``storage_secrets`` (``tune.with_parameters``:
    the object store, never storage) puts them back."""
    quiet_ray_train_logs()
    base = TrainConfig(**config["base"])
    for k in TUNED:
        if k in config and config[k] is not None:
            setattr(base, k, config[k])
    base.validate()
    plan = RunPlan.from_json(config["plan"])
    plan.storage_options = restore_secrets(plan.storage_options, storage_secrets)
    val_keys = [tuple(k) for k in config["val_keys"]]
    test_keys = [tuple(k) for k in config["test_keys"]]
    threads = max(1, int(config.get("threads", 1)))
    torch.set_num_threads(threads)
    device = torch.device("cuda") if torch.cuda.is_available() and config.get("gpu") else torch.device("cpu")
    session = TuneSession(device)
    log_N = torch.tensor(plan.log_N, dtype=torch.float64, device=device)
    final = lambda net, cache: heldout_metrics(plan.traits, test_keys, [1.0] * len(test_keys), net, cache,  # noqa: E731
                                               session, log_N, null_prior(plan, net.log_lambda() is not None),
                                               prefix="test")
    run_worker(base, plan, session, heldout_keys=val_keys, final_metrics=final)


def best_per_trait(df: pd.DataFrame, traits: list[str]) -> pd.DataFrame:
    """Per trait, the finished trial with the highest validation improvement for that trait."""
    rows = []
    for t in traits:
        col = f"{METRIC}/{t}"
        ok = df[df[col].notna()] if col in df else df.iloc[0:0]
        if "test_nll_per_snp/" + t in ok:
            ok = ok[ok["test_nll_per_snp/" + t].notna()]
        if ok.empty:
            rows.append({"trait": t})
            continue
        b = ok.loc[ok[col].idxmax()]
        row = {"trait": t, "trial_id": b.get("trial_id")}
        row.update({k: b.get(f"config/{k}") for k in TUNED})
        row.update({"epochs": int(b.get("training_iteration", 0)),
                    "val_nll_per_snp": b.get(f"heldout_nll_per_snp/{t}"), "val_improvement_per_snp": b[col],
                    "test_nll_per_snp": b.get(f"test_nll_per_snp/{t}"),
                    "test_improvement_per_snp": b.get(f"test_improvement_per_snp/{t}")})
        rows.append(row)
    return pd.DataFrame(rows)


def run_scan(sc: ScanConfig, log: Callable[[str], None] = print, ray_init_kwargs: dict | None = None) -> pd.DataFrame:
    """Run (or resume) the scan; writes results.csv and best_per_trait.csv in the scan directory and
    returns the best-per-trait table."""
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler

    data = absolute_url(sc.data) or demo_dataset_url(log=log)   # resolved here: trials run elsewhere
    ds = Dataset.open(data, sc.storage_options or None)
    traits = resolve_traits(ds, sc.traits)
    train_c, val_c, test_c = split_chromosomes(ds, sc.val_chroms, sc.test_chroms)
    base = TrainConfig(data=data, traits=",".join(traits), epochs=sc.epochs, seed=sc.seed, objective=sc.objective,
                       sigma=sc.sigma, holdout_chroms=",".join(map(str, val_c + test_c)), storage=sc.storage,
                       name=sc.name, storage_options=dict(sc.storage_options), eval_every=1, log_every_epoch=False)
    plan, _ = make_plan(base, ds, traits)
    idx = ds.slice_index()
    keys = [(int(c), int(s)) for c, s in zip(idx["CHR"], idx["SLICE_ID"])]
    max_bw = ds.manifest.ld.bandwidth_kb
    space = space_from_file(sc.space, max_bw) if sc.space else default_space(max_bw)
    param_space = {**space, "base": public_config(base), "plan": plan.to_json(), "threads": sc.workers_per_trial,
                   "gpu": sc.gpus_per_trial > 0,
                   "val_keys": [k for k in keys if k[0] in val_c], "test_keys": [k for k in keys if k[0] in test_c]}
    log(f"[deepwas-tune] {len(traits)} trait(s) {traits}; train chromosomes {train_c}, validation {val_c}, "
        f"test {test_c}; {sc.num_samples} samples, ASHA on {METRIC} (max {sc.epochs} epochs)")

    if not ray.is_initialized():
        kw = dict(ray_init_kwargs or {})
        if "address" not in kw and "RAY_ADDRESS" not in os.environ:
            kw.setdefault("address", "local")          # a fresh local instance (see train.run.run_training)
            kw.setdefault("num_cpus", max(os.cpu_count() or 2, sc.workers_per_trial + 1))
        ray.init(**kw)
    check_resources({"GPU": sc.gpus_per_trial, "CPU": float(sc.workers_per_trial)},
                    {"GPU": f"--gpus-per-trial {sc.gpus_per_trial:g}",
                     "CPU": f"--workers-per-trial {sc.workers_per_trial}"},
                    {"GPU": "drop --gpus-per-trial to run trials on CPUs, or run on a machine or Ray cluster with GPUs",
                     "CPU": "give each trial fewer cores, or start Ray with more CPUs (ray start --num-cpus N)"},
                    ray.cluster_resources, wait_s=wait_s_for(ray_init_kwargs), log=log)
    storage_path, storage_fs = storage_for_ray(sc.storage, sc.storage_options)
    trainable = tune.with_resources(tune.with_parameters(trial, storage_secrets=secrets_of(sc.storage_options)),
                                    {"cpu": sc.workers_per_trial, "gpu": sc.gpus_per_trial})
    path = storage_path.rstrip("/") + "/" + sc.name
    if sc.resume:
        if not tune.Tuner.can_restore(path, storage_filesystem=storage_fs):
            raise InputError(f"--resume: no scan {sc.name!r} to resume in {sc.storage}")
        log(f"[deepwas-tune] resuming {path}: finished trials are kept, unfinished ones continue")
        tuner = tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=True,
                                   storage_filesystem=storage_fs)
    else:
        if tune.Tuner.can_restore(path, storage_filesystem=storage_fs):
            raise InputError(f"scan {sc.name!r} already exists in {sc.storage}; pass --resume or another --name")
        scheduler = ASHAScheduler(metric=METRIC, mode="max", max_t=sc.epochs, grace_period=sc.grace_period,
                                  reduction_factor=sc.reduction_factor)
        from ray.tune.search.basic_variant import BasicVariantGenerator
        tuner = tune.Tuner(
            trainable, param_space=param_space,
            tune_config=tune.TuneConfig(scheduler=scheduler, num_samples=sc.num_samples,
                                        search_alg=BasicVariantGenerator(random_state=sc.seed,
                                                                         max_concurrent=sc.max_concurrent or 0)),
            run_config=tune.RunConfig(name=sc.name, storage_path=storage_path, storage_filesystem=storage_fs,
                                      checkpoint_config=tune.CheckpointConfig(num_to_keep=1), verbose=1))
    results = tuner.fit()
    df = results.get_dataframe()
    best = best_per_trait(df, traits)
    fs, root = filesystem(sc.storage, sc.storage_options or None)
    out = join(root, sc.name)
    fs.makedirs(out, exist_ok=True)
    keep = [c for c in df.columns if not c.startswith(("config/base", "config/plan", "config/val_keys",
                                                       "config/test_keys"))]
    with fs.open(join(out, "results.csv"), "w") as fh:
        df[keep].to_csv(fh, index=False)
    with fs.open(join(out, "best_per_trait.csv"), "w") as fh:
        best.to_csv(fh, index=False)
    n_stopped = int((df["training_iteration"] < sc.epochs).sum()) if "training_iteration" in df else 0
    log(f"[deepwas-tune] {len(df)} trials, {n_stopped} stopped early by ASHA; results in {sc.storage}/{sc.name}/")
    log(format_best(best))
    return best


def format_best(best: pd.DataFrame) -> str:
    """The per-trait table of best configurations, as text."""
    cols = ["trait", "size", "bandwidth_kb", "lr", "weight_decay", "epochs", "val_nll_per_snp",
            "val_improvement_per_snp", "test_nll_per_snp", "test_improvement_per_snp"]
    return best[[c for c in cols if c in best]].to_string(index=False, float_format=lambda x: f"{x:.4g}")


__all__ = ["ScanConfig", "run_scan", "split_chromosomes", "best_per_trait", "trial"]
