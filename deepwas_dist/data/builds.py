"""Genome builds: the chromosome lengths of hg19 (GRCh37) and hg38 (GRCh38), and the check of a file's
chromosome sizes (e.g. a bigWig header) against the dataset's build.

The rule: where the dataset's build is a known one (hg19, GRCh37, b37, hs37d5; hg38, GRCh38), every
panel chromosome the file has must have that build's length; a mismatch is an error naming both builds
(the other known build whose length it has, or "an unknown build"). Whatever the build, a panel SNP
beyond the file's chromosome end is an error (the file cannot be of the panel's build).
"""
from __future__ import annotations

from ..errors import InputError
from .chroms import chrom_label

_HG19 = (249250621, 243199373, 198022430, 191154276, 180915260, 171115067, 159138663, 146364022, 141213431,
         135534747, 135006516, 133851895, 115169878, 107349540, 102531392, 90354753, 81195210, 78077248,
         59128983, 63025520, 48129895, 51304566, 155270560, 59373566)
_HG38 = (248956422, 242193529, 198295559, 190214555, 181538259, 170805979, 159345973, 145138636, 138394717,
         133797422, 135086622, 133275309, 114364328, 107043718, 101991189, 90338345, 83257441, 80373285,
         58617616, 64444167, 46709983, 50818468, 156040895, 57227415)
#: build -> chromosome code (1-22, X=23, Y=24) -> length in bp
CHROM_SIZES = {"hg19": dict(enumerate(_HG19, start=1)), "hg38": dict(enumerate(_HG38, start=1))}
_ALIASES = {"hg19": "hg19", "grch37": "hg19", "b37": "hg19", "hs37d5": "hg19",
            "hg38": "hg38", "grch38": "hg38"}


def known_build(build: str | None) -> str | None:
    """The canonical name (hg19 / hg38) of a build label, None when unknown or unset."""
    return None if build is None else _ALIASES.get(str(build).strip().lower())


def build_of(chrom: int, length: int) -> str | None:
    """The known build in which chromosome ``chrom`` has ``length`` bp (None: none)."""
    return next((b for b, sizes in CHROM_SIZES.items() if sizes.get(chrom) == length), None)


def check_sizes(sizes: dict[int, int], build: str | None, max_bp: dict[int, tuple[int, str]], path: str,
                flag: str) -> None:
    """``sizes``: chromosome code -> length in ``path``; ``max_bp``: panel chromosome -> (largest BP, its
    SNP). InputError (the module's rule) naming the file, both builds and ``flag``."""
    canon = known_build(build)
    for c in sorted(set(sizes) & set(max_bp)):
        length = int(sizes[c])
        want = None if canon is None else CHROM_SIZES[canon].get(c)
        if want is not None and length != want:
            other = build_of(c, length)
            raise InputError(f"{path}: chr{chrom_label(c)} is {length:,} bp in its header, the "
                             f"{other or 'length of an unknown'} build, but the dataset's build is {build} "
                             f"({want:,} bp); fix: give {flag} files of build {build} (or lift them over)")
        bp, snp = max_bp[c]
        if bp > length:
            raise InputError(f"{path}: SNP {snp} at chr{chrom_label(c)}:{bp:,} lies beyond the file's chromosome "
                             f"end ({length:,} bp, build {build_of(c, length) or 'unknown'}; the dataset's build is "
                             f"{build}); fix: give {flag} files of the panel's build")


__all__ = ["CHROM_SIZES", "known_build", "build_of", "check_sizes"]
