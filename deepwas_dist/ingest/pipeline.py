"""The ingestion pipeline behind ``launch/prepare.py``: where each step lives, and the parsing of the
command-line values the steps share (chromosome lists, KEY=VALUE storage options, column maps).

Each ``prepare_*`` function reads its inputs with the parsers of :mod:`deepwas_dist.ingest`, writes (or
atomically updates) a dataset with :class:`~deepwas_dist.data.DatasetWriter`, shows tqdm progress bars on
stderr and returns a :class:`~deepwas_dist.ingest.summary.PrepareSummary` (SNPs read / kept / flipped /
dropped and why, slices and bytes written, elapsed time).

- :func:`~deepwas_dist.ingest.from_plink.prepare_plink`: SNP table + LD slices from a PLINK 1 reference
  panel (LD of standardised genotypes).
- :func:`~deepwas_dist.ingest.from_ukbb.prepare_ukbb_ld`: SNP table + LD slices from the Broad UK Biobank
  LD windows.
- :func:`~deepwas_dist.ingest.updates.prepare_sumstats`: harmonise summary statistics and add them as a
  trait of an existing dataset.
- :func:`~deepwas_dist.ingest.updates.prepare_annotations`: replace the annotation columns of an existing
  dataset.
- :func:`~deepwas_dist.simulate.prepare.prepare_simulate`: a semi-synthetic dataset (msprime genotypes, or
  a real panel's); in ``simulate``, which builds on ``ingest``.
- :func:`~deepwas_dist.ingest.info.dataset_info`: the manifest summary of a dataset
  (:func:`~deepwas_dist.ingest.info.format_info` renders it).

``progress``: True / False, or None for bars only when stderr is a terminal (the command line's default).
``storage_options`` are the fsspec options of the dataset URL (``out``); ``input_storage_options`` those
of remote input files (UKBB directory, sumstats, annotations). PLINK panels are read from local files.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..errors import InputError

__all__ = ["one_line", "parse_chroms", "parse_columns", "parse_key_values"]

_CHROM_NAMES = {"X": 23, "Y": 24, "XY": 25, "MT": 26, "M": 26}


# ================================================================================================ parsing
def parse_chroms(text: str | int | Iterable | None) -> list[int] | None:
    """'1-8', '1,3,5-7', '22', 'X' (or ints / a list) -> sorted distinct chromosome codes (X=23); None -> None."""
    if text is None:
        return None
    items = [str(t) for t in text] if isinstance(text, (list, tuple)) else [str(text)]
    out: set[int] = set()

    def one(tok: str) -> int:
        t = tok.strip().upper().removeprefix("CHR")
        if t in _CHROM_NAMES:
            return _CHROM_NAMES[t]
        if not t.isdigit() or int(t) < 1:
            raise InputError(f"bad chromosome {tok!r} in --chroms {','.join(items)!r}; use e.g. 22, 1-8, 1,3,5-7 or X")
        return int(t)

    for item in items:
        for tok in item.split(","):
            if not tok.strip():
                continue
            if "-" in tok:
                a, _, b = tok.partition("-")
                lo, hi = one(a), one(b)
                if hi < lo:
                    raise InputError(f"bad chromosome range {tok!r}: {hi} < {lo}")
                out.update(range(lo, hi + 1))
            else:
                out.add(one(tok))
    if not out:
        raise InputError(f"--chroms {text!r} names no chromosome")
    return sorted(out)


def _parse_value(v: str) -> Any:
    low = v.lower()
    return {"true": True, "false": False, "none": None, "null": None}.get(low, v)


def parse_key_values(items: Iterable[str] | None, what: str = "--storage-option") -> dict:
    """['endpoint_url=http://...', 'anon=true'] -> {'endpoint_url': 'http://...', 'anon': True}.

    Values stay strings except true/false/none (as bool/None); a KEY=VALUE without '=' is an InputError.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise InputError(f"bad {what} {item!r}: expected KEY=VALUE "
                             f"(e.g. {what} endpoint_url=http://127.0.0.1:9000)")
        out[key.strip()] = _parse_value(value.strip())
    return out


def parse_columns(text: str | None) -> dict[str, str] | None:
    """'SNP=rsid,Z=zscore,N=n_total' -> {'SNP': 'rsid', 'Z': 'zscore', 'N': 'n_total'} (roles upper-cased)."""
    if text is None:
        return None
    out = {}
    for part in str(text).split(","):
        role, sep, col = part.partition("=")
        if not sep or not role.strip() or not col.strip():
            raise InputError(f"bad --columns {text!r}: expected ROLE=COLUMN pairs separated by commas, e.g. "
                             "SNP=rsid,A1=effect_allele,A2=other_allele,Z=zscore,N=n (roles: SNP A1 A2 Z N CHR BP "
                             "BETA SE)")
        out[role.strip().upper()] = col.strip()
    return out


_SPACES = re.compile(r"\s*\n\s*")


def one_line(msg: str) -> str:
    """An error message on one line (for the command line)."""
    return _SPACES.sub(" ", str(msg)).strip()
