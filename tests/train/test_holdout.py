"""The hold-out split: whole chromosomes, or contiguous runs of slices within chromosomes with buffers."""
from __future__ import annotations

import pytest

from deepwas_dist.errors import InputError
from deepwas_dist.train.config import TrainConfig
from deepwas_dist.train.holdout import (
    BUFFER_SLICES,
    HoldoutSplit,
    block_split,
    buffers_around,
    contiguous_blocks,
    leave_block_out,
    resolve_split,
)


def keys_of(*counts: int) -> list[tuple[int, int]]:
    """Slice keys of chromosomes 1, 2, ... with the given numbers of slices."""
    return [(c, s) for c, n in enumerate(counts, 1) for s in range(n)]


def runs(keys: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Maximal runs of consecutive slices (same chromosome, consecutive slice ids)."""
    out: list[list[tuple[int, int]]] = []
    for k in sorted(keys):
        if out and out[-1][-1][0] == k[0] and out[-1][-1][1] + 1 == k[1]:
            out[-1].append(k)
        else:
            out.append([k])
    return out


def check_partition(split: HoldoutSplit, keys: list[tuple[int, int]]) -> None:
    tr, ho, bu = set(split.train_keys), set(split.heldout_keys), set(split.buffer_keys)
    assert not (tr & ho) and not (tr & bu) and not (ho & bu)
    assert tr | ho | bu == set(keys)
    assert len(split.train_keys) + len(split.heldout_keys) + len(split.buffer_keys) == len(keys)


@pytest.mark.parametrize("counts,blocks", [((36,), 2), ((36,), 3), ((10,), 1), ((7, 9), 2), ((12, 12, 12), 3)])
def test_block_split_is_contiguous_buffered_partition(counts, blocks):
    keys = keys_of(*counts)
    split = block_split(keys, blocks)
    check_partition(split, keys)
    assert split.mode == "blocks" and split.blocks == blocks
    ho = set(split.heldout_keys)
    # about a quarter held out, in contiguous runs within chromosomes (a run crossing a chromosome
    # boundary counts as two)
    assert abs(len(ho) - len(keys) / 4) <= blocks
    assert blocks <= len(runs(split.heldout_keys)) <= blocks + len(counts) - 1
    # every held-out run has one buffer slice on each side within its chromosome, and no training
    # slice touches a held-out one
    n_of = dict(enumerate(counts, 1))
    for run in runs(split.heldout_keys):
        (c, first), (_, last) = run[0], run[-1]
        for s in (first - 1, last + 1):
            if 0 <= s < n_of[c]:
                assert (c, s) in split.buffer_keys
    for c, s in split.train_keys:
        assert (c, s - 1) not in ho and (c, s + 1) not in ho
    # buffers are only next to held-out slices
    for c, s in split.buffer_keys:
        assert (c, s - 1) in ho or (c, s + 1) in ho
    assert block_split(keys, blocks) == split          # deterministic


def test_chr22_like_split_numbers():
    """36 slices, 2 runs: 8 blocks of 4-5 slices, blocks 4 and 8 held out; buffers 3 (the last run ends the
    chromosome)."""
    split = block_split(keys_of(36), 2)
    assert split.heldout_keys == [(1, s) for s in list(range(13, 18)) + list(range(31, 36))]
    assert split.buffer_keys == [(1, 12), (1, 18), (1, 30)]
    assert len(split.train_keys) == 23


def test_buffers_do_not_cross_chromosomes():
    keys = keys_of(3, 3)
    assert buffers_around(keys, {(1, 2)}) == [(1, 1)]
    assert buffers_around(keys, {(2, 0)}) == [(2, 1)]
    assert buffers_around(keys, {(1, 1)}, width=BUFFER_SLICES) == [(1, 0), (1, 2)]


def test_impossible_block_settings_name_the_flag():
    with pytest.raises(InputError, match="--holdout-blocks 3: needs at least 12 slices.*at most 2"):
        block_split(keys_of(10), 3)
    with pytest.raises(InputError, match="--holdout-blocks must be >= 1"):
        block_split(keys_of(10), 0)
    with pytest.raises(InputError, match="--holdout-blocks 2 and --holdout-chroms 1"):
        resolve_split(keys_of(8, 8), "1", 2)
    with pytest.raises(InputError, match="--holdout-blocks must be >= 0"):
        TrainConfig(holdout_blocks=-1).validate()


def test_auto_uses_chromosomes_from_four_and_blocks_below():
    four = keys_of(3, 3, 3, 3)
    split = resolve_split(four, "auto", 0)
    assert split.mode == "chroms" and split.heldout_chroms == [4] and not split.buffer_keys
    check_partition(split, four)
    one = keys_of(36)
    auto = resolve_split(one, "auto", 0)
    assert auto == block_split(one, 2)                 # 36 // 16 = 2 runs
    assert resolve_split(keys_of(10), "auto", 0) == block_split(keys_of(10), 1)
    tiny = resolve_split(keys_of(3), "auto", 0)        # too few slices to hold out: nothing (and a warning)
    assert tiny.mode == "none" and not tiny.heldout_keys and len(tiny.train_keys) == 3
    assert resolve_split(one, "none", 0).heldout_keys == []
    assert resolve_split(keys_of(8, 8), "auto", 2) == block_split(keys_of(8, 8), 2)


def test_split_round_trips_through_json_dict():
    import json
    split = block_split(keys_of(20, 5), 2)
    assert HoldoutSplit.from_dict(json.loads(json.dumps(split.to_dict()))) == split


def test_leave_block_out_matches_contiguous_blocks():
    keys = keys_of(20)
    which = contiguous_blocks(keys, 4)
    no_buf = leave_block_out(keys, 4, 1, buffer=0)
    assert no_buf.heldout_keys == sorted(k for k, b in which.items() if b == 1) and not no_buf.buffer_keys
    buf = leave_block_out(keys, 4, 1)
    assert buf.heldout_keys == no_buf.heldout_keys and buf.buffer_keys == [(1, 4), (1, 10)]
    check_partition(buf, keys)


def test_holdout_blocks_flag_reaches_the_config(tmp_path):
    import importlib.util
    from pathlib import Path

    from deepwas_dist.train.config import make_config, read_config_file
    spec = importlib.util.spec_from_file_location("train_cli", Path(__file__).parents[2] / "launch" / "train.py")
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    args = vars(cli.parser().parse_args(["--holdout-blocks", "2"]))
    args.pop("config")
    assert make_config({}, args).holdout_blocks == 2
    f = tmp_path / "run.yaml"
    f.write_text("holdout-blocks: 3\n")
    assert make_config(read_config_file(f), {}).holdout_blocks == 3
    assert TrainConfig().holdout_blocks == 0


def test_validation_chromosomes_come_out_of_training_only():
    keys = keys_of(*[3] * 8)
    split = resolve_split(keys, "7-8", 0, "auto")          # 6 training chromosomes: the last quarter is one
    assert split.val_chroms == [6] and split.heldout_chroms == [7, 8]
    assert split.val_keys == [(6, s) for s in range(3)]
    assert {c for c, _ in split.train_keys} == {1, 2, 3, 4, 5}
    both = set(split.train_keys) | set(split.heldout_keys) | set(split.val_keys)
    assert both == set(keys) and len(both) == len(keys)    # a partition: nothing lost, nothing twice
    assert resolve_split(keys, "7-8", 0, "2,5").val_chroms == [2, 5]
    assert resolve_split(keys, "7-8", 0).val_keys == []                  # off by default
    genome = resolve_split(keys_of(*[2] * 22), "auto", 0, "auto")
    assert genome.heldout_chroms == [20, 21, 22] and genome.val_chroms == [17, 18, 19]
    assert HoldoutSplit.from_dict(split.to_dict()) == split
    assert "validation chromosomes [6]" in split.describe()


def test_validation_errors_name_the_flag():
    keys = keys_of(*[3] * 8)
    with pytest.raises(InputError, match=r"--val-chroms: \[7\] are not training chromosomes"):
        resolve_split(keys, "7-8", 0, "7")
    with pytest.raises(InputError, match="--val-chroms 1-6 leaves no chromosome to train on"):
        resolve_split(keys, "7-8", 0, "1-6")
    with pytest.raises(InputError, match=r"--val-chroms auto: .* trains on chromosome\(s\) \[1\] only"):
        resolve_split(keys_of(40), "auto", 0, "auto")          # one chromosome: block hold-out within it
    with pytest.raises(InputError, match="--patience 3 stops on the validation NLL; fix: add --val-chroms"):
        TrainConfig(patience=3).validate()
    with pytest.raises(InputError, match="--patience must be >= 0"):
        TrainConfig(patience=-1, val_chroms="auto").validate()
