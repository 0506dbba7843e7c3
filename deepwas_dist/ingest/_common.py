"""Helpers shared by the ingestion parsers: opening fsspec URLs, reading text tables (a damaged gzip is
one InputError naming the file), error locations and examples."""
from __future__ import annotations

import contextlib
import gzip
import os
import re
import zlib
from typing import Any, Iterator

import fsspec
import numpy as np
import pandas as pd

from ..errors import InputError

#: What reading a damaged gzip stream raises: cut short (EOFError), not gzip or a failed CRC check
#: (gzip.BadGzipFile), bad deflate data (zlib.error).
GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)


@contextlib.contextmanager
def gzip_errors(url: str) -> Iterator[None]:
    """Re-raise a damaged gzip stream read inside the ``with`` as one InputError naming ``url``."""
    try:
        yield
    except GZIP_ERRORS as e:
        raise InputError(f"{url} is a truncated or corrupt gzip file ({one_line(e)}); fix: copy or download it "
                         "again (`gzip -t FILE` checks a copy)") from None


def one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def so(storage_options: dict | None) -> dict:
    """`storage_options` as a dict (None -> {})."""
    return dict(storage_options or {})


def open_file(url: str, mode: str = "rb", storage_options: dict | None = None,
              compression: str | None = None) -> Any:
    """Open `url` with fsspec (entered context manager's value is a file object).

    Raises InputError naming the URL when it does not exist.
    """
    try:
        fs, path = fsspec.core.url_to_fs(url, **so(storage_options))
        exists = fs.exists(path)
    except (OSError, ValueError) as e:  # bad URL / unreachable store
        raise InputError(f"cannot access {url}: {e}. Check the path or URL and --input-storage-option.") from e
    if not exists:
        raise InputError(f"file not found: {url}. Check the path (or URL) and that the file was copied there.")
    return fsspec.open(url, mode, compression=compression, **so(storage_options))


def header_and_sep(url: str, storage_options: dict | None = None) -> tuple[list[str], str]:
    """First line of a (possibly gzipped) text table split into names, and the separator to read it with.

    Tab when the header has tabs, comma when it has commas and no other whitespace, else any whitespace.
    """
    with gzip_errors(url), open_file(url, "rt", storage_options, compression="infer") as f:
        first = f.readline()
    if not first.strip():
        raise InputError(f"{url} is empty or its first line is blank; it needs a header line.")
    line = first.rstrip("\r\n")
    if "\t" in line:
        sep = "\t"
    elif "," in line and not re.search(r"\s", line.strip()):
        sep = ","
    else:
        sep = r"\s+"
    names = [c.strip() for c in re.split(sep, line.strip())]
    return names, sep


def read_table(url: str, sep: str, storage_options: dict | None = None,
               str_columns: list[str] | tuple[str, ...] = (), **kw: Any) -> pd.DataFrame:
    """Read a delimited text table with header (gz or plain) through fsspec; `str_columns` kept as strings."""
    with gzip_errors(url), open_file(url, "rt", storage_options, compression="infer") as f:
        try:
            return pd.read_csv(f, sep=sep, dtype={c: str for c in str_columns}, **kw)
        except (pd.errors.ParserError, ValueError) as e:
            raise InputError(f"cannot parse {url} as a delimited table: {one_line(e)}. "
                             "Check that every line has the same number of fields as the header.") from e


def first_bad(mask: np.ndarray, ids: pd.Series | np.ndarray, lines: np.ndarray) -> str:
    """'line L (SNP id); K row(s) in total' for the first True of `mask`; `lines` = file line per row."""
    idx = np.flatnonzero(np.asarray(mask))
    i = int(idx[0])
    return f"line {int(lines[i])} (SNP {np.asarray(ids)[i]}); {len(idx)} such row(s) in total"


def check_unique(ids: pd.Series, lines: np.ndarray, where: str, fix: str, unit: str = "lines") -> None:
    """InputError naming the first duplicated ID and all of its lines (`lines` = file line per row)."""
    ids = pd.Series(np.asarray(ids, dtype=object))
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        name = ids.iloc[int(np.flatnonzero(dup)[0])]
        at = [int(lines[i]) for i in np.flatnonzero((ids == name).to_numpy())]
        n_dup = int(ids.duplicated().sum())
        raise InputError(f"{where}: duplicate SNP ID {name!r} at {unit} {at} "
                         f"({n_dup} duplicated row(s) in total). {fix}")


def ensure_sequence(paths: str | os.PathLike | list | tuple) -> list[str]:
    """A single path -> [path]; a list/tuple -> list of str."""
    if isinstance(paths, (list, tuple)):
        return [os.fspath(p) for p in paths]
    return [os.fspath(paths)]


def examples(values, k: int = 5) -> str:
    vals = list(values)
    return ", ".join(map(str, vals[:k])) + (f" (+{len(vals) - k:,} more)" if len(vals) > k else "")
