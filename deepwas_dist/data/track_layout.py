"""The layout of the track windows a writer is building, checked chromosome by chromosome.

Every chromosome has tracks or none does; all have the first one's (K tracks, w positions) shape and its
names; the windows are stored as one dtype (schema.TRACK_DTYPES); ``ingest`` records how ingested tracks
were made. At close it becomes the manifest's :class:`~.manifest.TracksInfo` (None without tracks); an
update starts from the dataset's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from . import validate as V
from .manifest import TracksInfo


@dataclass
class TrackLayout:
    """What :class:`~.writer.DatasetWriter` knows of the tracks so far (``has`` None: no chromosome yet)."""

    has: bool | None = None
    shape: tuple[int, int] | None = None
    names: list[str] | None = None
    ingest: dict | None = None
    dtype: str = "float32"

    @classmethod
    def of(cls, t: TracksInfo | None) -> TrackLayout:
        """The layout of a dataset's tracks section (an update's starting point)."""
        if t is None:
            return cls(has=False)
        return cls(has=True, shape=(t.K, t.w), names=t.names, ingest=t.ingest, dtype=t.dtype)

    def forget_shape(self) -> None:
        """The tracks are being replaced (set_annotations with tracks): the next chromosome sets them anew."""
        self.has, self.shape, self.names = None, None, None

    def check(self, tracks, track_names, ids, n: int, where: str) -> np.ndarray | None:
        """One chromosome's checked track windows (None: no tracks), the same shape on every chromosome."""
        has = tracks is not None
        if self.has is not None and has != self.has:
            raise InputError(f"{where}: tracks given for some chromosomes but not others; fix: all or none")
        self.has = has
        if not has:
            return None
        trk = V.check_tracks(tracks, ids, n, where, self.dtype)
        shape = (int(trk.shape[1]), int(trk.shape[2]))
        if self.shape is None:
            self.shape = shape
            self.names = list(track_names) if track_names is not None else None
            if self.names is not None and len(self.names) != shape[0]:
                raise InputError(f"{where}: {len(self.names)} track names for K={shape[0]} tracks")
        elif shape != self.shape:
            raise InputError(f"{where}: track windows {shape} differ from the first chromosome's {self.shape}")
        return trk

    def info(self) -> TracksInfo | None:
        """The manifest's tracks section."""
        return None if self.shape is None else TracksInfo(*self.shape, names=self.names, ingest=self.ingest,
                                                          dtype=self.dtype)
