"""What every command line in launch/ shares: one-line errors with exit code 2, KEY=VALUE options."""
from __future__ import annotations

import sys
from typing import Callable, Iterable

from .errors import InputError


def run_cli(fn: Callable[[], object]) -> int:
    """Run ``fn``; an :class:`InputError` becomes ``error: <message>`` on stderr and exit code 2."""
    try:
        fn()
    except InputError as e:
        print("error: " + " ".join(str(e).split()), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return 0


def key_values(items: Iterable[str] | None, flag: str = "--storage-option") -> dict:
    """['k=v', ...] -> {k: v}; InputError naming ``flag`` for an item without '='."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"{flag} takes KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v
    return out
