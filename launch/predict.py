#!/usr/bin/env python
"""Apply a trained prior to any variants that carry its annotations, and write PolyFun SNPVAR files.

A thin wrapper: the command line is deepwas_dist.commands.predict, the same as `deepwas predict`
(`--help` lists its flags). Needs the package installed: `uv pip install -e .`.
"""
from deepwas_dist.commands.predict import main, parser  # noqa: F401 (parser: for tests loading this file)

if __name__ == "__main__":
    raise SystemExit(main())
