"""``prepare sumstats`` and ``prepare annotations``: atomic updates of an existing dataset (a trait added
or replaced, the annotation columns replaced), through :meth:`DatasetWriter.update`."""
from __future__ import annotations

import time

import numpy as np

from ..data import schema as S
from ..data.writer import DatasetWriter
from ..errors import InputError
from .align import align_annotations, metadata_note, position_note
from .annotations import read_annotations
from .bed import BedSpec, bed_annotations, parse_bed_spec
from .pipeline import parse_columns
from .steps import progress_bar
from .summary import PrepareSummary, new_bytes
from .sumstats import harmonise, read_sumstats


def prepare_sumstats(out: str, trait: str, file: str, *, fmt: str = "auto", columns: dict | str | None = None,
                     n: float | None = None, keep_ambiguous: bool = False, overwrite: bool = False,
                     storage_options: dict | None = None, input_storage_options: dict | None = None,
                     progress: bool | None = True) -> PrepareSummary:
    """Read GWAS summary statistics, harmonise them to the dataset's reference alleles and add them as
    ``trait`` (atomically: the dataset is unchanged if anything fails). Strand-ambiguous SNPs are dropped
    unless ``keep_ambiguous``; an existing trait is replaced only with ``overwrite``."""
    t0 = time.perf_counter()
    cmap = parse_columns(columns) if isinstance(columns, str) else columns
    with DatasetWriter.update(out, storage_options) as w, \
            progress_bar(progress, total=4, desc=f"sumstats {trait}", unit="step") as bar:
        old = w.base_manifest
        if trait in w.traits and not overwrite:
            raise InputError(f"{out}: trait {trait!r} is already in the dataset; fix: pass --overwrite "
                             "to replace it, or choose another --trait")
        bar.update(1)
        ss = read_sumstats(file, fmt=fmt, column_map=cmap, storage_options=input_storage_options, n=n)
        bar.update(1)
        h, rep = harmonise(ss, w.reference_snps(), drop_ambiguous=not keep_ambiguous, where=str(file),
                           build=old.build)
        bar.update(1)
        if trait in w.traits:
            w.remove_trait(trait)
        w.add_sumstats(trait, h[[S.SNP, S.A1, S.A2, S.Z, S.N]])
        bar.update(1)
    man = w.manifest
    sm = PrepareSummary("sumstats", out, snps_read=rep.read, snps_kept=rep.matched, snps_flipped=rep.flipped,
                        details={"trait": trait, "format": ss.attrs.get("format", fmt), "file": str(file),
                                 "median N": float(np.median(h[S.N])),
                                 "reference SNPs without a z-score": int(man.snps.n_total - rep.matched),
                                 "traits now": ", ".join(man.traits)})
    sm.dropped["not in the reference"] = rep.dropped_not_in_reference
    if rep.dropped_position_mismatch:
        sm.dropped["CHR/BP not the reference's"] = rep.dropped_position_mismatch
    sm.dropped["allele mismatch"] = rep.dropped_allele_mismatch
    sm.dropped["strand-ambiguous (A/T, C/G)" + (" kept as written" if keep_ambiguous else "")] = rep.dropped_ambiguous
    sm.bytes_written = new_bytes(old, man)
    sm.elapsed_s = time.perf_counter() - t0
    return sm


def prepare_annotations(out: str, files: str | list[str] | None = None, *, fill: float | None = None,
                        beds: list[str | BedSpec] = (), bed_continuous: list[str | BedSpec] = (),
                        bed_window: int = 0, storage_options: dict | None = None,
                        input_storage_options: dict | None = None, progress: bool | None = True) -> PrepareSummary:
    """Replace the annotation columns of the dataset's SNP tables with those of ``files`` (LDSC .annot(.gz),
    full or thin, or Parquet with a SNP column) and of BED files (``beds``: ``NAME=FILE`` binary;
    ``bed_continuous``: ``NAME=FILE:COLUMN``; rule in :mod:`deepwas_dist.ingest.bed`), atomically. Thin
    annots are aligned to the dataset's SNP tables (chromosomes in ascending order). Dataset SNPs missing
    from ``files``: InputError listing the first few, unless ``fill`` (e.g. 0); BED annotations cover every
    SNP."""
    t0 = time.perf_counter()
    files = [files] if isinstance(files, str) else list(files or [])
    specs = [b if isinstance(b, BedSpec) else parse_bed_spec(b, False) for b in beds]
    specs += [b if isinstance(b, BedSpec) else parse_bed_spec(b, True) for b in bed_continuous]
    if not files and not specs:
        raise InputError("prepare annotations: no annotation input; fix: give --file, --bed or --bed-continuous")
    counts, table, bed_notes, names = {"rows": 0, "matched": 0, "filled": 0, "not_in_dataset": 0}, None, {}, []
    with DatasetWriter.update(out, storage_options) as w:
        old = w.base_manifest
        ref = w.reference_snps()
        by_chrom = {int(c): df.reset_index(drop=True) for c, df in ref.groupby(S.CHR, sort=True)}
        per_chrom = {c: df[[S.SNP]] for c, df in by_chrom.items()}
        if files:
            table, names = read_annotations(files, reference=ref, storage_options=input_storage_options,
                                            build=old.build)
            per_chrom, counts = align_annotations(table, names, by_chrom, fill, where=", ".join(files))
        if specs:
            clash = sorted(set(names) & {s.name for s in specs})
            if clash:
                raise InputError(f"annotation name(s) {clash} come from both --file and --bed; fix: rename the BED "
                                 "annotation (NAME=FILE)")
            bed, bed_notes = bed_annotations(specs, by_chrom, bed_window, input_storage_options)
            per_chrom = {c: per_chrom[c].join(bed[c].drop(columns=[S.SNP])) for c in per_chrom}
            names = names + [s.name for s in specs]
            if not files:
                counts["rows"] = counts["matched"] = len(ref)
        for c in progress_bar(progress, iterable=sorted(per_chrom), desc="annotations", unit="chrom"):
            w.set_annotations(c, per_chrom[c])
    man = w.manifest
    sm = PrepareSummary("annotations", out, snps_read=counts["rows"], snps_kept=counts["matched"],
                        details={"annotations": ", ".join(names),
                                 "binary": ", ".join(man.features.binary) or "-",
                                 "constant (not scaled)": ", ".join(man.features.constant) or "-",
                                 "previous annotations": ", ".join(old.features.names) or "-",
                                 **(metadata_note(table) if table is not None else {})})
    if specs:
        sm.details["BED window (bp)"] = int(bed_window)
        sm.details.update(bed_notes)
    if fill is not None and files:
        sm.details[f"dataset SNPs filled with {fill:g}"] = counts["filled"]
    if counts["not_in_dataset"]:
        sm.dropped["not in the dataset (ignored)"] = counts["not_in_dataset"]
    if table is not None and position_note(table):
        sm.dropped["CHR/BP not the reference's"] = table.attrs["position_mismatch"]
    sm.bytes_written = new_bytes(old, man)
    sm.elapsed_s = time.perf_counter() - t0
    return sm
