"""``prepare info``: the manifest summary of a dataset (:func:`dataset_info`) and its text rendering, with
the integrity check of its files (:mod:`deepwas_dist.data.verify`: present, or with ``verify`` checksummed)."""
from __future__ import annotations

import dataclasses

from ..data.reader import Dataset
from ..data.verify import VerifyReport, verify_dataset
from ._common import examples


def dataset_info(url: str, storage_options: dict | None = None, verify: bool = False) -> dict:
    """The manifest summary of the dataset at ``url``: chromosomes, SNPs, traits, features, slices, bytes;
    "integrity": the :class:`VerifyReport` (as a dict) of its files (checksums too with ``verify``)."""
    ds = Dataset.open(url, storage_options)
    m = ds.manifest
    ld = m.ld
    return {
        "url": url, "build": m.build, "created": m.created, "updated": m.updated,
        "chromosomes": list(m.chromosomes), "snps": m.snps.n_total,
        "snps_per_chrom": {int(c): int(v) for c, v in m.snps.per_chrom.items()},
        "traits": {t: {"snps_with_z": i.n_matched, "median_N": i.median_N, "has_truth": i.has_f_true}
                   for t, i in m.traits.items()},
        "features": list(m.features.names), "binary_features": list(m.features.binary),
        "tracks": None if m.tracks is None else m.tracks.to_json(),
        "slices": int(ld.n_slices), "core_kb": ld.core_kb, "bandwidth_kb": ld.bandwidth_kb,
        "bandwidth_cm": ld.bandwidth_cm, "ld_source": ld.source, "n_ref": ld.n_ref,
        "shrinkage": ld.shrinkage, "ld_dtype": ld.dtype, "slice_bytes": int(ld.slice_bytes),
        "bytes_per_slice": float(ld.bytes_per_slice_mean), "max_slice_snps": int(ld.max_m),
        "max_rank": int(ld.max_rank), "files": len(m.files), "bytes": int(m.bytes_written),
        "simulation": m.simulation,
        "integrity": dataclasses.asdict(verify_dataset(ds, full=verify)),
    }


def format_info(info: dict) -> str:
    """Text rendering of :func:`dataset_info`."""
    mib = 2 ** 20
    chroms = info["chromosomes"]
    lines = [f"dataset {info['url']}  (build {info['build']}, created {info['created']}"
             + (f", updated {info['updated']})" if info.get("updated") else ")"),
             f"  chromosomes   {_ranges(chroms)}  ({len(chroms)})",
             f"  SNPs          {info['snps']:,}",
             f"  traits        {len(info['traits'])}"]
    for t, v in info["traits"].items():
        med = "" if v["median_N"] is None else f", median N {v['median_N']:,.0f}"
        lines.append(f"    {t}: {v['snps_with_z']:,} SNPs with z{med}" + (", with truth" if v["has_truth"] else ""))
    feats = info["features"]
    lines.append(f"  features      {len(feats)} annotations" + (f": {examples(feats, 12)}" if feats else ""))
    if info["tracks"]:
        lines.append(f"  tracks        {info['tracks']['K']} x {info['tracks']['w']}")
    bw = " + ".join(f"{info[k]:g} {u}" for k, u in (("bandwidth_kb", "kb"), ("bandwidth_cm", "cM"))
                    if info.get(k) is not None)
    lines += [f"  slices        {info['slices']:,} (core {info['core_kb']:g} kb, flanks {bw}; "
              f"max {info['max_slice_snps']:,} SNPs, rank {info['max_rank']:,}; "
              f"{info['bytes_per_slice'] / 1024:,.1f} KiB/slice {info['ld_dtype']})",
              f"  LD            {info['ld_source']}; n_ref {info['n_ref']}; shrinkage {info['shrinkage']}",
              *_simulation_lines(info.get("simulation")),
              f"  bytes         {info['bytes']:,} ({info['bytes'] / mib:.1f} MiB in {info['files']} files; "
              f"LD {info['slice_bytes'] / mib:.1f} MiB)"]
    if info.get("integrity"):
        lines += VerifyReport(**info["integrity"]).lines()
    return "\n".join(lines)


def _simulation_lines(sim: dict | None) -> list[str]:
    if not sim:
        return []
    cohort = f", GWAS cohort {sim['n_gwas']:,} people (z)" if sim.get("n_gwas") else " (LD and z)"
    history = f", {sim['demography']} population history" if sim.get("demography") else ""
    return [f"  simulation    {sim['design']} design: reference panel {sim['n_panel']:,} people{cohort}{history}"]


def _ranges(xs: list[int]) -> str:
    xs = sorted(int(x) for x in xs)
    out, i = [], 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[j] + 1:
            j += 1
        out.append(str(xs[i]) if i == j else f"{xs[i]}-{xs[j]}")
        i = j + 1
    return ",".join(out)
