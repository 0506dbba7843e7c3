"""The dataset manifest (``manifest.json``): assembling it at the end of a write, checking one read back.

The manifest is written last by :class:`~deepwas_dist.data.writer.DatasetWriter` and lists every file
of the dataset; its keys are :data:`schema.MANIFEST_KEYS`.
"""
from __future__ import annotations

from .. import __version__
from ..errors import InputError, SchemaError
from . import schema as S


def validate_manifest(m: dict, url: str) -> dict:
    """Check a manifest's format and version; SchemaError with the fix otherwise."""
    where = f"{url.rstrip('/')}/{S.MANIFEST_FILE}"
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
    for c in m["chromosomes"]:
        if str(c) not in m["snps"].get("files", {}):
            raise SchemaError(f"{where}: no SNP table listed for chr{c}; fix: re-write the dataset")
        for t, info in m["traits"].items():
            if str(c) not in info.get("files", {}):
                raise SchemaError(f"{where}: trait {t!r} lists no sumstats for chr{c}; fix: re-write the dataset")
    return m


def writer_version() -> str:
    return f"deepwas_dist {__version__}"


def simulation_section(sim: dict | None) -> dict | None:
    """The manifest's "simulation" section (schema.SIMULATION_KEYS), checked; None for real data."""
    if sim is None:
        return None
    if set(sim) != set(S.SIMULATION_KEYS):
        raise InputError(f"simulation must have exactly the keys {list(S.SIMULATION_KEYS)}, got {sorted(sim)}")
    return {k: sim[k] for k in S.SIMULATION_KEYS}


def ld_section(settings: dict, rows: list[dict], index_rel: str, files: list[dict]) -> dict:
    """The manifest's "ld" section of a new dataset: its LD settings, the slice index and shard files, and
    the slices' sizes (``rows``: one record per slice, as in the slice index)."""
    slice_bytes = int(sum(r["bytes"] for r in rows))
    return {**settings, "n_slices": len(rows), "index": index_rel, "files": files,
            "slice_bytes": slice_bytes, "bytes_per_slice_mean": slice_bytes / len(rows),
            "max_m": max(r["m"] for r in rows), "max_rank": max(r["rank"] for r in rows)}


def snps_section(chroms: dict) -> dict:
    """The manifest's "snps" section from the writer's chromosome records (chrom -> ChromRecord)."""
    cs = sorted(chroms)
    return {"n_total": int(sum(chroms[c].n for c in cs)),
            "per_chrom": {str(c): chroms[c].n for c in cs},
            "has_cm": {str(c): chroms[c].cm is not None for c in cs},
            "files": {str(c): chroms[c].files for c in cs}}


def build_manifest(*, write_id: str, created: str, description: str | None, simulation: dict | None,
                   build: str | None, chroms: dict, features: dict, tracks: dict | None, traits: dict, ld: dict,
                   files: dict[str, int], updated: str | None = None) -> dict:
    """The manifest of a finished write (``updated``: the time of an update; None for a new dataset)."""
    manifest = {
        "format": S.DATASET_FORMAT,
        "schema_version": S.SCHEMA_VERSION,
        "write_id": write_id,
        "created": created,
        "writer": writer_version(),
        "description": description,
        S.MANIFEST_SIMULATION: simulation,
        "build": build,
        "chromosomes": sorted(chroms),
        "snps": snps_section(chroms),
        "features": features,
        "tracks": tracks,
        "traits": traits,
        "ld": ld,
        "files": dict(sorted(files.items())),
        "bytes_written": int(sum(files.values())),
    }
    if updated is not None:
        manifest["updated"] = updated
    return manifest
