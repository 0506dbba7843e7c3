"""``python -m deepwas_dist.commands ...``: the `deepwas` console script without installing it."""
from deepwas_dist.commands import main

if __name__ == "__main__":
    raise SystemExit(main())
