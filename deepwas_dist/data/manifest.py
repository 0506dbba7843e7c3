"""The dataset manifest (``manifest.json``) as typed records: :class:`Manifest` with its SNP, feature,
track, trait and LD parts, read from and written to the same JSON as before (``from_json`` /
``to_json``), checked by ``validate``; and its assembly at the end of a write.

The manifest is written last by :class:`~deepwas_dist.data.writer.DatasetWriter` and lists every file
of the dataset; its required keys are :data:`schema.MANIFEST_KEYS`. Keys that datasets written by
earlier versions may lack (``simulation``, ``created``, ``writer``, ``updated``; in the sections e.g.
``features.constant``, ``traits.*.median_N``) take defaults, so those datasets still open. Chromosome
keys are ints here and strings in the JSON. Part-file entries stay plain dicts: ``{"path", "row_lo",
"row_hi", "bytes"}`` for SNP and sumstats tables, ``{"path", "n_slices", "bytes"}`` for LD shards.

``checksums`` (path -> ``"crc32:..."``, :mod:`.checksum`) holds a content hash of every listed file;
``version`` is the manifest's place in the dataset's version log (:mod:`.commit`; 0: a dataset written
before the log existed). Both are absent from older manifests, which read with ``{}`` and 0.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import __version__
from ..errors import InputError, SchemaError
from . import schema as S

#: LD settings recorded in the manifest's "ld" section by add_ld_slices (the same on every chromosome).
LD_GEOMETRY_KEYS = ("core_kb", "bandwidth_kb", "bandwidth_cm", "n_ref", "shrinkage", "eig_threshold", "dtype",
                    "source")


def _where(url: str) -> str:
    return f"{url.rstrip('/')}/{S.MANIFEST_FILE}"


def _need(d: dict, key: str, section: str, url: str):
    try:
        return d[key]
    except (KeyError, TypeError):
        raise SchemaError(f"{_where(url)}: manifest section {section!r} lacks {key!r}; it is corrupt; fix: re-write "
                          "the dataset") from None


def _by_chrom(d: dict) -> dict[int, object]:
    return {int(c): v for c, v in d.items()}


def _str_keys(d: dict) -> dict[str, object]:
    return {str(c): v for c, v in d.items()}


@dataclass(frozen=True)
class SnpInfo:
    """The "snps" section: SNP counts, whether each chromosome has a genetic map, its part files."""

    n_total: int
    per_chrom: dict[int, int]
    has_cm: dict[int, bool] = field(default_factory=dict)
    files: dict[int, list[dict]] = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: dict, url: str) -> SnpInfo:
        return cls(n_total=int(_need(d, "n_total", "snps", url)),
                   per_chrom=_by_chrom(_need(d, "per_chrom", "snps", url)),
                   has_cm=_by_chrom(d.get("has_cm", {})), files=_by_chrom(d.get("files", {})))

    def to_json(self) -> dict:
        return {"n_total": self.n_total, "per_chrom": _str_keys(self.per_chrom), "has_cm": _str_keys(self.has_cm),
                "files": _str_keys(self.files)}


@dataclass(frozen=True)
class FeatureInfo:
    """The "features" section: annotation names, the binary ones, standardisation statistics (constant
    columns have std 1, so that they are not scaled)."""

    names: list[str]
    binary: list[str]
    mean: list[float]
    std: list[float]
    constant: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, d: dict, url: str) -> FeatureInfo:
        return cls(**{k: list(_need(d, k, "features", url)) for k in ("names", "binary", "mean", "std")},
                   constant=list(d.get("constant", [])))

    def to_json(self) -> dict:
        return {"names": self.names, "binary": self.binary, "mean": self.mean, "std": self.std,
                "constant": self.constant}


@dataclass(frozen=True)
class TracksInfo:
    """The "tracks" section: K functional tracks, windows of w positions per SNP (names optional).

    ``ingest`` (optional; absent in simulated datasets and ones written before it existed): how ingested
    tracks were made (``prepare tracks``: source files, window_bp, bins, fill) and the per-track
    normalisation, stored = (window value - mean[k]) / std[k]. ``dtype``: how the windows are stored
    (schema.TRACK_DTYPES; read back as float32 either way); written only when not float32, so datasets
    from before float16 storage read as float32 and float32 manifests are unchanged."""

    K: int
    w: int
    names: list[str] | None = None
    ingest: dict | None = None
    dtype: str = "float32"

    @classmethod
    def from_json(cls, d: dict | None, url: str) -> TracksInfo | None:
        if d is None:
            return None
        dtype = str(d.get("dtype", "float32"))
        if dtype not in S.TRACK_DTYPES:
            raise SchemaError(f"{_where(url)}: manifest tracks dtype {dtype!r} is not one of {list(S.TRACK_DTYPES)}; "
                              "it is corrupt or from a newer version; fix: re-write the dataset")
        return cls(K=int(_need(d, "K", "tracks", url)), w=int(_need(d, "w", "tracks", url)), names=d.get("names"),
                   ingest=d.get("ingest"), dtype=dtype)

    def to_json(self) -> dict:
        out = {"K": self.K, "w": self.w, "names": self.names}
        if self.dtype != "float32":
            out["dtype"] = self.dtype
        return out if self.ingest is None else {**out, "ingest": self.ingest}


@dataclass(frozen=True)
class TraitInfo:
    """One trait of the "traits" section: SNPs given / matched / not in the reference, truth, median N,
    and the dense per-chromosome sumstats part files."""

    files: dict[int, list[dict]]
    n_input: int | None = None
    n_matched: int = 0
    n_unmatched: int | None = None
    has_f_true: bool = False
    median_N: float | None = None

    @classmethod
    def from_json(cls, d: dict, url: str) -> TraitInfo:
        if not isinstance(d, dict):
            raise SchemaError(f"{_where(url)}: a trait entry is {d!r}, not an object; fix: re-write the dataset")
        return cls(files=_by_chrom(d.get("files", {})), n_input=d.get("n_input"), n_matched=int(d.get("n_matched", 0)),
                   n_unmatched=d.get("n_unmatched"), has_f_true=bool(d.get("has_f_true", False)),
                   median_N=d.get("median_N"))

    def to_json(self) -> dict:
        return {"n_input": self.n_input, "n_matched": self.n_matched, "n_unmatched": self.n_unmatched,
                "has_f_true": self.has_f_true, "median_N": self.median_N, "files": _str_keys(self.files)}

    def file_entries(self) -> list[dict]:
        return [e for entries in self.files.values() for e in entries]


@dataclass(frozen=True)
class LDInfo:
    """The "ld" section: the LD settings (:data:`LD_GEOMETRY_KEYS`; bandwidths are the stored maxima), the
    slice index and shard files, and the slices' sizes."""

    core_kb: float
    eig_threshold: float
    n_slices: int
    index: str
    files: list[dict]
    slice_bytes: int
    bytes_per_slice_mean: float
    max_m: int
    max_rank: int
    bandwidth_kb: float | None = None
    bandwidth_cm: float | None = None
    n_ref: int | None = None
    shrinkage: float | None = None
    dtype: str | None = None
    source: str | None = None

    _REQUIRED = ("core_kb", "eig_threshold", "n_slices", "index", "files", "slice_bytes", "bytes_per_slice_mean",
                 "max_m", "max_rank")
    _OPTIONAL = ("bandwidth_kb", "bandwidth_cm", "n_ref", "shrinkage", "dtype", "source")

    @classmethod
    def from_json(cls, d: dict, url: str) -> LDInfo:
        return cls(**{k: _need(d, k, "ld", url) for k in cls._REQUIRED}, **{k: d.get(k) for k in cls._OPTIONAL})

    def to_json(self) -> dict:
        out = self.settings()
        out.update({k: getattr(self, k) for k in ("n_slices", "index", "files", "slice_bytes", "bytes_per_slice_mean",
                                                  "max_m", "max_rank")})
        return out

    def settings(self) -> dict:
        """The LD settings (keys :data:`LD_GEOMETRY_KEYS`), as add_ld_slices records them."""
        return {k: getattr(self, k) for k in LD_GEOMETRY_KEYS}


