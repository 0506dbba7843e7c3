#!/usr/bin/env python
"""The project's experiments.

A thin wrapper: the command line is deepwas_dist.commands.experiment, the same as `deepwas experiment`
(`--help` lists its flags). Needs the package installed: `uv pip install -e .`.
"""
from deepwas_dist.commands.experiment import main, parser  # noqa: F401 (parser: for tests loading this file)

if __name__ == "__main__":
    raise SystemExit(main())
