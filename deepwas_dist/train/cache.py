"""A worker's slices: read once from the dataset, kept in memory up to a byte budget (LRU)."""
from __future__ import annotations

from collections import OrderedDict

import torch

from ..data.reader import Dataset, SliceBatch

SliceKey = tuple[int, int]


class SliceCache:
    """LRU cache of :class:`SliceBatch` by (chrom, slice id) for one dataset, trait list and bandwidth."""

    def __init__(self, dataset: Dataset, traits: list[str], *, bandwidth_kb: float | None, device: torch.device,
                 dtype: str = "float64", max_bytes: float = 2 * 1024 ** 3, keep_variance: float | None = None):
        self.ds, self.traits, self.bandwidth_kb, self.keep_variance = dataset, traits, bandwidth_kb, keep_variance
        self.device, self.dtype, self.max_bytes = device, dtype, max_bytes
        self._items: OrderedDict[SliceKey, SliceBatch] = OrderedDict()
        self._bytes: dict[SliceKey, int] = {}
        self.hits = self.misses = 0

    def get(self, key: SliceKey) -> SliceBatch:
        """The slice, from memory or storage."""
        if key in self._items:
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key]
        self.misses += 1
        b = self.ds.read_slice(key[0], key[1], self.traits, bandwidth_kb=self.bandwidth_kb, device=self.device,
                               dtype=self.dtype, keep_variance=self.keep_variance)
        size = b.ld.nbytes() + b.features.element_size() * b.features.nelement() + \
            (0 if b.tracks is None else b.tracks.element_size() * b.tracks.nelement())
        self._items[key], self._bytes[key] = b, size
        while sum(self._bytes.values()) > self.max_bytes and len(self._items) > 1:
            old, _ = self._items.popitem(last=False)
            del self._bytes[old]
        return b
