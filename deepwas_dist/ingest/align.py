"""Aligning annotation tables to a dataset's reference SNPs (``prepare --annot``, ``prepare annotations``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..data import schema as S
from ..errors import InputError
from ._common import examples
from .annotations import ids_match_nothing, read_annotations


def align_annotations(table: pd.DataFrame, names: list[str], reference: dict[int, pd.DataFrame],
                      fill: float | None = None, where: str = "the annotation file(s)"
                      ) -> tuple[dict[int, pd.DataFrame], dict]:
    """Annotation rows for every SNP of ``reference`` (chrom -> SNP table), in the reference's order.

    ``table``: column SNP + ``names`` (from :func:`read_annotations`). SNPs of the reference missing from
    ``table`` are an InputError naming the first few and the count, unless ``fill`` gives them a value.
    Returns (chrom -> DataFrame[SNP, *names], counts).
    """
    index = pd.Index(table[S.SNP].astype(str).to_numpy(dtype=object))
    values = table[list(names)].to_numpy(dtype=np.float64)
    used = np.zeros(len(table), dtype=bool)
    out, missing, total = {}, [], 0
    for c, ref in sorted(reference.items()):
        ids = ref[S.SNP].astype(str).to_numpy(dtype=object)
        pos = index.get_indexer(ids)
        miss = pos < 0
        total += len(ids)
        if miss.any():
            missing.extend(ids[miss][: 5 - min(len(missing), 5)].tolist())
            missing_n = int(miss.sum())
        else:
            missing_n = 0
        used[pos[~miss]] = True
        X = values[np.where(miss, 0, pos)]
        if missing_n:
            X[miss] = np.nan if fill is None else float(fill)
        df = pd.DataFrame(X, columns=list(names))
        df.insert(0, S.SNP, ids)
        out[c] = (df, missing_n)
    n_missing = int(sum(m for _, m in out.values()))
    if total and n_missing == total:
        raise ids_match_nothing(table[S.SNP], pd.concat([r[S.SNP] for _, r in sorted(reference.items())]), where)
    if n_missing and fill is None:
        n_pos = table.attrs.get("position_mismatch", 0)
        dropped = f", {n_pos:,} of them dropped as their CHR/BP are not the panel's" if n_pos else ""
        raise InputError(f"{n_missing:,} of the dataset's {total:,} SNPs are missing from {where} (first: "
                         f"{examples(missing)}{dropped}); fix: give every SNP a row, or pass --fill 0 to set the "
                         "missing SNPs' annotations to 0")
    counts = {"rows": len(table), "matched": total - n_missing, "filled": n_missing,
              "not_in_dataset": int((~used).sum())}
    return {c: df for c, (df, _) in out.items()}, counts


def annotations_for(annot, snps_by_chrom: dict[int, pd.DataFrame], fill, input_storage_options,
                    build: str | None = None) -> tuple[dict[int, pd.DataFrame] | None, dict]:
    if not annot:
        return None, {}
    cols = [c for c in (S.CHR, S.SNP, S.BP) if all(c in df.columns for df in snps_by_chrom.values())]
    reference = pd.concat([df[cols] for _, df in sorted(snps_by_chrom.items())], ignore_index=True)
    table, names = read_annotations(list(annot), reference=reference, storage_options=input_storage_options,
                                    build=build)
    per_chrom, counts = align_annotations(table, names, snps_by_chrom, fill, where=", ".join(annot))
    return per_chrom, {"annotations": ", ".join(names), "annotation rows": counts["rows"],
                       "annotation SNPs filled": counts["filled"],
                       "annotation rows not in the reference": counts["not_in_dataset"],
                       **position_note(table),
                       **metadata_note(table)}


def position_note(table: pd.DataFrame) -> dict:
    """The summary line counting annotation rows dropped for a CHR/BP not the panel's (none: no line)."""
    n = table.attrs.get("position_mismatch", 0)
    return {"annotation rows dropped: CHR/BP not the panel's": n} if n else {}


def metadata_note(table: pd.DataFrame) -> dict:
    """The summary line naming annotation-file columns read as metadata and not used (e.g. MAF)."""
    cols = table.attrs.get("metadata_columns") or []
    return {"metadata columns not used as annotations": ", ".join(cols)} if cols else {}
