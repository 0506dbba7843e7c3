"""Deterministic seed derivation: one user seed fans out to independent, reproducible streams."""
from __future__ import annotations

import zlib

import numpy as np


def key(name: str) -> int:
    """A stable 32-bit integer for a string (trait or annotation name); unlike hash(), fixed across runs."""
    return zlib.crc32(name.encode("utf-8"))


def derive_seed(seed: int, *keys: int) -> int:
    """An integer in [1, 2**31 - 1] determined by ``seed`` and ``keys`` (e.g. a chromosome, a stream id).

    Distinct key tuples give statistically independent streams (numpy SeedSequence hashing), and the
    result is a valid msprime ``random_seed`` (which must be positive and below 2**32).
    """
    state = np.random.SeedSequence([int(seed), *(int(k) for k in keys)]).generate_state(1, dtype=np.uint32)[0]
    return int(state) % (2**31 - 1) + 1


def rng(seed: int, *keys: int) -> np.random.Generator:
    """A numpy Generator for the stream (seed, *keys)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), *(int(k) for k in keys)]))
