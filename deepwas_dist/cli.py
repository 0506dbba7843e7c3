"""What every command line in launch/ shares: one-line errors with exit code 2, KEY=VALUE options."""
from __future__ import annotations

import math
import sys
from typing import Callable, Iterable

from .credentials import is_secret_option
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


def typed_value(text: str):
    """A KEY=VALUE value with its type: true/false (any case) -> bool, none/null -> None, integers ->
    int, other numbers -> float, anything else the string itself (``anon=false`` must not reach s3fs as
    the truthy string 'false')."""
    v = text.strip()
    low = v.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            x = kind(v)
        except ValueError:
            continue
        return x if math.isfinite(x) else v
    return v


def key_values(items: Iterable[str] | None, flag: str = "--storage-option") -> dict:
    """['k=v', ...] -> {k: typed v} (see :func:`typed_value`; credentials such as key=, secret=, token=
    stay strings); InputError naming ``flag`` for an item without '=' or without a key."""
    out = {}
    for item in items or []:
        k, sep, v = str(item).partition("=")
        if not sep or not k.strip():
            raise InputError(f"{flag} takes KEY=VALUE (e.g. {flag} endpoint_url=http://127.0.0.1:9000), "
                             f"got {item!r}")
        out[k.strip()] = v if is_secret_option(k) else typed_value(v)
    return out
