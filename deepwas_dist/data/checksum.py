"""Content checksums of a dataset's files and of its manifests.

Every file the manifest lists has a checksum in the manifest's ``checksums`` section, ``"crc32:<8 hex
digits>"``: CRC-32 (zlib, IEEE polynomial) of the file's bytes, computed while the writer writes them
(:class:`HashingFile`, no re-read). CRC-32 detects every burst error of up to 32 bits and any other
random corruption with probability 1 - 2^-32; it guards against damage (bit rot, truncated or partial
copies, a byte flipped in transit), not against a deliberate forgery. It was chosen over sha256
because the lock file pins no crc32c library and zlib's CRC-32 was the fastest hash at hand (measured
on this machine: crc32 1.56 GB/s, sha256 1.20 GB/s, blake2b 0.48 GB/s on 64 MiB).

A reader checks a file's checksum the first time a :class:`~deepwas_dist.data.reader.Dataset` opens
it (:func:`file_checksum` streams it in 8 MiB blocks, so memory stays bounded), before Parquet decodes
a byte of it; a mismatch is a :class:`~deepwas_dist.errors.SchemaError` naming the file and what to
re-ingest (:func:`refetch_fix`). Manifests written before checksums existed have none: their files are
read unchecked (``prepare.py info --verify`` says so).

A manifest checks itself: ``manifest_crc32`` is the CRC-32 of the canonical JSON of every other key
(:func:`manifest_digest`: sorted keys, no whitespace), so any change of a value, however the file is
re-formatted, is detected when the manifest is read.
"""
from __future__ import annotations

import json
import re
import zlib
from typing import Any

from ..errors import SchemaError
from . import schema as S

ALGORITHM = "crc32"
#: The manifest key holding the manifest's own checksum.
MANIFEST_DIGEST_KEY = "manifest_crc32"
_BLOCK = 8 << 20
_SUMSTATS_RE = re.compile(rf"^{S.SUMSTATS_DIR}/(?P<trait>[^/]+)/chr=(?P<chrom>\d+)/")
_SNPS_RE = re.compile(rf"^{S.SNPS_DIR}/chr=(?P<chrom>\d+)/")


def format_checksum(crc: int) -> str:
    return f"{ALGORITHM}:{crc & 0xFFFFFFFF:08x}"


def checksum_bytes(data: bytes) -> str:
    return format_checksum(zlib.crc32(data))


def file_checksum(f) -> str:
    """Checksum of an open binary file object, read from its start in blocks (the position is left at 0)."""
    f.seek(0)
    crc = 0
    while True:
        block = f.read(_BLOCK)
        if not block:
            break
        crc = zlib.crc32(block, crc)
    f.seek(0)
    return format_checksum(crc)


class HashingFile:
    """A write-only file wrapper that checksums and counts the bytes written through it (Parquet writers
    accept any object with ``write``)."""

    def __init__(self, f):
        self._f, self._crc, self.nbytes = f, 0, 0
        self.closed = False

    def write(self, data) -> int:
        mv = memoryview(data)
        self._crc = zlib.crc32(mv, self._crc)
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
        return format_checksum(self._crc)


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
    if expected != actual:
        raise SchemaError(f"{where}: checksum mismatch ({actual}, the manifest recorded {expected}): the file is "
                          f"corrupt; fix: {refetch_fix(rel)}")


def _canonical(obj: dict[str, Any]) -> bytes:
    body = {k: v for k, v in obj.items() if k != MANIFEST_DIGEST_KEY}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


def manifest_digest(obj: dict[str, Any]) -> str:
    """The checksum of a manifest's JSON object (every key but :data:`MANIFEST_DIGEST_KEY`)."""
    return checksum_bytes(_canonical(obj))


def check_manifest(obj: dict[str, Any], where: str) -> bool:
    """Check a manifest's own checksum; False when it has none (written before checksums existed)."""
    expected = obj.get(MANIFEST_DIGEST_KEY)
    if expected is None:
        return False
    actual = manifest_digest(obj)
    if actual != expected:
        raise SchemaError(f"{where}: manifest checksum mismatch ({actual}, recorded {expected}): the manifest is "
                          "corrupt; fix: restore it from a copy, or re-write the dataset (prepare.py ... --overwrite)")
    return True
