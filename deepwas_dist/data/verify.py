"""Checking a stored dataset's files against its manifest: every listed file exists with its recorded size
(:func:`verify_dataset`), and with ``full=True`` its bytes match its recorded checksum (:mod:`.checksum`).

``prepare.py info`` runs the cheap check (one metadata request per file); ``prepare.py info --verify``
the full one, which reads every byte once. Files of manifests written before checksums existed are
only size-checked; the report says how many.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InputError
from .checksum import algorithm_of, check_file, file_checksum, refetch_fix
from .reader import Dataset
from .storage import join, storage_errors


@dataclass(frozen=True)
class VerifyReport:
    """Outcome of :func:`verify_dataset`: files checked, bytes hashed, files without a recorded checksum,
    and the problems found (one line each: the file, what is wrong, the fix)."""

    url: str
    version: int
    files: int
    full: bool
    bytes_hashed: int = 0
    unchecked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        what = "exist with their recorded sizes" + (" and checksums" if self.full else "")
        out = [f"  integrity     {self.files} listed files {'checked' if self.full else 'present'}: "
               + ("all " + what if self.ok else f"{len(self.problems)} problem(s)")
               + f" (manifest version {self.version})"]
        if self.full and self.unchecked:
            out.append(f"                {len(self.unchecked)} file(s) have no recorded checksum (written before "
                       "checksums existed): size-checked only")
        out += [f"    {p}" for p in self.problems]
        return out


def verify_dataset(ds: Dataset, full: bool = False) -> VerifyReport:
    """Check every file ``ds``'s manifest lists (module docstring); problems are collected, not raised."""
    m, fs, root = ds.manifest, ds.fs, ds.root
    problems, unchecked, hashed = [], [], 0
    for rel, nbytes in sorted(m.files.items()):
        where = f"{ds.url.rstrip('/')}/{rel}"
        try:
            with storage_errors(where, "read"):
                try:
                    size = int(fs.size(join(root, rel)))
                except FileNotFoundError:
                    problems.append(f"{where}: missing; fix: {refetch_fix(rel)}")
                    continue
                if size != int(nbytes):
                    problems.append(f"{where}: {size} bytes, the manifest recorded {nbytes}; fix: {refetch_fix(rel)}")
                    continue
                expected = m.checksums.get(rel)
                if not full:
                    continue
                if expected is None:
                    unchecked.append(rel)
                    continue
                with fs.open(join(root, rel), "rb") as f:
                    actual = file_checksum(f, algorithm_of(expected, where))
                hashed += size
            check_file(where, rel, expected, actual)
        except InputError as e:           # SchemaError included
            problems.append(str(e))
    return VerifyReport(url=ds.url, version=m.version, files=len(m.files), full=full, bytes_hashed=hashed,
                        unchecked=unchecked, problems=problems)
