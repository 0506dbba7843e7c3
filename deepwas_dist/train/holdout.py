"""Which LD slices a run holds out: whole chromosomes, or contiguous runs of slices within chromosomes.

Two ways to hold out, both deterministic (no random draw: ``evaluate.py`` and a resumed run get the same
split from the same dataset and flags):

- *Chromosomes* (``--holdout-chroms 6,7,8``, or ``auto``: the last quarter, 1 to 3 chromosomes). The
  paper's protocol and the cleanest one: no LD crosses chromosomes, so no held-out z-score is correlated
  with a training z-score.
- *Blocks of slices* (``--holdout-blocks K``). The slices, in genomic order, are cut into ``4 K``
  contiguous blocks and every fourth block (the 4th, 8th, ..., last) is held out: K runs of slices, about
  a quarter of the data, spread along the genome. A run that crosses a chromosome boundary is two runs,
  one per chromosome. Within a chromosome, neighbouring slices share LD: a slice's flanks (500 kb - 1 Mb)
  reach into the next slice's core, so the z-scores of a held-out core are correlated with those of the
  adjacent training cores and the held-out likelihood would partly score data the prior was fitted on.
  So ``BUFFER_SLICES`` slice(s) on each side of every held-out run (on the same chromosome) are
  *buffers*, excluded from both training and scoring. With cores at least as wide as the flanks, one
  buffer slice puts a full core between held-out and training cores.

A third set, *validation* chromosomes (``--val-chroms 6``, or ``auto``: the last quarter of the training
chromosomes, 1 to 3), is taken out of the training chromosomes: never trained on, scored every epoch, and
the run keeps the epoch whose prior has the lowest validation NLL (early stopping; ``--patience``), so the
held-out chromosomes are never used to choose anything. Whole chromosomes only: a validation block within
a training chromosome would share LD with the training slices next to it.

``--holdout-chroms auto`` falls back to blocks when the dataset has fewer than ``MIN_AUTO_CHROMS``
chromosomes: below 4 chromosomes "the last quarter" cannot be made of whole chromosomes (one chromosome:
nothing would be held out and every held-out metric would be NaN; two or three: a half or a third of
the data would be held out). The number of runs is then ``len(slices) // AUTO_SLICES_PER_RUN``, clipped
to [1, ``AUTO_MAX_RUNS``]: chr22's 36 slices of 1 Mb give 2 runs (10 held-out slices, 3 buffers, 23 for
training). Datasets of 4 or more chromosomes keep whole-chromosome hold-out.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..data.chroms import parse_chroms
from ..data.slicing import contiguous_blocks
from ..errors import InputError

SliceKey = tuple[int, int]

#: ``--holdout-chroms auto`` on datasets of at least this many chromosomes: the last quarter of them.
MIN_AUTO_CHROMS = 4
#: ... and at most this many held-out chromosomes.
AUTO_MAX_CHROMS = 3
#: Block hold-out keeps one block in every BLOCK_PERIOD for scoring: a quarter of the slices.
BLOCK_PERIOD = 4
#: Slices excluded from training and scoring on each side of a held-out run, within its chromosome.
BUFFER_SLICES = 1
#: ``auto`` block hold-out: one held-out run per this many slices ...
AUTO_SLICES_PER_RUN = 16
#: ... and at most this many runs.
AUTO_MAX_RUNS = 3


@dataclass
class HoldoutSplit:
    """A run's split of its slices: every slice is in exactly one of train, held-out, buffer."""

    mode: str                                   # "chroms" | "blocks" | "none"
    train_keys: list[SliceKey]
    heldout_keys: list[SliceKey]
    buffer_keys: list[SliceKey] = field(default_factory=list)
    heldout_chroms: list[int] = field(default_factory=list)   # mode "chroms" only
    blocks: int = 0                             # mode "blocks": held-out runs asked for
    val_keys: list[SliceKey] = field(default_factory=list)    # --val-chroms: scored every epoch, not trained on
    val_chroms: list[int] = field(default_factory=list)

    def describe(self) -> str:
        """One phrase for logs and the summary table."""
        val = f"; validation chromosomes {self.val_chroms}" if self.val_chroms else ""
        if self.mode == "chroms":
            return f"chromosomes {self.heldout_chroms}{val}"
        if self.mode == "blocks":
            return (f"{len(self.heldout_keys)} slices in {self.blocks} block(s) within chromosomes, "
                    f"{len(self.buffer_keys)} buffer slices excluded{val}")
        return f"nothing{val}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> HoldoutSplit:
        keys = lambda name: [(int(c), int(s)) for c, s in d.get(name, [])]
        return cls(mode=d["mode"], train_keys=keys("train_keys"), heldout_keys=keys("heldout_keys"),
                   buffer_keys=keys("buffer_keys"), heldout_chroms=[int(c) for c in d.get("heldout_chroms", [])],
                   blocks=int(d.get("blocks", 0)), val_keys=keys("val_keys"),
                   val_chroms=[int(c) for c in d.get("val_chroms", [])])


