"""Checkpoint files, and which checkpoint of a run is used: the newest *complete* one.

A checkpoint directory holds ``state.pt`` (tensors and plain values: model, optimiser, scheduler, RNG
states), ``meta.json`` (epoch, step, history) and, written last, the completion marker
``complete.json``: the size and SHA-256 of the other two files, and the global step.

The rule: a checkpoint is complete when its marker is present and both files match it. Everything
else is ignored: a directory without a marker (a write or an upload cut short, one that Ray Train never
registered, or one written before markers existed) or whose files do not match (truncated, or damaged
in storage). Ray Train uploads a directory file by file in no set order, so the marker may arrive before
the files it describes: it is checked against their content, not merely found.

- ``deepwas evaluate`` (:func:`latest_checkpoint_dir`) takes the complete checkpoint with the highest
  global step (the later directory name on a tie). One whose files fail the check is skipped with a
  one-line warning naming it, and the previous complete one is used; none usable is an InputError
  naming the run directory.
- Resume and the end of ``deepwas train`` take the checkpoint Ray Train hands over (its registered
  latest, whose files Ray never checks) through :func:`load_or_fall_back`: if it fails the check, the
  same warning, and the newest complete checkpoint in the run's storage instead.
- A run none of whose checkpoints has a marker was written before markers existed: evaluate then takes
  its checkpoint with the highest global step in ``meta.json``, unverified, and says so (a one-line
  warning), rather than refusing every older run.
- After a run ends cleanly, :func:`prune_unregistered` deletes the run's ``checkpoint_*`` directories
  that Ray Train does not list (it keeps ``num_to_keep`` of them and deletes the rest itself), so
  unregistered and half-written ones do not pile up. Registered ones are never deleted here, even
  damaged, since Ray Train's own run state refers to them.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import shutil
import tempfile
from typing import Callable

import fsspec
import numpy as np
import torch
from torch import nn

from ..data.storage import filesystem, is_local, join
from ..errors import InputError

STATE_FILE = "state.pt"
META_FILE = "meta.json"
MARKER_FILE = "complete.json"
#: the files the marker describes, in the order they are written
CHECKED_FILES = (STATE_FILE, META_FILE)
PREFIX = "checkpoint_"


class DamagedCheckpoint(InputError):
    """A checkpoint directory without a valid completion marker, or whose files do not match it."""


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_state(path: str, net: nn.Module, opt, sched, epoch: int, step_in_epoch: int, global_step: int,
               history: list[dict], partial: list[float] | None = None, best_model: dict | None = None) -> None:
    """Write a resumable training state into directory ``path``: tensors and plain values only (the RNG
    states included), so :func:`load_state` reads it with ``torch.load(..., weights_only=True)``; the
    completion marker last. ``best_model``: the state dict of the epoch a validating run keeps
    (``--val-chroms``; :mod:`deepwas_dist.train.selection`), saved beside the current one."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "numpy_rng": {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
                              "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
                "python_rng": {"version": int(version), "internal": [int(v) for v in internal],
                               "gauss_next": None if gauss_next is None else float(gauss_next)},
                **({} if best_model is None else {"best_model": best_model})},
               os.path.join(path, STATE_FILE))
    with open(os.path.join(path, META_FILE), "w") as fh:
        json.dump({"epoch": epoch, "step_in_epoch": step_in_epoch, "global_step": global_step,
                   "history": history, "partial": partial}, fh)
    write_marker(path, global_step)


def write_marker(path: str, global_step: int) -> None:
    """The completion marker of the files in ``path`` as they are now (call it after writing them)."""
    files = {f: {"size": os.path.getsize(os.path.join(path, f)), "sha256": _sha256(os.path.join(path, f))}
             for f in CHECKED_FILES}
    with open(os.path.join(path, MARKER_FILE), "w") as fh:
        json.dump({"format": 1, "global_step": int(global_step), "files": files}, fh)


