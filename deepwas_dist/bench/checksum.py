"""What checksum verification costs a dataset's first read (issue #13): the first pass over every slice
with the checksums checked against the same pass with none.

    python -m deepwas_dist.bench checksum [--data URL] [--repeats 5] [--json FILE]

A pass is what a training epoch's data loading does: a fresh :class:`~deepwas_dist.data.reader.Dataset`
(so every file is opened for the first time) streams every slice with every trait
(``Dataset.slices``). "on" is the dataset as written (each file read once, checksummed, decoded from
memory: :class:`~deepwas_dist.data.storage.ParquetHandle`); "off" is the same dataset with its manifest's
checksums removed, which is how a manifest written before checksums existed reads. One untimed pass
first puts the files in the OS page cache, so both modes read from memory and the difference is the
CPU cost of the check, not of the disk; the modes alternate per repeat, and the median is reported.
Throughput is the bytes of the dataset's listed files per second of the pass. The raw hash rate
(CRC-32C and zlib's CRC-32 of 64 MiB in memory) is reported alongside.
"""
from __future__ import annotations

import os
import statistics
import time
import zlib
from dataclasses import replace

import google_crc32c

from ..data.checksum import checksum_bytes
from ..data.reader import Dataset
from ..demo import demo_dataset_url

MiB = 1 << 20


def _pass(ds: Dataset) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = sum(1 for _ in ds.slices(traits=ds.traits))
    return time.perf_counter() - t0, n


def _hash_rate(fn, data: bytes, repeats: int = 3) -> float:
    """Best-of-``repeats`` throughput of ``fn(data)`` in MiB/s."""
    best = min(_timed(fn, data) for _ in range(repeats))
    return len(data) / MiB / best


def _timed(fn, data: bytes) -> float:
    t0 = time.perf_counter()
    fn(data)
    return time.perf_counter() - t0


def run(data: str | None = None, repeats: int = 5, log=print) -> list[dict]:
    """One row per mode ("off", "on"): median pass time, MiB/s, slices, and "on"'s ratio to "off"."""
    url = data or demo_dataset_url(log=log)
    base = Dataset.open(url)
    m = base.manifest
    if not m.checksums:
        log(f"note: {url} has no checksums (written before they existed); both modes read unchecked")
    nbytes = int(sum(m.files.values()))
    unchecked = replace(m, checksums={})
    opener = {"on": lambda: Dataset.open(url, base.storage_options),
              "off": lambda: Dataset(url, base.storage_options, unchecked)}
    _pass(opener["off"]())                                      # warm the page cache
    times: dict[str, list[float]] = {"off": [], "on": []}
    n_slices = 0
    for r in range(repeats):
        for mode in (("off", "on") if r % 2 == 0 else ("on", "off")):
            t, n_slices = _pass(opener[mode]())
            times[mode].append(t)
    blob = os.urandom(64 * MiB)
    rates = {"crc32c_MiB_per_s": _hash_rate(lambda b: checksum_bytes(b), blob),
             "zlib_crc32_MiB_per_s": _hash_rate(zlib.crc32, blob)}
    rows = []
    for mode in ("off", "on"):
        sec = statistics.median(times[mode])
        rows.append({"mode": mode, "seconds": sec, "MiB_per_s": nbytes / MiB / sec, "slices": n_slices,
                     "bytes": nbytes, "files": len(m.files), "repeats": repeats, "times": times[mode],
                     "crc32c_implementation": google_crc32c.implementation, **rates})
    for r in rows:
        r["ratio_vs_off"] = r["MiB_per_s"] / rows[0]["MiB_per_s"]
    return rows


def format_table(rows: list[dict]) -> str:
    head = f"{'checksums':>10}{'pass s':>9}{'MiB/s':>9}{'vs off':>8}{'slices':>8}{'MiB':>8}"
    lines = [head] + [f"{r['mode']:>10}{r['seconds']:>9.3f}{r['MiB_per_s']:>9.1f}{r['ratio_vs_off']:>8.3f}"
                      f"{r['slices']:>8}{r['bytes'] / MiB:>8.1f}" for r in rows]
    r = rows[0]
    lines.append(f"hash rate on 64 MiB in memory: crc32c {r['crc32c_MiB_per_s']:,.0f} MiB/s "
                 f"({r['crc32c_implementation']}), zlib crc32 {r['zlib_crc32_MiB_per_s']:,.0f} MiB/s")
    return "\n".join(lines)
