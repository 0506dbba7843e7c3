"""TrackLayout (data/track_layout.py): the writer's per-chromosome checks of track windows."""
from __future__ import annotations

import numpy as np
import pytest

from deepwas_dist.data.manifest import TracksInfo
from deepwas_dist.data.track_layout import TrackLayout
from deepwas_dist.errors import InputError


def _windows(n: int, k: int = 2, w: int = 4) -> np.ndarray:
    return np.zeros((n, k, w), dtype=np.float32)


def test_first_chromosome_sets_the_shape_and_the_rest_must_match():
    t = TrackLayout()
    assert t.info() is None
    assert t.check(_windows(3), ["a", "b"], None, 3, "chr1").shape == (3, 2, 4)
    assert t.info() == TracksInfo(2, 4, names=["a", "b"], dtype="float32")
    with pytest.raises(InputError, match="chr2: track windows \\(3, 4\\) differ"):
        t.check(_windows(5, k=3), None, None, 5, "chr2")
    with pytest.raises(InputError, match="chr3: tracks given for some chromosomes but not others"):
        t.check(None, None, None, 5, "chr3")
    with pytest.raises(InputError, match="3 track names for K=2"):
        TrackLayout().check(_windows(3), ["a", "b", "c"], None, 3, "chr1")


def test_an_update_starts_from_the_dataset_and_can_replace_the_tracks():
    info = TracksInfo(2, 4, names=["a", "b"], ingest={"window_bp": 100}, dtype="float16")
    t = TrackLayout.of(info)
    assert t.info() == info and TrackLayout.of(None).has is False
    t.forget_shape()                                    # set_annotations with new tracks
    t.check(np.zeros((3, 5, 8), dtype=np.float16), None, None, 3, "chr1")
    assert t.info() == TracksInfo(5, 8, names=None, ingest={"window_bp": 100}, dtype="float16")
