"""A writer's ledger of its files: what the manifest it is building will list, and what it must delete
when it fails.

Every file is recorded (:meth:`FileLedger.record`) once it is complete, with its stored size and the
checksum of the bytes written (:class:`~.checksum.HashingFile`, so nothing is re-read); the manifest's
``files`` and ``checksums`` sections are these two maps. An update starts from the files of the
dataset it updates (:meth:`FileLedger.inherit`): those are never deleted by this writer, only unlisted
(the writer deletes them after the new manifest is published, when no later version can list them).
Temporary files still being written (a local LD shard's ``.tmp``) are ``pending`` until renamed.
:meth:`FileLedger.delete_own` (the writer's ``abort``) deletes every file this writer wrote and every
pending temporary, and nothing it inherited.
"""
from __future__ import annotations

import contextlib

from .storage import join


class FileLedger:
    """Listed files (relative path -> bytes), their checksums, the inherited subset, and pending temporaries
    (full paths) of one writer on filesystem ``fs`` under ``root``."""

    def __init__(self, fs, root: str):
        self.fs, self.root = fs, root
        self.files: dict[str, int] = {}
        self.checksums: dict[str, str] = {}
        self.inherited: set[str] = set()
        self.pending: set[str] = set()

    def record(self, rel: str, checksum: str) -> int:
        """List the complete file ``rel`` with its stored size and ``checksum``; returns the size."""
        n = self.files[rel] = int(self.fs.size(join(self.root, rel)))
        self.checksums[rel] = checksum
        return n

    def inherit(self, files: dict[str, int], checksums: dict[str, str]) -> None:
        """Start from an existing dataset's files (an update): listed, never deleted by this writer."""
        self.files, self.checksums = dict(files), dict(checksums)
        self.inherited = set(self.files)

    def unlist(self, rel: str) -> None:
        """Drop ``rel`` from the manifest being built: an inherited file stays (deleted after the swap), a file
        this writer wrote is deleted now."""
        self.files.pop(rel, None)
        self.checksums.pop(rel, None)
        if rel in self.inherited:
            self.inherited.discard(rel)
        else:
            with contextlib.suppress(Exception):
                self.fs.rm(join(self.root, rel))

    def delete_own(self) -> None:
        """Delete every file this writer wrote and every pending temporary (best effort); idempotent."""
        for rel in [r for r in self.files if r not in self.inherited] + list(self.pending):
            path = rel if rel in self.pending else join(self.root, rel)
            with contextlib.suppress(Exception):
                self.fs.rm(path)
        self.files.clear()
        self.pending.clear()