def read_marker(fs, path: str) -> dict | None:
    """The marker of checkpoint directory ``path`` on ``fs``, or None when absent or unreadable."""
    try:
        with fs.open(join(path, MARKER_FILE)) as fh:
            marker = json.load(fh)
        int(marker["global_step"])
        return marker if all(f in marker["files"] for f in CHECKED_FILES) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_complete(path: str) -> None:
    """DamagedCheckpoint saying what is wrong unless local directory ``path`` is complete (see the module
    docstring)."""
    marker = read_marker(fsspec.filesystem("file"), path)
    if marker is None:
        raise DamagedCheckpoint(f"checkpoint {path} has no valid completion marker {MARKER_FILE} "
                                "(cut short, or written before markers existed)")
    for f in CHECKED_FILES:
        file, want = os.path.join(path, f), marker["files"][f]
        if not os.path.exists(file):
            raise DamagedCheckpoint(f"checkpoint {path}: {f} is missing")
        size = os.path.getsize(file)
        if size != want["size"]:
            raise DamagedCheckpoint(f"checkpoint {path}: {f} has {size:,} bytes, {want['size']:,} were written "
                                    "(truncated)")
        if _sha256(file) != want["sha256"]:
            raise DamagedCheckpoint(f"checkpoint {path}: {f} does not match the hash it was written with "
                                    "(damaged in storage)")


def load_state(path: str, verify: bool = True) -> tuple[dict, dict]:
    """(torch state, meta) from a complete checkpoint directory (DamagedCheckpoint when it is not). Nothing
    is unpickled: ``weights_only=True`` refuses any object other than tensors and plain values, and a
    checkpoint holding one (planted, or written by an older version) is an InputError. The RNG states come
    back in the forms ``torch.set_rng_state``, ``np.random.set_state`` and ``random.setstate`` take."""
    file = os.path.join(path, STATE_FILE)
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise InputError(f"checkpoint {file} holds objects other than tensors and plain values, so it was "
                         f"refused unread ({str(e).splitlines()[0]}); it was not written by this version of "
                         "deepwas_dist (or was tampered with): delete that checkpoint directory, or retrain "
                         "into a new --name") from None
    except (OSError, RuntimeError, EOFError) as e:
        raise DamagedCheckpoint(f"checkpoint {file} cannot be read ({str(e).splitlines()[0]})") from None
    if verify:
        check_complete(path)    # after torch.load, so that a planted pickle is named as such
    try:
        npr, pyr = state["numpy_rng"], state["python_rng"]
        state["numpy_rng"] = (npr["name"], npr["keys"].numpy().astype(np.uint32), npr["pos"], npr["has_gauss"],
                              npr["cached_gaussian"])
        state["python_rng"] = (pyr["version"], tuple(pyr["internal"]), pyr["gauss_next"])
    except (KeyError, TypeError, AttributeError) as e:
        raise InputError(f"checkpoint {file} has no readable RNG state ({e!r}): it was written by an older "
                         "version of deepwas_dist; delete that checkpoint directory, or retrain into a new "
                         "--name") from None
    with open(os.path.join(path, META_FILE)) as fh:
        meta = json.load(fh)
    return state, meta


def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def checkpoint_dirs(fs, root: str) -> list[str]:
    """The ``checkpoint_*`` directories in ``root`` (not Ray Train's checkpoint_manager_snapshot.json)."""
    return [e["name"] for e in fs.ls(root, detail=True)
            if e.get("type") == "directory" and _name(e["name"]).startswith(PREFIX)]


def complete_candidates(run_url: str, storage_options: dict | None = None) -> list[str]:
    """The run's checkpoint directories that carry a marker, newest (highest global step) first; their
    files are checked only when loaded."""
    fs, root = filesystem(run_url, storage_options)
    if not fs.exists(root):
        return []
    found = []
    for p in checkpoint_dirs(fs, root):
        marker = read_marker(fs, p)
        if marker is not None:
            found.append((int(marker["global_step"]), _name(p), p))
    return [p for _, _, p in sorted(found, reverse=True)]


