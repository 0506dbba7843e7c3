"""The `deepwas` command line: one console script, one subcommand per entry point.

    deepwas prepare plink --bfile ../shared/data/1000G_eur_chr22 --out data/chr22
    deepwas train --data data/chr22 --traits height
    deepwas evaluate runs/my-run

``deepwas <command> ...`` is the same as ``python launch/<command>.py ...`` (``bench``: ``python -m
deepwas_dist.bench ...``); ``deepwas <command> --help`` lists its flags. Each command's module is
imported only when it runs, and loads torch and Ray only after its arguments are parsed.
"""
from __future__ import annotations

import importlib
import sys

# name -> (module whose main(argv, prog) runs it, one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("deepwas_dist.commands.prepare", "build a dataset: LD slices, annotations, summary statistics"),
    "train": ("deepwas_dist.commands.train", "train a prior on Ray Train, evaluate it on held-out slices"),
    "evaluate": ("deepwas_dist.commands.evaluate", "(re)evaluate a training run on its held-out slices"),
    "predict": ("deepwas_dist.commands.predict", "apply a trained prior to another dataset's SNPs (SNPVAR files)"),
    "tune": ("deepwas_dist.commands.tune", "scan model size, bandwidth, learning rate with Ray Tune"),
    "experiment": ("deepwas_dist.commands.experiment", "the project's experiments: scaling, realistic, real"),
    "bench": ("deepwas_dist.bench.__main__", "benchmarks: likelihood, training, mismatch-bias"),
}
PROG = "deepwas"


def usage() -> str:
    return f"usage: {PROG} {{{','.join(COMMANDS)}}} ..."


def help_text() -> str:
    width = max(map(len, COMMANDS))
    lines = [usage(), "", __doc__.strip().splitlines()[0], "", "commands:"]
    lines += [f"  {name:<{width}}  {line}" for name, (_, line) in COMMANDS.items()]
    lines += ["", f"Run `{PROG} <command> --help` for a command's flags."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``deepwas <command> [args...]`` to the command's ``main(args, prog='deepwas <command>')``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(usage(), file=sys.stderr)
        print(f"error: {PROG}: a command is required (see {PROG} --help)", file=sys.stderr)
        return 2
    name, rest = argv[0], argv[1:]
    if name in ("-h", "--help"):
        try:
            print(help_text())
        except BrokenPipeError:           # `deepwas --help | head`: the reader stopped early, not an error
            sys.stderr.close()
        return 0
    if name not in COMMANDS:
        print(f"error: {PROG}: unknown command {name!r} (choose from {', '.join(COMMANDS)}; see {PROG} --help)",
              file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return module.main(rest, prog=f"{PROG} {name}")
