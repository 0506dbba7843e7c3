"""Datasets of LD slices, SNP features and summary statistics on any fsspec URL."""