def legacy_candidates(run_url: str, storage_options: dict | None = None) -> list[str]:
    """A run written before completion markers (none of its checkpoints has one): its checkpoint
    directories with a readable ``meta.json``, highest global step first; [] for any other run."""
    fs, root = filesystem(run_url, storage_options)
    if not fs.exists(root):
        return []
    found = []
    for p in checkpoint_dirs(fs, root):
        if fs.exists(join(p, MARKER_FILE)):
            return []
        try:
            with fs.open(join(p, META_FILE)) as fh:
                found.append((int(json.load(fh)["global_step"]), _name(p), p))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return [p for _, _, p in sorted(found, reverse=True)]


def _local_copy(fs, path: str) -> str:
    if is_local(fs):
        return path
    local = tempfile.mkdtemp(prefix="deepwas-ckpt-")
    fs.get(path.rstrip("/") + "/", local + "/", recursive=True)
    return local


def _warn(log: Callable[[str], None], damaged: str, why: str) -> None:
    log(f"[deepwas] warning: skipping damaged checkpoint {damaged} ({why}); using the previous complete one")


def load_latest(run_url: str, storage_options: dict | None = None, log: Callable[[str], None] = print,
                exclude: str | None = None) -> tuple[dict, dict, str]:
    """(state, meta, local directory) of the run's newest complete checkpoint (directory name ``exclude``
    not considered); a damaged one on the way is skipped with a warning. InputError when none is usable."""
    fs, _ = filesystem(run_url, storage_options)
    for p in complete_candidates(run_url, storage_options):
        if exclude is not None and _name(p) == exclude:
            continue
        local = _local_copy(fs, p)
        try:
            state, meta = load_state(local)
            return state, meta, local
        except DamagedCheckpoint as e:
            _warn(log, p, _reason(e))
            if local != p:
                shutil.rmtree(local, ignore_errors=True)
    for p in legacy_candidates(run_url, storage_options):
        if exclude is not None and _name(p) == exclude:
            continue
        local = _local_copy(fs, p)
        try:
            state, meta = load_state(local, verify=False)
        except DamagedCheckpoint as e:
            _warn(log, p, _reason(e))
            continue
        log(f"[deepwas] warning: {p} was written before checkpoints carried a completion marker "
            f"({MARKER_FILE}); it is used unverified")
        return state, meta, local
    raise InputError(f"{run_url}: no complete checkpoint (one with a valid {MARKER_FILE} and matching files; runs "
                     "trained before deepwas_dist wrote that marker have none) to use; fix: train the run again "
                     "(a new --name, or delete its checkpoint_* directories and --resume)")


def _reason(e: DamagedCheckpoint) -> str:
    """The part of a DamagedCheckpoint message after the directory it names."""
    return str(e).split(": ", 1)[-1] if ": " in str(e) else str(e)


def load_or_fall_back(path: str, run_url: str | None, storage_options: dict | None = None,
                      log: Callable[[str], None] = print) -> tuple[dict, dict]:
    """(state, meta) of the checkpoint in local directory ``path`` (the one Ray Train handed over); when it
    is damaged, a warning and the newest other complete checkpoint of the run at ``run_url`` instead."""
    try:
        return load_state(path)
    except DamagedCheckpoint as e:
        if run_url is None:
            raise
        _warn(log, path, _reason(e))
        state, meta, _ = load_latest(run_url, storage_options, log=log, exclude=_name(path))
        return state, meta


def prune_unregistered(run_url: str, registered: set[str], storage_options: dict | None = None) -> list[str]:
    """Delete the run's ``checkpoint_*`` directories whose names are not in ``registered`` (the ones Ray
    Train lists at the end of a successful fit); returns the deleted paths."""
    fs, root = filesystem(run_url, storage_options)
    gone = []
    for p in checkpoint_dirs(fs, root):
        if _name(p) not in registered:
            fs.rm(p, recursive=True)
            gone.append(p)
    return gone
