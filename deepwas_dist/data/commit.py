"""Publishing a manifest: a compare-and-swap on a log of manifest versions, locally and on object stores.

Layout under the dataset root::

    _manifests/00000001.json     version 1 of the manifest, 2, 3, ...: each created once, never changed
    manifest.json                a copy of the newest version, for older deepwas_dist releases and tools
                                 that test for it; a dataset without a log is a "legacy" dataset (version 0)

**Reading** (:func:`read_head`): list ``_manifests/``, read the highest version; when the log is empty,
read ``manifest.json`` (a dataset written before the log existed: version 0). Version files are
immutable, so a reader never sees a half-replaced manifest.

**Writing** (:func:`publish`): a writer remembers the version ``b`` it started from (0: a new dataset or
a legacy one), writes its data files under its own writer id, and then claims version ``b + 1`` by
*exclusive create* of ``_manifests/<b+1>.json``. Exactly one writer can create a given version:

* local filesystems: the manifest is written to a temporary file, fsynced, and hard-linked to the
  version name (``link(2)`` fails with EEXIST if the name exists, atomically; the file appears
  complete). Filesystems without hard links fall back to ``open(O_CREAT | O_EXCL)``.
* S3: ``PutObject`` with ``If-None-Match: *`` (s3fs ``pipe_file(..., mode="create")``): S3 refuses with
  412 PreconditionFailed when the key exists, which s3fs raises as FileExistsError. Other fsspec stores
  get fsspec's generic ``mode="create"`` (exists-then-write, not atomic).
* every store: the claimed version is read back and compared byte for byte, so a store that ignores the
  condition (an S3-compatible server without conditional writes; moto checks the condition and then
  stores the object in two steps) is caught in the common case of a plain overwrite.

A writer that finds ``b + 1`` taken lost the race. If its change commutes with the winner's (it only
added or removed traits that the winner did not touch, and the SNP tables and LD are the ones it
started from), it is *rebased*: its change is re-applied to the newest manifest ``h`` and it claims
``h + 1`` (at most :data:`MAX_REBASES` times). Otherwise it fails with an InputError that says retrying
is safe; its caller deletes its files, so it published nothing. Because every version is derived from
the one before it, no update is ever lost: a version lists the winner's change and everything before it.

**Deleting replaced files** after a successful claim of version ``v``: the files of version ``v - 1``
that version ``v`` does not list. No later version can list them: a later writer either started from
``v`` or later, or was rebased onto ``v`` or later (and only adds its own new files), or failed.

``manifest.json`` is then overwritten with the newest version (re-checked after writing, so that a
slow writer never leaves an older copy behind for long); only older releases read it while the log
exists.
"""
from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InputError
from . import schema as S
from .checksum import MANIFEST_DIGEST_KEY, manifest_digest
from .storage import decode_json, is_local, join, read_json, storage_errors, write_bytes

log = logging.getLogger(__name__)

LOG_DIR = "_manifests"
MAX_REBASES = 8
_VERSION_RE = re.compile(r"^(\d{8})\.json$")


class CommitConflict(Exception):
    """Raised by a rebase callback: this writer's change cannot be re-applied to the newer manifest."""


@dataclass(frozen=True)
class Head:
    """The newest manifest of a dataset: its version (0: legacy or none) and JSON object (None: no dataset)."""

    version: int
    obj: dict | None
    legacy: bool = False


@dataclass(frozen=True)
class Committed:
    """A successful claim: the version written and the manifest object it replaced (None: a new dataset)."""

    version: int
    replaced: dict | None


def version_rel(n: int) -> str:
    return f"{LOG_DIR}/{n:08d}.json"


def list_versions(fs, root: str, url: str, action: str = "read") -> list[int]:
    """Versions in the log, ascending (empty for a legacy dataset or none); ``action`` names a failure."""
    d = join(root, LOG_DIR)
    with storage_errors(url, action):
        try:
            names = fs.ls(d, detail=False, refresh=True)
        except FileNotFoundError:
            return []
    out = [int(m.group(1)) for m in (_VERSION_RE.match(posixpath.basename(n.rstrip("/"))) for n in names) if m]
    return sorted(out)


