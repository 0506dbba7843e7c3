"""Errors a user can act on.

Every check on user input raises :class:`InputError` with a message that names what is wrong
(the file, row or SNP where known) and how to fix it.
"""
from __future__ import annotations


class InputError(ValueError):
    """Bad input: the message says what is wrong, where, and the fix."""


class SchemaError(InputError):
    """A stored dataset does not match the schema this version of deepwas_dist reads."""
