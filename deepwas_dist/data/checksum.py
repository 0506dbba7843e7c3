"""Content checksums of a dataset's files and of its manifests.

Every file the manifest lists has a checksum in the manifest's ``checksums`` section,
``"<algorithm>:<8 hex digits>"``, so a reader knows which algorithm a file was written with. Writers
record ``crc32c`` (:data:`ALGORITHM`): CRC-32C (Castagnoli polynomial, as in iSCSI, ext4 and GCS) of the
file's bytes, computed while the writer writes them (:class:`HashingFile`, no re-read), by the
``google-crc32c`` package (its C extension, SSE4.2 / ARMv8 CRC instructions where the CPU has them; the
package falls back to pure Python, ~1000x slower, only where no wheel fits). ``crc32`` (zlib, IEEE
polynomial), which the first checksummed manifests used, is still checked on read (:data:`ALGORITHMS`);
any other algorithm is a :class:`~deepwas_dist.errors.SchemaError`. A 32-bit CRC detects every burst error
of up to 32 bits and any other random corruption with probability 1 - 2^-32; it guards against damage
(bit rot, truncated or partial copies, a byte flipped in transit), not against a deliberate forgery.
Throughput: ``python -m deepwas_dist.bench checksum`` (docs/results/bench_checksum.json).

A reader checks a file's checksum the first time a :class:`~deepwas_dist.data.reader.Dataset` opens
it, on the same bytes Parquet then decodes: the file is read from storage once
(:class:`~deepwas_dist.data.storage.ParquetHandle`), before Parquet decodes a byte of it; a mismatch is a
:class:`~deepwas_dist.errors.SchemaError` naming the file and what to re-ingest (:func:`refetch_fix`).
``prepare.py info --verify`` streams each file through :func:`file_checksum` in 8 MiB blocks instead.
Manifests written before checksums existed have none: their files are read unchecked (``prepare.py info
--verify`` says so).

A manifest checks itself: ``manifest_crc32`` is the checksum (same format, so ``crc32c:...``) of the
canonical JSON of every other key (:func:`manifest_digest`: sorted keys, no whitespace), so any change of
a value, however the file is re-formatted, is detected when the manifest is read.
"""
from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable
from typing import Any

import google_crc32c
import pyarrow as pa

from ..errors import SchemaError
from . import schema as S

#: The algorithm writers record.
ALGORITHM = "crc32c"


def _crc32c(crc: int, data) -> int:
    # the C extension takes read-only buffers only (not a memoryview); a pyarrow buffer wraps any
    # buffer-protocol object without copying
    return google_crc32c.extend(crc, pa.py_buffer(data))


#: Algorithm name -> running update ``(crc, data) -> crc`` (initial value 0) of every algorithm a reader checks.
ALGORITHMS: dict[str, Callable[[int, Any], int]] = {"crc32c": _crc32c, "crc32": lambda crc, data: zlib.crc32(data, crc)}
#: The manifest key holding the manifest's own checksum.
MANIFEST_DIGEST_KEY = "manifest_crc32"
_BLOCK = 8 << 20
_SUMSTATS_RE = re.compile(rf"^{S.SUMSTATS_DIR}/(?P<trait>[^/]+)/chr=(?P<chrom>\d+)/")
_SNPS_RE = re.compile(rf"^{S.SNPS_DIR}/chr=(?P<chrom>\d+)/")


def algorithm_of(recorded: str, where: str) -> str:
    """The algorithm of a recorded checksum ``"<algorithm>:<hex>"``; SchemaError naming ``where`` when unknown."""
    alg = str(recorded).partition(":")[0]
    if alg not in ALGORITHMS:
        raise SchemaError(f"{where}: checksum {recorded!r} uses an algorithm this version does not know (knows "
                          f"{sorted(ALGORITHMS)}); fix: upgrade deepwas_dist, or re-write the dataset")
    return alg


