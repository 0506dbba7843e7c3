"""What one ``prepare`` step did (:class:`PrepareSummary`), filled in from the manifest it published."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..data.manifest import Manifest


@dataclass
class PrepareSummary:
    """What one ingestion step did. ``dropped`` maps a reason to a SNP count; ``details`` holds
    command-specific facts (trait, harmonisation report, geometry, ...)."""

    command: str
    url: str
    snps_read: int = 0
    snps_kept: int = 0
    snps_flipped: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    slices_written: int = 0
    bytes_written: int = 0
    elapsed_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def snps_dropped(self) -> int:
        return int(sum(self.dropped.values()))

    def to_dict(self) -> dict:
        return {**asdict(self), "snps_dropped": self.snps_dropped}

    def format(self) -> str:
        """Human-readable multi-line summary (what ``prepare.py`` prints)."""
        lines = [f"prepare {self.command} -> {self.url}",
                 f"  SNPs read       {self.snps_read:>12,}",
                 f"  SNPs kept       {self.snps_kept:>12,}",
                 f"  SNPs flipped    {self.snps_flipped:>12,}",
                 f"  SNPs dropped    {self.snps_dropped:>12,}"]
        lines += [f"    {n:,} {why}" for why, n in self.dropped.items()]
        lines += [f"  slices written  {self.slices_written:>12,}",
                  f"  bytes written   {self.bytes_written:>12,}  ({self.bytes_written / 2 ** 20:.1f} MiB)",
                  f"  elapsed         {self.elapsed_s:>12.1f} s"]
        for k, v in self.details.items():
            if isinstance(v, float):
                v = f"{v:,.4g}"
            elif isinstance(v, int) and not isinstance(v, bool):
                v = f"{v:,}"
            lines.append(f"  {k}: {v}")
        return "\n".join(lines)


def finish_summary(sm: PrepareSummary, man: Manifest, t0: float) -> PrepareSummary:
    ld = man.ld
    sm.slices_written = int(ld.n_slices)
    sm.bytes_written = int(man.bytes_written)
    sm.details.setdefault("chromosomes", ",".join(map(str, man.chromosomes)))
    sm.details["slice geometry"] = (f"core {ld.core_kb:g} kb, flanks "
                                    + " + ".join(f"{v:g} {u}"
                                                 for v, u in ((ld.bandwidth_kb, "kb"), (ld.bandwidth_cm, "cM"))
                                                 if v is not None))
    sm.details["LD storage"] = (f"{ld.dtype}, {ld.bytes_per_slice_mean / 1024:.1f} KiB/slice, "
                                f"max {ld.max_m} SNPs / rank {ld.max_rank} per slice")
    sm.elapsed_s = time.perf_counter() - t0
    return sm


def new_bytes(old: Manifest, new: Manifest) -> int:
    """Bytes of the files an update added (listed in the new manifest, not in the old one)."""
    return int(sum(b for rel, b in new.files.items() if rel not in old.files))
