#!/usr/bin/env python
"""Train a functionally informed GWAS prior on Ray Train, evaluate it on held-out slices, write outputs.

A thin wrapper: the command line is deepwas_dist.commands.train, the same as `deepwas train`
(`--help` lists its flags). Needs the package installed: `uv pip install -e .`.
"""
from deepwas_dist.commands.train import main, parser  # noqa: F401 (parser: for tests loading this file)

if __name__ == "__main__":
    raise SystemExit(main())
