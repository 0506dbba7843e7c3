"""What every command line in launch/ shares: one-line errors with exit code 2, KEY=VALUE options, and
flags generated from a config dataclass."""
from __future__ import annotations

import argparse
import dataclasses
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


_FLAG_TYPES = {"int": int, "float": float, "str": str}


def config_flags(cls) -> list[dataclasses.Field]:
    """The fields of dataclass ``cls`` that are flags: those whose metadata has a help text."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("help")]


def add_config_flags(ap: argparse.ArgumentParser, cls, aliases: dict[str, str] | None = None) -> None:
    """One flag per :func:`config_flags` field of ``cls``: ``--field-name`` (``aliases`` maps a flag's
    spelling to a field whose name differs), typed from the field's annotation, with its choices and
    ``(default ...)`` from the field. Every default is None, so that a caller can tell a given flag from
    an absent one (a --config file's value then wins over the field's default)."""
    spelling = {field: name for name, field in (aliases or {}).items()}
    for f in config_flags(cls):
        name = "--" + spelling.get(f.name, f.name).replace("_", "-")
        metavar = name[2:].upper().replace("-", "_")
        base = str(f.type).replace("| None", "").replace("None |", "").strip()
        shown = f.metadata.get("shown") or f.default
        if base == "bool":
            ap.add_argument(name, dest=f.name, action="store_true", default=None, help=f.metadata["help"])
            continue
        if base not in _FLAG_TYPES:
            raise TypeError(f"{cls.__name__}.{f.name}: no flag type for {f.type!r}")
        choices = f.metadata.get("choices")
        ap.add_argument(name, dest=f.name, type=_FLAG_TYPES[base], default=None, choices=choices,
                        metavar=None if choices else metavar, help=f"{f.metadata['help']} (default: {shown})")
