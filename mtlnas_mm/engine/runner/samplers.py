"""Samplers that split one training set into a weight half and an
architecture half, redrawn every round (MTL-NAS ``ARCH.MIXED_DATA``)."""
import itertools
import math
from typing import Iterator, Optional, Sized

import torch
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from mmseg.registry import DATA_SAMPLERS
from mtlnas_mm.structures import ARCH_STEP, WEIGHT_STEP, check_choice

PARTS = (WEIGHT_STEP, ARCH_STEP)
#: how the weight part's size is rounded (``MixedSplitSampler.rounding``)
ROUNDINGS = ('round', 'floor')


@DATA_SAMPLERS.register_module()
class MixedSplitSampler(Sampler):
    """Infinite sampler over one part of a per-round random split.

    In round ``r`` the indices ``0..n-1`` are permuted with a generator
    seeded by ``seed + r``; the first ``round(n * ratio)`` (``rounding=
    'round'``) or ``floor(n * ratio)`` (``'floor'``, the official MTL-NAS
    code's ``int(0.5 * 795) = 397``) form the ``'weight'`` part and the
    rest the ``'arch'`` part.  A round lasts
    ``ceil(max(part sizes) / (batch_size * world_size))`` iterations for
    *both* parts (the larger part is seen once, the smaller one cycles),
    so the two samplers of a search (same seed, ratio and batch size, one
    per part) are in the same round at every iteration: the weight batch
    and the architecture batch of an iteration never share an image,
    whatever the set size and the batch size (MTL-NAS ``ARCH.MIXED_DATA``,
    Gao et al., CVPR 2020, Sec. 4).  Over many rounds both parts see the
    whole set.

    Distributed: the ``batch_size * world_size`` positions of an iteration
    are dealt to the ranks in turn.  The indices depend only on ``(seed, iteration,
    rank)``, so a resumed run that skips the consumed batches continues
    with the same data.

    Args:
        dataset: the data set to split.
        part: ``'weight'`` or ``'arch'``.
        ratio: fraction of each round given to the weight part.
        batch_size: images per iteration and rank (the loader's; set by
            :class:`BilevelIterBasedTrainLoop`).
        shuffle: redraw the split every round (False: a fixed split in
            index order, for debugging).
        seed: random seed; synchronised across ranks when None.
        rounding: size of the weight part, ``'round'`` (default: 398 of
            795 at ratio 0.5) or ``'floor'`` (397, the official split).
    """

    def __init__(self, dataset: Sized, part: str = WEIGHT_STEP,
                 ratio: float = 0.5, batch_size: int = 1,
                 shuffle: bool = True, seed: Optional[int] = None,
                 rounding: str = 'round') -> None:
        check_choice(part, PARTS, 'MixedSplitSampler: part')
        check_choice(rounding, ROUNDINGS, 'MixedSplitSampler: rounding')
        if not 0.0 < ratio < 1.0:
            raise ValueError(
                f'MixedSplitSampler: ratio must be in (0, 1), got {ratio}')
        if batch_size < 1:
            raise ValueError('MixedSplitSampler: batch_size must be >= 1, '
                             f'got {batch_size}')
        self.size = len(dataset)
        self.num_weight = int(round(self.size * ratio)) \
            if rounding == 'round' else math.floor(self.size * ratio)
        if self.num_weight == 0 or self.num_weight == self.size:
            raise ValueError(
                f'MixedSplitSampler: a data set of {self.size} samples '
                f'cannot be split with ratio {ratio} (one part is empty)')
        self.part = part
        self.ratio = ratio
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.rank, self.world_size = get_dist_info()
        per_iter = self.batch_size * self.world_size
        largest = max(self.num_weight, self.size - self.num_weight)
        #: iterations per round, the same for both parts
        self.round_iters = -(-largest // per_iter)
        self._skip = 0

    def part_indices(self, round_idx: int) -> list:
        """Indices of this sampler's part in round ``round_idx``."""
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + round_idx)
            order = torch.randperm(self.size, generator=g).tolist()
        else:
            order = list(range(self.size))
        if self.part == WEIGHT_STEP:
            return order[:self.num_weight]
        return order[self.num_weight:]

    def batch_indices(self, iteration: int) -> list:
        """This rank's indices of iteration ``iteration``."""
        round_idx, step = divmod(iteration, self.round_iters)
        part = self.part_indices(round_idx)
        # the iteration's positions, dealt to the ranks in turn (as
        # mmengine's InfiniteSampler deals indices)
        start = step * self.batch_size * self.world_size + self.rank
        return [part[(start + k * self.world_size) % len(part)]
                for k in range(self.batch_size)]

    def skip(self, num_indices: int) -> None:
        """Make the next iterator start ``num_indices`` (of this rank)
        later: used on resume to drop consumed batches without loading
        them."""
        self._skip = int(num_indices)

    def __iter__(self) -> Iterator[int]:
        first, self._skip = self._skip // self.batch_size, 0
        for iteration in itertools.count(first):
            yield from self.batch_indices(iteration)

    def __len__(self) -> int:
        return self.round_iters * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Not used: the sampler is infinite and seeds each round itself."""
