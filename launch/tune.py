#!/usr/bin/env python
"""Scan model size, LD bandwidth, learning rate and weight decay with Ray Tune, across traits.

A thin wrapper: the command line is deepwas_dist.commands.tune, the same as `deepwas tune`
(`--help` lists its flags). Needs the package installed: `uv pip install -e .`.
"""
from deepwas_dist.commands.tune import main, parser  # noqa: F401 (parser: for tests loading this file)

if __name__ == "__main__":
    raise SystemExit(main())
