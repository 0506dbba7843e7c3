#!/usr/bin/env python
"""Evaluate a training run on its held-out slices (the split recorded in config.json) and (re)write its outputs.

A thin wrapper: the command line is deepwas_dist.commands.evaluate, the same as `deepwas evaluate`
(`--help` lists its flags). Needs the package installed: `uv pip install -e .`.
"""
from deepwas_dist.commands.evaluate import main, parser  # noqa: F401 (parser: for tests loading this file)

if __name__ == "__main__":
    raise SystemExit(main())
