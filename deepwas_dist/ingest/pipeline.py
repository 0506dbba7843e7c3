"""The ingestion pipeline behind ``launch/prepare.py``: where each step lives, and the parsing of the
command-line values the steps share (column maps; chromosome lists are parsed by
:mod:`deepwas_dist.data.chroms`, KEY=VALUE options by :func:`deepwas_dist.cli.key_values`).

Each ``prepare_*`` function reads its inputs with the parsers of :mod:`deepwas_dist.ingest`, writes (or
atomically updates) a dataset with :class:`~deepwas_dist.data.DatasetWriter`, shows tqdm progress bars on
stderr and returns a :class:`~deepwas_dist.ingest.summary.PrepareSummary` (SNPs read / kept / flipped /
dropped and why, slices and bytes written, elapsed time).

- :func:`~deepwas_dist.ingest.from_plink.prepare_plink`: SNP table + LD slices from a PLINK 1 reference
  panel (LD of standardised genotypes).
- :func:`~deepwas_dist.ingest.from_ukbb.prepare_ukbb_ld`: SNP table + LD slices from the Broad UK Biobank
  LD windows.
- :func:`~deepwas_dist.ingest.updates.prepare_sumstats`: harmonise summary statistics and add them as a
  trait of an existing dataset.
- :func:`~deepwas_dist.ingest.updates.prepare_annotations`: replace the annotation columns of an existing
  dataset.
- :func:`~deepwas_dist.simulate.prepare.prepare_simulate`: a semi-synthetic dataset (msprime genotypes, or
  a real panel's); in ``simulate``, which builds on ``ingest``.
- :func:`~deepwas_dist.ingest.info.dataset_info`: the manifest summary of a dataset
  (:func:`~deepwas_dist.ingest.info.format_info` renders it).

``progress``: True / False, or None for bars only when stderr is a terminal (the command line's default).
``storage_options`` are the fsspec options of the dataset URL (``out``); ``input_storage_options`` those
of remote input files (UKBB directory, sumstats, annotations). PLINK panels are read from local files.
"""
from __future__ import annotations

import re

from ..errors import InputError

__all__ = ["one_line", "parse_columns"]


# ================================================================================================ parsing
def parse_columns(text: str | None) -> dict[str, str] | None:
    """'SNP=rsid,Z=zscore,N=n_total' -> {'SNP': 'rsid', 'Z': 'zscore', 'N': 'n_total'} (roles upper-cased)."""
    if text is None:
        return None
    out = {}
    for part in str(text).split(","):
        role, sep, col = part.partition("=")
        if not sep or not role.strip() or not col.strip():
            raise InputError(f"bad --columns {text!r}: expected ROLE=COLUMN pairs separated by commas, e.g. "
                             "SNP=rsid,A1=effect_allele,A2=other_allele,Z=zscore,N=n (roles: SNP A1 A2 Z N CHR BP "
                             "BETA SE)")
        out[role.strip().upper()] = col.strip()
    return out


_SPACES = re.compile(r"\s*\n\s*")


def one_line(msg: str) -> str:
    """An error message on one line (for the command line)."""
    return _SPACES.sub(" ", str(msg)).strip()