def _cat_version(fs, path: str) -> bytes:
    """The bytes of a version file that is known to exist (it was listed, or this process created it).

    s3fs sizes an object from its directory-listing cache before reading it, and that cache is shared by
    every thread using the same filesystem instance: a listing taken by another thread just before this
    version was created can land in the cache after this thread invalidated it, and the read then fails
    with FileNotFoundError without asking the store. Version files are never deleted, so a miss here is
    always such a stale listing: drop the cache and ask the store again.
    """
    for _ in range(3):
        try:
            return bytes(fs.cat_file(path))
        except FileNotFoundError:
            fs.invalidate_cache(posixpath.dirname(path))
    return bytes(fs.cat_file(path))


def read_version(fs, root: str, url: str, n: int) -> dict:
    path = join(root, version_rel(n))
    with storage_errors(url, "read"):
        raw = _cat_version(fs, path)
    return decode_json(raw, url)


def read_head(fs, root: str, url: str, action: str = "read") -> Head:
    """The newest manifest: the log's highest version, else manifest.json (legacy), else none."""
    versions = list_versions(fs, root, url, action)
    if versions:
        return Head(versions[-1], read_version(fs, root, url, versions[-1]))
    with contextlib.suppress(FileNotFoundError):
        return Head(0, read_json(fs, join(root, S.MANIFEST_FILE), url), legacy=True)
    return Head(0, None)


def encode(obj: dict, version: int) -> bytes:
    """The bytes of manifest version ``version``: the object with its version and own checksum."""
    body = {k: v for k, v in obj.items() if k != MANIFEST_DIGEST_KEY}
    body["version"] = version
    body[MANIFEST_DIGEST_KEY] = manifest_digest(body)
    return json.dumps(body, indent=1, allow_nan=False).encode("utf-8")


def _create_local(fs, path: str, data: bytes, tag: str) -> bool:
    local = fs._strip_protocol(path)
    parent = os.path.dirname(local)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f".{os.path.basename(local)}.{tag}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    try:
        os.link(tmp, local)
        return True
    except FileExistsError:
        return False
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    try:                                           # no hard links here: exclusive create, then write
        fd = os.open(local, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return True


def claim(fs, root: str, url: str, version: int, data: bytes, tag: str) -> bool:
    """Create manifest version ``version`` with ``data`` if no one has; True if this call created it."""
    path = join(root, version_rel(version))
    with storage_errors(url, "write"):
        if is_local(fs):
            created = _create_local(fs, path, data, tag)
        else:
            try:
                fs.pipe_file(path, data, mode="create")
                created = True
            except FileExistsError:
                created = False
        if not created:
            return False
        fs.invalidate_cache(posixpath.dirname(path))
        return _cat_version(fs, path) == data      # a store that ignored the condition: we lost


def _copy_latest(fs, root: str, url: str, version: int, data: bytes) -> None:
    """Overwrite manifest.json with the newest version (best effort: the log is what counts)."""
    for _ in range(MAX_REBASES):
        with contextlib.suppress(InputError):
            write_bytes(fs, join(root, S.MANIFEST_FILE), data, url)
        newest = list_versions(fs, root, url)
        if not newest or newest[-1] <= version:
            return
        version = newest[-1]
        with storage_errors(url, "read"):
            data = _cat_version(fs, join(root, version_rel(version)))


def publish(fs, root: str, url: str, base: Head, obj: dict, rebase: Callable[[Head], dict], tag: str) -> Committed:
    """Claim the version after ``base`` (the head the writer started from) for manifest ``obj``; on a lost
    race, ``rebase(head)`` gives the manifest re-applied to the newest one (or raises
    :class:`CommitConflict`). Returns what was committed; InputError when the race is lost for good (the
    caller then deletes its files)."""
    base, replaced = base.version, base.obj
    for _ in range(MAX_REBASES + 1):
        version = base + 1
        data = encode(obj, version)
        if claim(fs, root, url, version, data, tag):
            _copy_latest(fs, root, url, version, data)
            return Committed(version, replaced)
        head = read_head(fs, root, url)
        try:
            obj = rebase(head)
        except CommitConflict as e:
            raise InputError(f"{url}: another writer published version {head.version} of this dataset while this "
                             f"write ran ({e}); nothing was published and this writer's new files were deleted; "
                             "fix: run it again (retrying is safe)") from None
        log.info("%s: version %d was taken by another writer; rebased onto it", url, version)
        base, replaced = head.version, head.obj
    raise InputError(f"{url}: {MAX_REBASES} other writers published versions while this write ran; nothing was "
                     "published and this writer's new files were deleted; fix: run it again (retrying is safe)")

