"""Print the parameter counts of every prior preset: python -m deepwas_dist.models [--features A]."""
import argparse

from .registry import format_parameter_table, parameter_table

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--features", type=int, default=50, help="number of annotations (default 50)")
    ap.add_argument("--traits", type=int, default=1)
    ap.add_argument("--tracks", type=int, default=4)
    ap.add_argument("--window", type=int, default=32)
    a = ap.parse_args()
    print(format_parameter_table(parameter_table(a.features, a.traits, a.tracks, a.window)))
