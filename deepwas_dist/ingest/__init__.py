"""Parsers for the input formats users have: pure functions returning DataFrames / numpy arrays.

- :mod:`.plink`: PLINK 1 reference panels -> SNP table, standardised genotypes, LD matrices.
- :mod:`.ukbb`: the Broad UK Biobank LD matrices (``chr{c}_{start}_{end}.npz`` + ``.gz``).
- :mod:`.sumstats`: LDSC / fastGWA / PLINK 2 / generic summary statistics, allele harmonisation.
- :mod:`.annotations`: LDSC ``.annot`` (full, thin) and Parquet annotation tables.

The ``prepare`` steps built on them (they write datasets) are listed in :mod:`.pipeline`.
"""
from .annotations import AnnotStats, read_annotations, standardisation
from .plink import Panel, ld_matrix, read_panel, standardize
from .sumstats import HarmoniseReport, detect_format, harmonise, read_sumstats
from .ukbb import list_ukbb_files, read_ukbb_ld, write_ukbb_ld

__all__ = ["AnnotStats", "read_annotations", "standardisation", "Panel", "ld_matrix", "read_panel",
           "standardize", "HarmoniseReport", "detect_format", "harmonise", "read_sumstats",
           "list_ukbb_files", "read_ukbb_ld", "write_ukbb_ld"]
