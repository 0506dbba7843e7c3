"""fsspec plumbing shared by the dataset writer and reader: filesystems from URLs, atomic writes,
checked Parquet opening, and turning storage/credential failures into actionable errors."""
from __future__ import annotations

import contextlib
import json
import os
import posixpath
import uuid
from typing import Any, Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import InputError, SchemaError
from . import schema as S
from .checksum import HashingFile, algorithm_of, check_file, checksum_bytes, file_checksum

_CRED_FIX = {
    "s3": ("fix: give credentials (env AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or "
           "--storage-option key=... --storage-option secret=...); add --storage-option endpoint_url=... for "
           "S3-compatible stores, or --storage-option anon=true for a public bucket (inputs of prepare.py: "
           "--input-storage-option)"),
    "gs": ("fix: run `gcloud auth application-default login`, or pass --storage-option token=PATH "
           "(a service-account JSON), or --storage-option token=anon for a public bucket"),
}
_CRED_FIX["s3a"] = _CRED_FIX["s3"]
_CRED_FIX["gcs"] = _CRED_FIX["gs"]


def _is_access_error(e: BaseException) -> bool:
    """True for credential / permission / connection failures of the storage backend."""
    names = {c.__name__ for c in type(e).__mro__}
    mod = type(e).__module__ or ""
    return bool(isinstance(e, PermissionError)
                or names & {"NoCredentialsError", "PartialCredentialsError", "ClientError",
                            "EndpointConnectionError", "CredentialRetrievalError", "RefreshError",
                            "DefaultCredentialsError", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
                or mod.startswith(("botocore", "aiobotocore", "google.auth", "gcsfs")))


def access_error(url: str, action: str, e: BaseException) -> InputError:
    """An InputError for a storage failure on ``url`` while doing ``action``, with the likely fix."""
    msg = f"cannot {action} {url}: {type(e).__name__}: {e}"
    if _is_access_error(e):
        proto = url.split("://", 1)[0] if "://" in url else "file"
        fix = _CRED_FIX.get(proto, "fix: check permissions on the path and the --storage-option credentials")
        return InputError(f"{msg}; {fix}")
    return InputError(f"{msg}; fix: check the URL, network and --storage-option values")


def filesystem(url: str, storage_options: dict | None = None,
               flag: str = "--storage-option") -> tuple[fsspec.AbstractFileSystem, str]:
    """(filesystem, root path) for a dataset URL: a local path (default), file://, s3://, gs://, ...;
    ``flag``: the option that gave ``storage_options``, named in errors (``--input-storage-option`` for
    input files)."""
    if not isinstance(url, str) or not url:
        raise InputError(f"dataset URL must be a non-empty string, got {url!r}")
    opts = dict(storage_options or {})
    try:
        fs, root = fsspec.core.url_to_fs(url, **opts)
    except ImportError as e:
        proto = url.split("://", 1)[0]
        pkg = {"gs": "gcsfs", "gcs": "gcsfs", "s3": "s3fs", "az": "adlfs",
               "abfs": "adlfs"}.get(proto, "its fsspec backend")
        raise InputError(f"cannot open {url}: the {proto}:// filesystem is not installed ({e}); "
                         f"fix: pip install {pkg}") from e
    except (ValueError, TypeError) as e:
        raise InputError(f"cannot open {url} with {flag} keys {sorted(opts)}: {e}; "
                         f"fix: check the URL scheme and the {flag} keys") from e
    return fs, root.rstrip("/")


def is_local(fs: fsspec.AbstractFileSystem) -> bool:
    protos = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return "file" in protos or "local" in protos


def is_local_url(url: str) -> bool:
    """True for a local path or a file:// URL (anything without another ``scheme://``): the one check
    of "is this URL local" (``is_local`` asks the same of an open filesystem)."""
    return "://" not in str(url) or str(url).startswith("file://")


def absolute_url(url: str | None) -> str | None:
    """A local path (or file:// URL) made absolute against the current directory, so that Ray workers,
    which run elsewhere, find it; remote URLs and None unchanged."""
    if url is None or not is_local_url(url):
        return url
    return os.path.abspath(os.path.expanduser(str(url).removeprefix("file://")))


def join(root: str, rel: str) -> str:
    return posixpath.join(root, rel) if root else rel


@contextlib.contextmanager
def storage_errors(url: str, action: str) -> Iterator[None]:
    """Re-raise storage exceptions (credentials, permissions, network) as InputError naming ``url``."""
    try:
        yield
    except InputError:
        raise
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - anything the backend throws is wrapped with the URL and fix
        raise access_error(url, action, e) from e


@contextlib.contextmanager
def atomic_open(fs: fsspec.AbstractFileSystem, path: str, url: str) -> Iterator[Any]:
    """Open ``path`` for binary writing so that it appears complete or not at all.

    Local filesystems: write ``<path>.tmp-<id>`` and rename it on success (rename is atomic). Object
    stores (S3, GCS) publish an object only when its upload completes, so writing in place is atomic.
    Yields a :class:`~deepwas_dist.data.checksum.HashingFile`: its ``checksum`` and ``nbytes`` are those
    of the bytes written.
    """
    with storage_errors(url, "write"):
        if is_local(fs):
            parent = posixpath.dirname(path)
            if parent:
                fs.makedirs(parent, exist_ok=True)
            tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
            try:
                with fs.open(tmp, "wb") as f:
                    yield HashingFile(f)
                fs.mv(tmp, path)
            except BaseException:
                with contextlib.suppress(Exception):
                    fs.rm(tmp)
                raise
        else:
            with fs.open(path, "wb") as f:
                yield HashingFile(f)


def write_bytes(fs, path: str, data: bytes, url: str) -> int:
    with atomic_open(fs, path, url) as f:
        f.write(data)
    return len(data)


def read_json(fs, path: str, url: str) -> dict:
    with storage_errors(url, "read"):
        raw = fs.cat_file(path)
    return decode_json(raw, url)


def decode_json(raw: bytes, url: str) -> dict:
    """A manifest object from its bytes; SchemaError naming ``url`` when they are not a JSON object."""
    try:
        out = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SchemaError(f"{url}: manifest is not valid JSON ({e}); the file is corrupt or truncated; "
                          "fix: re-write the dataset") from e
    if not isinstance(out, dict):
        raise SchemaError(f"{url}: manifest must be a JSON object, got {type(out).__name__}; fix: re-write the dataset")
    return out


#: Largest file a reader checks from memory. A dataset's files are far smaller: an LD shard ends at the first
#: slice that takes it to ``target_file_mib`` (64 MiB by default, :class:`~.shards.ShardWriter`), and SNP and
#: sumstats part files are cut at about the same size (:func:`~.shards.write_row_parts`). A larger file (a
#: dataset written with a larger ``target_file_mib``) is checked by streaming it, then read a second time.
BUFFER_LIMIT = 256 << 20


class ParquetHandle:
    """An open, checked Parquet file of a dataset: size and (if given) checksum against the manifest,
    footer, required columns.

    With a checksum to check, the file is read from storage once, whole (one GET on an object store),
    the checksum computed on those bytes, and Parquet decodes from the same in-memory buffer, which the
    handle holds until :meth:`close` (so memory is about one file per open handle, at most
    :data:`BUFFER_LIMIT`; a larger file is streamed through the checksum, then read again by Parquet).
    Without one (a file this ``Dataset`` checked before, or an old manifest without checksums), Parquet
    reads from storage lazily, the footer and then the row groups asked for."""

    def __init__(self, fs, root: str, rel: str, url: str, *, expected_bytes: int | None,
                 required: tuple[str, ...] = (), checksum: str | None = None):
        self.rel, self.where = rel, f"{url.rstrip('/')}/{rel}"
        path = join(root, rel)
        algorithm = None if checksum is None else algorithm_of(checksum, self.where)
        buffered = algorithm is not None and expected_bytes is not None and int(expected_bytes) <= BUFFER_LIMIT
        self._f = None
        try:
            with storage_errors(self.where, "read"):
                if buffered:
                    data = fs.cat_file(path)
                    size = len(data)
                else:
                    self._f = fs.open(path, "rb")
                    size = getattr(self._f, "size", None)
        except FileNotFoundError as e:
            raise SchemaError(f"{self.where}: file listed in the manifest is missing; the dataset is incomplete "
                              "or was partly deleted; fix: re-write the dataset") from e
        try:
            if expected_bytes is not None and size is not None and int(size) != int(expected_bytes):
                raise SchemaError(f"{self.where}: file is {size} bytes but the manifest recorded {expected_bytes}; "
                                  "it is truncated or was overwritten; fix: re-write the dataset")
            if buffered:
                check_file(self.where, rel, checksum, checksum_bytes(data, algorithm))
                self._f = pa.BufferReader(pa.py_buffer(data))
            elif algorithm is not None:
                with storage_errors(self.where, "read"):
                    actual = file_checksum(self._f, algorithm)
                check_file(self.where, rel, checksum, actual)
            try:
                self.pf = pq.ParquetFile(self._f)
            except (pa.ArrowException, OSError, ValueError) as e:
                raise self.corrupt(e) from e
            S.check_columns(self.pf.schema_arrow.names, required, self.where,
                            fix="the file does not match this version's schema; re-write the dataset")
        except BaseException:
            self.close()
            raise
        md = self.pf.metadata
        self.row_group_rows = [md.row_group(i).num_rows for i in range(md.num_row_groups)]

    def corrupt(self, e: BaseException) -> SchemaError:
        return SchemaError(f"{self.where}: corrupt or truncated Parquet file ({type(e).__name__}: {e}); "
                           "fix: re-write the dataset (or restore this file)")

    def read_row_group(self, i: int, columns: list[str] | None = None) -> pa.Table:
        try:
            with storage_errors(self.where, "read"):
                return self.pf.read_row_group(i, columns=columns)
        except InputError:
            raise
        except (pa.ArrowException, OSError, ValueError) as e:
            raise self.corrupt(e) from e

    def read(self, columns: list[str] | None = None) -> pa.Table:
        try:
            with storage_errors(self.where, "read"):
                return self.pf.read(columns=columns)
        except InputError:
            raise
        except (pa.ArrowException, OSError, ValueError) as e:
            raise self.corrupt(e) from e

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._f.close()
        self.pf = None                  # drops the in-memory file, if any


def new_write_id() -> str:
    return uuid.uuid4().hex[:12]