def auto_count(n_chroms: int) -> int:
    """How many chromosomes ``auto`` takes of ``n_chroms``: the last quarter, 1 to AUTO_MAX_CHROMS."""
    return min(AUTO_MAX_CHROMS, max(1, n_chroms // 4))


def buffers_around(keys: list[SliceKey], heldout: set[SliceKey], width: int = BUFFER_SLICES) -> list[SliceKey]:
    """Slices not in ``heldout`` within ``width`` slices (same chromosome, genomic order) of one that is."""
    by_chrom: dict[int, list[SliceKey]] = {}
    for k in sorted(keys):
        by_chrom.setdefault(k[0], []).append(k)
    out = set()
    for order in by_chrom.values():
        for i, k in enumerate(order):
            if k in heldout:
                out.update(x for x in order[max(0, i - width):i + width + 1] if x not in heldout)
    return sorted(out)


def _split(keys: list[SliceKey], heldout: set[SliceKey], buffer: int, mode: str, blocks: int) -> HoldoutSplit:
    buf = set(buffers_around(keys, heldout, buffer)) if buffer > 0 else set()
    order = sorted(keys)
    return HoldoutSplit(mode=mode, train_keys=[k for k in order if k not in heldout and k not in buf],
                        heldout_keys=[k for k in order if k in heldout], buffer_keys=sorted(buf), blocks=blocks)


def block_split(keys: list[SliceKey], blocks: int, buffer: int = BUFFER_SLICES,
                flag: str = "--holdout-blocks") -> HoldoutSplit:
    """Hold out ``blocks`` contiguous runs of slices (every BLOCK_PERIOD-th of ``BLOCK_PERIOD * blocks``
    blocks), with ``buffer`` slices on each side of every run excluded from training and scoring."""
    n = len(keys)
    if blocks < 1:
        raise InputError(f"{flag} must be >= 1, got {blocks}")
    if n < BLOCK_PERIOD * blocks:
        raise InputError(f"{flag} {blocks}: needs at least {BLOCK_PERIOD * blocks} slices, the dataset has {n}; "
                         f"fix: a smaller {flag} (at most {n // BLOCK_PERIOD})")
    which = contiguous_blocks(keys, BLOCK_PERIOD * blocks)
    held = {k for k, b in which.items() if b % BLOCK_PERIOD == BLOCK_PERIOD - 1}
    out = _split(keys, held, buffer, "blocks", blocks)
    if not out.train_keys:
        raise InputError(f"{flag} {blocks}: no training slice left after the held-out blocks and their buffers; "
                         f"fix: a smaller {flag}")
    return out


def leave_block_out(keys: list[SliceKey], blocks: int, block: int, buffer: int = BUFFER_SLICES) -> HoldoutSplit:
    """Delete-one-block split: block ``block`` of ``blocks`` contiguous blocks held out (for jackknife
    folds), ``buffer`` slices on each side of it excluded from training and scoring."""
    if not 0 <= block < blocks:
        raise InputError(f"block {block} out of range for {blocks} blocks")
    which = contiguous_blocks(keys, blocks)
    return _split(keys, {k for k, b in which.items() if b == block}, buffer, "blocks", 1)


def resolve_holdout_chroms(chroms: list[int], spec: str) -> list[int]:
    """Held-out chromosomes of ``--holdout-chroms``: 'auto' = the last quarter (1 to 3; none below
    MIN_AUTO_CHROMS chromosomes, where :func:`resolve_split` uses blocks), 'none', or a list as
    ``--chroms`` takes it (:func:`deepwas_dist.data.chroms.parse_chroms`: '6,7,8', '20-22', 'X')."""
    if spec == "none":
        return []
    if spec == "auto":
        if len(chroms) < MIN_AUTO_CHROMS:
            return []
        return chroms[-auto_count(len(chroms)):]
    out = parse_chroms(spec, "--holdout-chroms")
    bad = [c for c in out if c not in chroms]
    if bad:
        raise InputError(f"--holdout-chroms: {bad} not in the dataset (chromosomes {chroms})")
    if len(out) >= len(chroms):
        raise InputError("--holdout-chroms leaves no chromosome to train on; fix: hold out fewer, or use "
                         "--holdout-blocks K to hold out slices within chromosomes")
    return out


def resolve_split(keys: list[SliceKey], holdout_chroms: str = "auto", holdout_blocks: int = 0,
                  val_chroms: str = "none") -> HoldoutSplit:
    """The split of ``keys`` that ``--holdout-chroms``, ``--holdout-blocks`` and ``--val-chroms`` ask for
    (see the module)."""
    return with_validation(heldout_split(keys, holdout_chroms, holdout_blocks), val_chroms)


def check_chromosome_split(chroms: list[int], holdout_chroms: str, val_chroms: str = "none") -> HoldoutSplit:
    """The chromosome-level split of ``chroms`` that the flags ask for, before any slice exists: experiments
    call it before they simulate, so a bad --holdout-chroms or --val-chroms fails at once."""
    return resolve_split([(c, 0) for c in chroms], holdout_chroms, 0, val_chroms)


def with_validation(split: HoldoutSplit, spec: str) -> HoldoutSplit:
    """``split`` with the ``--val-chroms`` chromosomes moved from its training slices to ``val_keys``."""
    if spec in ("none", "", None):
        return split
    chroms = sorted({c for c, _ in split.train_keys})
    if len(chroms) < 2:
        raise InputError(f"--val-chroms {spec}: validation takes whole chromosomes out of training, and this run "
                         f"trains on chromosome(s) {chroms} only; fix: drop --val-chroms (or hold out fewer "
                         "chromosomes with --holdout-chroms)")
    if spec == "auto":
        val = chroms[-auto_count(len(chroms)):]
    else:
        val = parse_chroms(spec, "--val-chroms")
        bad = [c for c in val if c not in chroms]
        if bad:
            raise InputError(f"--val-chroms: {bad} are not training chromosomes (training: {chroms}; held out: "
                             f"{split.heldout_chroms or split.describe()}); fix: name training chromosomes")
        if len(val) >= len(chroms):
            raise InputError(f"--val-chroms {spec} leaves no chromosome to train on (training: {chroms}); fix: "
                             "validate on fewer")
    return replace(split, train_keys=[k for k in split.train_keys if k[0] not in val],
                   val_keys=[k for k in split.train_keys if k[0] in val], val_chroms=sorted(val))


def heldout_split(keys: list[SliceKey], holdout_chroms: str = "auto", holdout_blocks: int = 0) -> HoldoutSplit:
    """The split of ``keys`` that ``--holdout-chroms`` and ``--holdout-blocks`` ask for, before validation."""
    chroms = sorted({c for c, _ in keys})
    if holdout_blocks:
        if holdout_chroms not in ("auto", "", None):
            raise InputError(f"--holdout-blocks {holdout_blocks} and --holdout-chroms {holdout_chroms}: give one "
                             "of them (block hold-out is within chromosomes, chromosome hold-out is whole ones)")
        return block_split(keys, holdout_blocks)
    if holdout_chroms == "auto" and len(chroms) < MIN_AUTO_CHROMS:
        if len(keys) < BLOCK_PERIOD:
            return HoldoutSplit(mode="none", train_keys=sorted(keys), heldout_keys=[])
        runs = int(np.clip(len(keys) // AUTO_SLICES_PER_RUN, 1, AUTO_MAX_RUNS))
        return block_split(keys, runs, flag="--holdout-chroms auto (block fallback)")
    held = resolve_holdout_chroms(chroms, holdout_chroms)
    order = sorted(keys)
    return HoldoutSplit(mode="chroms" if held else "none", train_keys=[k for k in order if k[0] not in held],
                        heldout_keys=[k for k in order if k[0] in held], heldout_chroms=held)
