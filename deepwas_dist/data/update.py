"""Update transactions of an existing dataset: the part of :class:`~deepwas_dist.data.writer.DatasetWriter`
that opens a dataset, keeps its files, unlists replaced ones and, when another writer published a newer
version first, re-applies the update to it (:meth:`UpdateMixin._rebase`) or refuses.

An update writes only new files (under its own writer id), then publishes the next manifest version
(:mod:`.commit`); until then the old manifest and every file it lists stay untouched. Files the new
manifest no longer lists are deleted after the swap (``DatasetWriter.close``). :class:`UpdateMixin` holds
these steps; it relies on the writer's state (``_chroms``, ``_ledger``, ``_traits``, ...), set up by
``DatasetWriter.__init__``.

Rebasing: an update that only added and/or removed traits commutes with another writer's update of
*other* traits on the same SNP tables and LD. Its change is then re-applied to the newer manifest ``h``:
the traits of ``h``, minus the ones this update removed, plus the ones it added; the files of ``h``
minus the removed traits' files, plus this writer's own new files. Anything else (the other writer
touched one of the same traits, or the SNP tables, annotations or LD changed; or this update replaced
the annotations) is a conflict: the update fails and publishes nothing.
"""
from __future__ import annotations

import copy
import datetime as _dt
from dataclasses import replace

import numpy as np
import pandas as pd
import pyarrow as pa

from ..errors import InputError
from . import schema as S
from .checksum import check_manifest
from .commit import CommitConflict, Head
from .feature_stats import FeatureStats
from .manifest import Manifest, TraitInfo, writer_version
from .reader import Dataset
from .records import ChromRecord
from .track_layout import TrackLayout