class Hasher:
    """A running checksum of one algorithm: :meth:`update` with consecutive blocks, then :attr:`checksum`."""

    def __init__(self, algorithm: str = ALGORITHM):
        self.algorithm, self._update, self._crc = algorithm, ALGORITHMS[algorithm], 0

    def update(self, data) -> None:
        self._crc = self._update(self._crc, data)

    @property
    def checksum(self) -> str:
        return f"{self.algorithm}:{self._crc & 0xFFFFFFFF:08x}"


def checksum_bytes(data, algorithm: str = ALGORITHM) -> str:
    h = Hasher(algorithm)
    h.update(data)
    return h.checksum


def file_checksum(f, algorithm: str = ALGORITHM) -> str:
    """Checksum of an open binary file object, read from its start in blocks (the position is left at 0)."""
    f.seek(0)
    h = Hasher(algorithm)
    while True:
        block = f.read(_BLOCK)
        if not block:
            break
        h.update(block)
    f.seek(0)
    return h.checksum


class HashingFile:
    """A write-only file wrapper that checksums (:data:`ALGORITHM`) and counts the bytes written through it
    (Parquet writers accept any object with ``write``)."""

    def __init__(self, f):
        self._f, self._hash, self.nbytes = f, Hasher(), 0
        self.closed = False

    def write(self, data) -> int:
        mv = memoryview(data)
        self._hash.update(mv)
        self.nbytes += mv.nbytes
        self._f.write(mv)
        return mv.nbytes

    def tell(self) -> int:
        return self.nbytes

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:            # the owner of the underlying file closes it
        self.closed = True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readable(self) -> bool:
        return False

    @property
    def checksum(self) -> str:
        return self._hash.checksum


def refetch_fix(rel: str) -> str:
    """What to re-run when the dataset file ``rel`` is damaged: its trait or chromosome, or the whole LD."""
    m = _SUMSTATS_RE.match(rel)
    if m:
        return (f"re-ingest trait {m['trait']!r} (chr{m['chrom']}): prepare.py sumstats --out URL --trait "
                f"{m['trait']} --file ... --overwrite")
    m = _SNPS_RE.match(rel)
    if m:
        return (f"re-ingest chr{m['chrom']}'s SNP table: prepare.py annotations --out URL --file ... (re-writes "
                "every SNP table), or re-write the dataset")
    return ("re-write the dataset's LD (prepare.py plink / ukbb-ld / simulate --out URL --overwrite), or restore "
            "this file from a copy")


def check_file(where: str, rel: str, expected: str, actual: str) -> None:
    """SchemaError naming the file and what to re-ingest unless ``actual`` (computed with ``expected``'s
    algorithm, :func:`algorithm_of`) is ``expected``."""
    if expected != actual:
        raise SchemaError(f"{where}: checksum mismatch ({actual}, the manifest recorded {expected}): the file is "
                          f"corrupt; fix: {refetch_fix(rel)}")


def _canonical(obj: dict[str, Any]) -> bytes:
    body = {k: v for k, v in obj.items() if k != MANIFEST_DIGEST_KEY}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


def manifest_digest(obj: dict[str, Any], algorithm: str = ALGORITHM) -> str:
    """The checksum of a manifest's JSON object (every key but :data:`MANIFEST_DIGEST_KEY`)."""
    return checksum_bytes(_canonical(obj), algorithm)


def check_manifest(obj: dict[str, Any], where: str) -> bool:
    """Check a manifest's own checksum; False when it has none (written before checksums existed)."""
    expected = obj.get(MANIFEST_DIGEST_KEY)
    if expected is None:
        return False
    actual = manifest_digest(obj, algorithm_of(expected, where))
    if actual != expected:
        raise SchemaError(f"{where}: manifest checksum mismatch ({actual}, recorded {expected}): the manifest is "
                          "corrupt; fix: restore it from a copy, or re-write the dataset (prepare.py ... --overwrite)")
    return True
