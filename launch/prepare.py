#!/usr/bin/env python
"""Build a deepwas_dist dataset (LD slices, SNP annotations, summary statistics) on any fsspec URL.

A thin wrapper: the command line is deepwas_dist.commands.prepare, the same as `deepwas prepare`
(`--help` lists its flags). Needs the package installed: `uv pip install -e .`.
"""
from deepwas_dist.commands.prepare import main, parser  # noqa: F401 (parser: for tests loading this file)

if __name__ == "__main__":
    raise SystemExit(main())