class UpdateMixin:
    """Opening a dataset for an update, and the bookkeeping of what it keeps, replaces and drops."""

    @classmethod
    def update(cls, url: str, storage_options: dict | None = None, **kw):
        """Open the existing dataset at ``url`` for an atomic update.

        Allowed on the returned writer: :meth:`add_sumstats` (a new trait), :meth:`remove_trait`,
        :meth:`set_annotations` (every chromosome's annotation columns, replaced as a whole). SNPs and LD
        slices cannot change (re-write the dataset for that). :meth:`close` writes the new manifest; an
        exception inside ``with`` (or :meth:`abort`) deletes the new files and leaves the dataset as it was.
        ``kw``: the constructor's file-size / compression options.
        """
        ds = Dataset.open(url, storage_options)
        for k in ("overwrite", "build", "description", "simulation"):
            if k in kw:
                raise InputError(f"DatasetWriter.update does not take {k!r} (it keeps the dataset's own)")
        w = cls(url, storage_options, overwrite=True, **kw)
        try:
            w._load_base(ds)
        except BaseException:
            w.abort()
            raise
        return w

    def _load_base(self, ds: Dataset) -> None:
        m = ds.manifest
        self._base, self._base_ds = m, ds
        self._head = Head(m.version, m.to_json())      # the version this update follows
        self.build, self.description, self.simulation = m.build, m.description, m.simulation
        self._ld = m.ld.settings()
        self._stats = FeatureStats(list(m.features.names))
        self._trk = TrackLayout.of(m.tracks)
        self._traits: dict[str, TraitInfo] = copy.deepcopy(m.traits)
        self._ledger.inherit(m.files, m.checksums)
        for c in ds.chromosomes:
            df = ds.snps(c, columns=[S.SNP, S.BP, S.CM, S.A1, S.A2])
            ids = pa.array(df[S.SNP].to_numpy(dtype=object), type=pa.string())
            cm = df[S.CM].to_numpy(dtype=np.float64, na_value=np.nan)
            self._chroms[c] = ChromRecord(n=len(df), bp=df[S.BP].to_numpy(dtype=np.int64),
                                          cm=None if np.isnan(cm).all() else cm, ids=ids,
                                          a1=pa.array(df[S.A1].to_numpy(dtype=object), type=pa.string()),
                                          a2=pa.array(df[S.A2].to_numpy(dtype=object), type=pa.string()),
                                          hashes=pd.util.hash_array(df[S.SNP].to_numpy(dtype=object)),
                                          files=list(m.snps.files[c]))

    def _check_new(self, what: str, fix: str) -> None:
        if self._base is not None:
            raise InputError(f"{self.url}: {what} cannot change in an update (DatasetWriter.update); fix: {fix}")

    def _drop_files(self, entries: list[dict]) -> None:
        """Unlist files from the manifest being built: kept files are deleted after the swap (close),
        files this writer wrote are deleted now."""
        for e in entries:
            self._ledger.unlist(e["path"])

    @property
    def base_manifest(self) -> Manifest | None:
        """The manifest of the dataset being updated (None when writing a new dataset)."""
        return self._base

    @property
    def base_dataset(self) -> Dataset | None:
        """The dataset being updated, open for reading (None when writing a new dataset)."""
        return self._base_ds

    def remove_trait(self, trait: str) -> None:
        """Drop ``trait`` (e.g. to replace it by add_sumstats): its files leave the new manifest and are
        deleted once the new manifest is published."""
        self._check_open()
        if trait not in self._traits:
            raise InputError(f"{self.url}: no trait {trait!r} to remove (has {sorted(self._traits)})")
        self._drop_files(self._traits.pop(trait).file_entries())

    def set_tracks_ingest(self, ingest: dict | None) -> None:
        """The manifest's tracks "ingest" entry (sources, normalisation; :class:`TracksInfo`) to publish."""
        self._trk.ingest = None if ingest is None else dict(ingest)

    def _replace_annotations(self, c: int, annotations: pd.DataFrame, new_tracks=None, track_names=None) -> int:
        """set_annotations of chromosome ``c`` (checked to be in the dataset): the first call drops the old
        annotation set and its statistics (and, with ``new_tracks``, the old track shape and names); the SNP
        table is re-written with the new columns."""
        if self._annot_pending is None:           # first call: the old annotation set goes entirely
            self._annot_pending = set(self._chroms)
            self._stats = FeatureStats()
            self._tracks_replaced = new_tracks is not None
            if new_tracks is not None:
                self._trk.forget_shape()
        elif c not in self._annot_pending:
            raise InputError(f"{self.url}: annotations of chr{c} set twice; fix: call set_annotations once per "
                             "chromosome")
        if (new_tracks is not None) != self._tracks_replaced:
            raise InputError(f"{self.url}: chr{c}: tracks replaced on some chromosomes but not others; fix: pass "
                             "tracks to set_annotations for every chromosome or for none")
        snps, _, tracks = self._base_ds.features(c, tracks=new_tracks is None)
        tracks = tracks if new_tracks is None else new_tracks
        names = self._trk.names if new_tracks is None else track_names
        old = self._chroms.pop(c)
        try:
            n = self._put_snps(c, snps, annotations, tracks, names)
        except BaseException:
            self._chroms[c] = old
            raise
        self._drop_files(old.files)
        self._annot_pending.discard(c)
        return n

    def _rebase(self, head: Head) -> dict:
        """This write's manifest re-applied to ``head``, the newer version another writer published first;
        CommitConflict when the two changes touch the same part of the dataset (module docstring)."""
        b = self._base
        if b is None:
            raise CommitConflict("it created or replaced the dataset at this URL")
        if head.obj is None:
            raise CommitConflict("the dataset was removed")
        if self._annot_pending is not None:
            raise CommitConflict("this write replaced the annotations")
        check_manifest(head.obj, self.url)
        new = Manifest.from_json(head.obj, self.url)
        if new.snps.files != b.snps.files or new.features != b.features or new.ld.index != b.ld.index:
            raise CommitConflict("it changed the SNP tables, annotations or LD")
        removed = set(b.traits) - set(self._traits)
        added = {t for t, i in self._traits.items() if t not in b.traits or i.files != b.traits[t].files}
        both = sorted(t for t in removed | added if new.traits.get(t) != b.traits.get(t))
        if both:
            raise CommitConflict(f"both writers changed trait(s) {both}")
        drop = {e["path"] for t in removed for e in b.traits[t].file_entries()}
        own = self._ledger
        mine = set(own.files) - set(b.files)
        files = {k: v for k, v in new.files.items() if k not in drop} | {k: own.files[k] for k in mine}
        sums = {k: v for k, v in new.checksums.items() if k not in drop} | {k: own.checksums[k] for k in mine
                                                                             if k in own.checksums}
        traits = {t: i for t, i in new.traits.items() if t not in removed} | {t: self._traits[t] for t in added}
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self._rebased = replace(new, write_id=self.write_id, writer=writer_version(), traits=traits,
                                files=dict(sorted(files.items())), checksums=dict(sorted(sums.items())),
                                bytes_written=int(sum(files.values())), updated=now)
        return self._rebased.to_json()
