"""What checksum verification costs a dataset's first read (issue #13): the first pass over every slice
with the checksums checked against the same pass with none.

    python -m deepwas_dist.bench checksum [--data URL] [--repeats 5] [--json FILE]

A pass is what a training epoch's data loading does: a fresh :class:`~deepwas_dist.data.reader.Dataset`
(so every file is opened for the first time) streams every slice with every trait
(``Dataset.slices``). "crc32c" reads it with a manifest whose checksums are CRC-32C, as writers record
them (each file read once, checksummed, decoded from memory:
:class:`~deepwas_dist.data.storage.ParquetHandle`); "crc32" the same with zlib's CRC-32 (the first
checksummed manifests); "off" with the checksums removed, which is how a manifest written before
checksums existed reads. The three manifests differ only in their ``checksums``, computed here (untimed)
from the stored files, so any dataset serves, whichever algorithm it was written with. One untimed pass
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
from ..data.storage import join
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


MODES = ("off", "crc32c", "crc32")


def run(data: str | None = None, repeats: int = 5, log=print) -> list[dict]:
    """One row per mode (:data:`MODES`): median pass time, MiB/s, slices, and the ratio to "off"."""
    url = data or demo_dataset_url(log=log)
    base = Dataset.open(url)
    m = base.manifest
    nbytes = int(sum(m.files.values()))
    raw = {rel: base.fs.cat_file(join(base.root, rel)) for rel in m.files}
    manifests = {"off": replace(m, checksums={})}
    for alg in MODES[1:]:
        manifests[alg] = replace(m, checksums={rel: checksum_bytes(b, alg) for rel, b in raw.items()})
    del raw
    _pass(Dataset(url, base.storage_options, manifests["off"]))   # warm the page cache
    times: dict[str, list[float]] = {k: [] for k in MODES}
    n_slices = 0
    for r in range(repeats):
        for mode in (MODES if r % 2 == 0 else MODES[::-1]):
            t, n_slices = _pass(Dataset(url, base.storage_options, manifests[mode]))
            times[mode].append(t)
    blob = os.urandom(64 * MiB)
    rates = {"crc32c_MiB_per_s": _hash_rate(lambda b: checksum_bytes(b), blob),
             "zlib_crc32_MiB_per_s": _hash_rate(zlib.crc32, blob)}
    rows = []
    for mode in MODES:
        sec = statistics.median(times[mode])
        rows.append({"mode": mode, "seconds": sec, "MiB_per_s": nbytes / MiB / sec, "slices": n_slices,
                     "bytes": nbytes, "files": len(m.files), "repeats": repeats, "times": times[mode],
                     "crc32c_implementation": google_crc32c.implementation, **rates})
    for r in rows:
        r["ratio_vs_off"] = r["MiB_per_s"] / rows[0]["MiB_per_s"]
    return rows


def format_table(rows: list[dict]) -> str:
    head = f"{'checksum':>10}{'pass s':>9}{'MiB/s':>9}{'vs off':>8}{'slices':>8}{'MiB':>8}"
    lines = [head] + [f"{r['mode']:>10}{r['seconds']:>9.3f}{r['MiB_per_s']:>9.1f}{r['ratio_vs_off']:>8.3f}"
                      f"{r['slices']:>8}{r['bytes'] / MiB:>8.1f}" for r in rows]
    r = rows[0]
    lines.append(f"hash rate on 64 MiB in memory: crc32c {r['crc32c_MiB_per_s']:,.0f} MiB/s "
                 f"({r['crc32c_implementation']}), zlib crc32 {r['zlib_crc32_MiB_per_s']:,.0f} MiB/s")
    return "\n".join(lines)
