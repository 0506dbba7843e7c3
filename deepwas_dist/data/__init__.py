"""Datasets of LD slices, SNP features and summary statistics on any fsspec URL (DESIGN.md section 3).

Write with :class:`DatasetWriter`, read with :meth:`Dataset.open`; the layout and column names live in
:mod:`deepwas_dist.data.schema`, slice geometry and its defaults in :mod:`deepwas_dist.data.slicing`, the
typed manifest in :mod:`deepwas_dist.data.manifest`.
"""
from .manifest import Manifest
from .reader import Dataset, SliceBatch, validate_manifest
from .slicing import SlicePlan, crop_keep_mask, flank_range, plan_slices, resolve_bandwidth
from .writer import DatasetWriter

__all__ = ["Dataset", "DatasetWriter", "Manifest", "SliceBatch", "SlicePlan", "plan_slices", "flank_range",
           "crop_keep_mask", "resolve_bandwidth", "validate_manifest"]
