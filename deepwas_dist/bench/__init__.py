"""Benchmarks: ``python -m deepwas_dist.bench <name> [--json FILE]``."""
