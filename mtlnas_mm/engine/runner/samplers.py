"""Samplers that split one training set into a weight half and an
architecture half, redrawn every pass (MTL-NAS ``ARCH.MIXED_DATA``)."""
import itertools
from typing import Iterator, Optional, Sized

import torch
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from mmseg.registry import DATA_SAMPLERS
from mtlnas_mm.models.search_spaces import ARCH_STEP, WEIGHT_STEP

PARTS = (WEIGHT_STEP, ARCH_STEP)


@DATA_SAMPLERS.register_module()
class MixedSplitSampler(Sampler):
    """Infinite sampler over one part of a per-pass random split.

    In pass ``e`` the indices ``0..n-1`` are permuted with a generator
    seeded by ``seed + e``; the first ``round(n * ratio)`` form the
    ``'weight'`` part and the rest the ``'arch'`` part.  Two samplers with
    the same seed and ratio, one per part, therefore always see disjoint
    images within a pass, and over many passes both see the whole set
    (Gao et al., CVPR 2020, Sec. 4).  The pass counter advances when a part
    is exhausted; with equal batch sizes and ``ratio=0.5`` the two parts stay in lockstep.

    Distributed: each rank takes every ``world_size``-th index of its part,
    like mmengine's ``InfiniteSampler``.  The indices depend only on
    ``(seed, pass, position)``, so a resumed run that skips the consumed
    batches continues with the same data.

    Args:
        dataset: the data set to split.
        part: ``'weight'`` or ``'arch'``.
        ratio: fraction of each pass given to the weight part.
        shuffle: redraw the split every pass (False: a fixed split in
            index order, for debugging).
        seed: random seed; synchronised across ranks when None.
    """

    def __init__(self, dataset: Sized, part: str = WEIGHT_STEP,
                 ratio: float = 0.5, shuffle: bool = True,
                 seed: Optional[int] = None) -> None:
        if part not in PARTS:
            raise ValueError(
                f'MixedSplitSampler: part must be one of {PARTS}, got '
                f'{part!r}')
        if not 0.0 < ratio < 1.0:
            raise ValueError(
                f'MixedSplitSampler: ratio must be in (0, 1), got {ratio}')
        self.size = len(dataset)
        self.num_weight = int(round(self.size * ratio))
        if self.num_weight == 0 or self.num_weight == self.size:
            raise ValueError(
                f'MixedSplitSampler: a data set of {self.size} samples '
                f'cannot be split with ratio {ratio} (one part is empty)')
        self.part = part
        self.ratio = ratio
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.rank, self.world_size = get_dist_info()
        self._skip = 0

    def part_indices(self, pass_idx: int) -> list:
        """Indices of this sampler's part in pass ``pass_idx``."""
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + pass_idx)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        if self.part == WEIGHT_STEP:
            return order[:self.num_weight]
        return order[self.num_weight:]

    def _infinite(self) -> Iterator[int]:
        for pass_idx in itertools.count():
            yield from self.part_indices(pass_idx)

    def skip(self, num_indices: int) -> None:
        """Make the next iterator start ``num_indices`` (of this rank)
        later: used on resume to drop consumed batches without loading
        them."""
        self._skip = int(num_indices)

    def __iter__(self) -> Iterator[int]:
        start, self._skip = self.rank + self._skip * self.world_size, 0
        yield from itertools.islice(self._infinite(), start, None,
                                    self.world_size)

    def __len__(self) -> int:
        part = self.num_weight if self.part == WEIGHT_STEP else \
            self.size - self.num_weight
        return part // self.world_size

    def set_epoch(self, epoch: int) -> None:
        """Not used: the sampler is infinite and seeds each pass itself."""
