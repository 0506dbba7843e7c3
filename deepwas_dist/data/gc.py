"""Garbage collection of a dataset's unreferenced files, and the leases that keep live writers' files safe.

A file under a dataset root is *garbage* when no manifest version lists it (the log ``_manifests/``
and ``manifest.json``; :mod:`.commit`): the parts of a killed writer, ``*.tmp`` files of an
interrupted upload, files a losing writer could not delete. :func:`collect` lists them; with
``delete=True`` it deletes them. It never touches

* the manifests themselves (``manifest.json``, ``_manifests/*.json``);
* files younger than the grace period (default one hour): a writer that is still writing;
* files of a live writer, however old. Every :class:`~deepwas_dist.data.writer.DatasetWriter` holds a
  :class:`WriterLease` while it runs: a marker ``_writers/<writer id>.json`` created before its first
  file and re-written every :data:`HEARTBEAT_S` seconds by a daemon thread, removed at close/abort.
  Every file a writer creates has its writer id in its name (``part-<id>-<k>.parquet``,
  ``slice_index-<id>.parquet``, their ``.tmp`` names), so a file is a live writer's when its name
  contains the id of a marker younger than the grace period. A killed writer's marker stops being
  refreshed and becomes garbage itself after the grace period.

Sound as long as the grace period is much longer than the heartbeat (:data:`MIN_GRACE_S`) and than a
clock skew between the writer and the store.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import posixpath
import threading
import time
from dataclasses import dataclass, field

from ..errors import InputError
from . import schema as S
from .commit import LOG_DIR, list_versions, read_version
from .storage import filesystem, join, read_json, storage_errors, write_bytes

WRITERS_DIR = "_writers"
HEARTBEAT_S = 60.0
MIN_GRACE_S = 360.0


class WriterLease:
    """A writer's liveness marker, refreshed by a daemon thread until :meth:`release`."""

    def __init__(self, fs, root: str, url: str, write_id: str, heartbeat_s: float = HEARTBEAT_S):
        self.fs, self.url, self.write_id = fs, url, write_id
        self.path = join(root, f"{WRITERS_DIR}/{write_id}.json")
        self._stop = threading.Event()
        self._touch()
        self._thread = threading.Thread(target=self._beat, args=(heartbeat_s,), daemon=True,
                                        name=f"deepwas-lease-{write_id}")
        self._thread.start()

    def _touch(self) -> None:
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        write_bytes(self.fs, self.path, json.dumps({"write_id": self.write_id, "alive_at": now}).encode(), self.url)

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            with contextlib.suppress(Exception):
                self._touch()

    def release(self) -> None:
        """Stop the heartbeat and remove the marker (idempotent)."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self.fs.rm(self.path)


@dataclass(frozen=True)
class Garbage:
    """What :func:`collect` found: unreferenced files old enough to delete (path -> bytes), and what it kept."""

    url: str
    files: dict[str, int]
    deleted: bool
    kept_young: int = 0
    kept_live: int = 0
    live_writers: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return int(sum(self.files.values()))

    def format(self) -> str:
        verb = "deleted" if self.deleted else "would delete (pass --yes to delete)"
        lines = [f"gc {self.url}: {len(self.files)} unreferenced file(s), {self.bytes:,} bytes: {verb}"]
        lines += [f"  {rel}  {b:,} bytes" for rel, b in sorted(self.files.items())]
        lines.append(f"  kept: {self.kept_young} younger than the grace period, {self.kept_live} of "
                     f"{len(self.live_writers)} live writer(s)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"url": self.url, "files": self.files, "bytes": self.bytes, "deleted": self.deleted,
                "kept_young": self.kept_young, "kept_live": self.kept_live, "live_writers": self.live_writers}


def _mtime(info: dict) -> float:
    for k in ("mtime", "LastModified", "last_modified", "updated", "created"):
        v = info.get(k)
        if isinstance(v, _dt.datetime):
            return v.timestamp()
        if isinstance(v, (int, float)):
            return float(v)
        if isinstance(v, str):
            with contextlib.suppress(ValueError):
                return _dt.datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
    return time.time()                   # unknown age: treat as new (never deleted)


def referenced(fs, root: str, url: str) -> set[str]:
    """Every file any manifest version lists, and the manifests themselves (paths relative to the root)."""
    refs = {S.MANIFEST_FILE}
    objs = []
    for n in list_versions(fs, root, url):
        refs.add(f"{LOG_DIR}/{n:08d}.json")
        objs.append(read_version(fs, root, url, n))
    with contextlib.suppress(FileNotFoundError):
        objs.append(read_json(fs, join(root, S.MANIFEST_FILE), url))
    for o in objs:
        refs.update(str(k) for k in o.get("files", {}))
    return refs


def collect(url: str, storage_options: dict | None = None, *, grace_s: float = 3600.0, delete: bool = False,
            now: float | None = None) -> Garbage:
    """Unreferenced files under the dataset at ``url`` older than ``grace_s`` seconds (deleted if ``delete``)."""
    fs, root = filesystem(url, storage_options)
    now = time.time() if now is None else now
    with storage_errors(url, "list"):
        if not fs.exists(root):
            raise InputError(f"{url}: no such dataset; fix: check the URL")
        fs.invalidate_cache(root)
        infos = fs.find(root, detail=True)
    refs = referenced(fs, root, url)
    prefix = root.rstrip("/") + "/"
    entries = {p[len(prefix):] if p.startswith(prefix) else p.lstrip("/"): i for p, i in infos.items()}
    if not refs - {S.MANIFEST_FILE} and S.MANIFEST_FILE not in entries:
        raise InputError(f"{url}: no manifest here, so every file would be garbage; fix: point gc at a dataset root")
    live = sorted(posixpath.basename(rel).removesuffix(".json") for rel, i in entries.items()
                  if rel.startswith(f"{WRITERS_DIR}/") and now - _mtime(i) < grace_s)
    files, young, kept_live = {}, 0, 0
    for rel, info in sorted(entries.items()):
        if rel in refs or info.get("type") == "directory":
            continue
        if now - _mtime(info) < grace_s:
            young += 1
            continue
        if any(w in rel for w in live):
            kept_live += 1
            continue
        files[rel] = int(info.get("size") or 0)
    if delete:
        for rel in files:
            with storage_errors(url, "delete"), contextlib.suppress(FileNotFoundError):
                fs.rm(join(root, rel))
    return Garbage(url=url, files=files, deleted=delete, kept_young=young, kept_live=kept_live, live_writers=live)