@dataclass(frozen=True)
class Manifest:
    """A dataset's manifest. ``files``: every file of the dataset (path relative to the root -> bytes);
    ``checksums``: their content hashes (empty in manifests written before checksums existed)."""

    write_id: str
    chromosomes: list[int]
    snps: SnpInfo
    features: FeatureInfo
    tracks: TracksInfo | None
    traits: dict[str, TraitInfo]
    ld: LDInfo
    files: dict[str, int]
    bytes_written: int
    build: str | None = None
    created: str | None = None
    writer: str | None = None
    description: str | None = None
    simulation: dict | None = None
    updated: str | None = None
    checksums: dict[str, str] = field(default_factory=dict)
    version: int = 0
    format: str = S.DATASET_FORMAT
    schema_version: int = S.SCHEMA_VERSION

    @classmethod
    def from_json(cls, m: dict, url: str) -> Manifest:
        """Parse and :meth:`validate` a manifest read from ``url``; SchemaError with the fix otherwise."""
        where = _where(url)
        if m.get("format") != S.DATASET_FORMAT:
            raise SchemaError(f"{where}: not a deepwas_dist dataset manifest (format={m.get('format')!r}); "
                              "fix: point at a dataset written by deepwas_dist.data.DatasetWriter")
        v = m.get("schema_version")
        if not isinstance(v, int) or isinstance(v, bool):
            raise SchemaError(f"{where}: schema_version is {v!r}, expected an integer; fix: re-write the dataset")
        if v > S.SCHEMA_VERSION:
            raise SchemaError(f"{where}: dataset has schema version {v}, newer than this deepwas_dist reads "
                              f"({S.SCHEMA_VERSION}); fix: upgrade deepwas_dist (pip install -U deepwas_dist)")
        if v < 1:
            raise SchemaError(f"{where}: unsupported schema version {v}; fix: re-write the dataset")
        missing = [k for k in S.MANIFEST_KEYS if k not in m]
        if missing:
            raise SchemaError(f"{where}: manifest lacks {missing}; it is corrupt; fix: re-write the dataset")
        out = cls(format=m["format"], schema_version=v, write_id=m["write_id"],
                  chromosomes=[int(c) for c in m["chromosomes"]], snps=SnpInfo.from_json(m["snps"], url),
                  features=FeatureInfo.from_json(m["features"], url), tracks=TracksInfo.from_json(m["tracks"], url),
                  traits={str(t): TraitInfo.from_json(i, url) for t, i in m["traits"].items()},
                  ld=LDInfo.from_json(m["ld"], url), files={str(k): int(b) for k, b in m["files"].items()},
                  bytes_written=int(m["bytes_written"]), build=m.get("build"), created=m.get("created"),
                  writer=m.get("writer"), description=m.get("description"),
                  simulation=m.get(S.MANIFEST_SIMULATION), updated=m.get("updated"),
                  checksums={str(k): str(v) for k, v in (m.get("checksums") or {}).items()},
                  version=int(m.get("version", 0)))
        return out.validate(url)

    def validate(self, url: str) -> Manifest:
        """Check that every chromosome has a SNP table and every trait sumstats for it; returns self."""
        where = _where(url)
        for c in self.chromosomes:
            if c not in self.snps.files:
                raise SchemaError(f"{where}: no SNP table listed for chr{c}; fix: re-write the dataset")
            for t, info in self.traits.items():
                if c not in info.files:
                    raise SchemaError(f"{where}: trait {t!r} lists no sumstats for chr{c}; fix: re-write the dataset")
        return self

    def to_json(self) -> dict:
        """The JSON object written to ``manifest.json`` (key order as always written)."""
        out = {"format": self.format, "schema_version": self.schema_version, "write_id": self.write_id,
               "created": self.created, "writer": self.writer, "description": self.description,
               S.MANIFEST_SIMULATION: self.simulation, "build": self.build, "chromosomes": list(self.chromosomes),
               "snps": self.snps.to_json(), "features": self.features.to_json(),
               "tracks": None if self.tracks is None else self.tracks.to_json(),
               "traits": {t: i.to_json() for t, i in self.traits.items()}, "ld": self.ld.to_json(),
               "files": dict(self.files), "bytes_written": self.bytes_written}
        if self.updated is not None:
            out["updated"] = self.updated
        if self.checksums:
            out["checksums"] = dict(sorted(self.checksums.items()))
        if self.version:
            out["version"] = self.version
        return out


def validate_manifest(m: dict, url: str) -> Manifest:
    """A manifest read from ``url`` as a checked :class:`Manifest`; SchemaError with the fix otherwise."""
    return Manifest.from_json(m, url)


def writer_version() -> str:
    return f"deepwas_dist {__version__}"


def simulation_section(sim: dict | None) -> dict | None:
    """The manifest's "simulation" section (schema.SIMULATION_KEYS), checked; None for real data."""
    if sim is None:
        return None
    if set(sim) != set(S.SIMULATION_KEYS):
        raise InputError(f"simulation must have exactly the keys {list(S.SIMULATION_KEYS)}, got {sorted(sim)}")
    return {k: sim[k] for k in S.SIMULATION_KEYS}


def ld_section(settings: dict, rows: list[dict], index_rel: str, files: list[dict]) -> LDInfo:
    """The manifest's "ld" section of a new dataset: its LD settings, the slice index and shard files, and
    the slices' sizes (``rows``: one record per slice, as in the slice index)."""
    slice_bytes = int(sum(r["bytes"] for r in rows))
    return LDInfo(**settings, n_slices=len(rows), index=index_rel, files=files, slice_bytes=slice_bytes,
                  bytes_per_slice_mean=slice_bytes / len(rows), max_m=max(r["m"] for r in rows),
                  max_rank=max(r["rank"] for r in rows))


def snps_section(chroms: dict) -> SnpInfo:
    """The manifest's "snps" section from the writer's chromosome records (chrom -> ChromRecord)."""
    cs = sorted(chroms)
    return SnpInfo(n_total=int(sum(chroms[c].n for c in cs)), per_chrom={c: chroms[c].n for c in cs},
                   has_cm={c: chroms[c].cm is not None for c in cs}, files={c: chroms[c].files for c in cs})


def build_manifest(*, write_id: str, created: str, description: str | None, simulation: dict | None,
                   build: str | None, chroms: dict, features: FeatureInfo, tracks: TracksInfo | None,
                   traits: dict[str, TraitInfo], ld: LDInfo, files: dict[str, int], checksums: dict[str, str],
                   updated: str | None = None) -> Manifest:
    """The manifest of a finished write (``updated``: the time of an update; None for a new dataset)."""
    return Manifest(write_id=write_id, created=created, writer=writer_version(), description=description,
                    simulation=simulation, build=build, chromosomes=sorted(chroms), snps=snps_section(chroms),
                    features=features, tracks=tracks, traits=dict(traits), ld=ld, files=dict(sorted(files.items())),
                    bytes_written=int(sum(files.values())), updated=updated,
                    checksums={k: checksums[k] for k in sorted(files) if k in checksums})
