"""Iteration-based train loop that feeds a bilevel (architecture + weight)
step with batches from two disjoint data splits."""
import copy
import logging
import random
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
import torch
from mmengine.dist import broadcast_object_list
from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop
from mmengine.runner.loops import _InfiniteDataloaderIterator
from torch.utils.data import DataLoader

from mmseg.registry import LOOPS
from mtlnas_mm.models.search_spaces import ARCH_STEP, WEIGHT_STEP

#: message-hub key of the generator states after the last iteration; the
#: message hub is saved in every checkpoint, so a resume restores them
RNG_STATE = 'rng_state'


def get_rng_state() -> dict:
    """States of Python's, numpy's and torch's (CPU and CUDA) generators."""
    state = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()  # this rank's device
    return state


def set_rng_state(state: dict) -> None:
    """Inverse of :func:`get_rng_state`."""
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'])


@LOOPS.register_module()
class BilevelIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` whose batches are ``dict(weight=, arch=)``.

    Two ways to get the architecture ("search") split:

    * ``split='mixed'`` (default, MTL-NAS): the training data set is split
      ``ratio : 1-ratio`` by two :class:`MixedSplitSampler` s that share a
      seed, redrawn every round; the two batches of an iteration never
      share an image.  The ``sampler`` of ``train_dataloader`` is
      replaced; batch size, workers and pipeline are shared.
    * ``arch_dataloader=dict(...)``: a separate dataloader config (for
      example another list file or ``indices=``); the train dataloader is
      used unchanged.

    Everything else is mmengine's ``IterBasedTrainLoop``: hooks, validation
    interval, ``stop_training`` and, on resume, skipping the batches that
    were already consumed - for *both* iterators, so a resumed search sees
    the same data as an uninterrupted one.

    Exact resume: after every iteration the loop records the generator
    states in the message hub (saved with every checkpoint); a resumed run
    restores them after skipping the consumed batches, i.e. where the
    uninterrupted run was when it saved, so gate samples, dropout and
    augmentations replay (augmentations exactly with ``num_workers=0``;
    worker processes restart from their seeds).  Validation inside the
    search runs between a saved and a restored generator state, so it does
    not shift the training stream.  Under DDP the checkpoint holds rank 0's
    states, which every rank restores: exact on one process, not on ranks
    > 0.

    ``run`` and ``run_iter`` follow mmengine 0.10.7's
    ``IterBasedTrainLoop`` (which has no hook for a second data stream) and
    use its private ``_InfiniteDataloaderIterator``, as MMRazor's search
    loops do; nothing public in mmengine yields two batches per iteration.

    Args:
        runner: the runner.
        dataloader: the train dataloader (config or object).
        max_iters: total iterations.
        arch_dataloader: optional dataloader config/object for the
            architecture step.
        split: ``'mixed'`` or ``'separate'``; default: ``'separate'`` when
            ``arch_dataloader`` is given, else ``'mixed'``.
        ratio: weight fraction of the mixed split.
        split_rounding: ``'round'`` (default) or ``'floor'`` (the official
            397 / 398 split of 795 images): :class:`MixedSplitSampler`'s
            ``rounding``.
        val_begin, val_interval, dynamic_intervals: as in mmengine.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 max_iters: int,
                 arch_dataloader: Optional[Union[DataLoader, Dict]] = None,
                 split: Optional[str] = None,
                 ratio: float = 0.5,
                 split_rounding: str = 'round',
                 val_begin: int = 1,
                 val_interval: int = 1000,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None
                 ) -> None:
        split = split or ('separate' if arch_dataloader is not None
                          else 'mixed')
        if split not in ('mixed', 'separate'):
            raise ValueError(f"train_cfg.split must be 'mixed' or "
                             f"'separate', got {split!r}")
        if split == 'separate' and arch_dataloader is None:
            raise ValueError("train_cfg.split='separate' needs "
                             'train_cfg.arch_dataloader')
        if split == 'mixed':
            if arch_dataloader is not None:
                raise ValueError("train_cfg.split='mixed' splits the train "
                                 'set itself; remove arch_dataloader')
            if not isinstance(dataloader, dict):
                raise TypeError("train_cfg.split='mixed' needs "
                                'train_dataloader as a config dict')
            dataloader = copy.deepcopy(dict(dataloader))
            arch_dataloader = copy.deepcopy(dataloader)
            # both parts advance one batch per iteration and share one
            # split seed (rank 0's, also with diff_rank_seed): disjoint
            batch_size = dataloader.get('batch_size', 1)
            seed = [runner.seed]
            broadcast_object_list(seed)
            for loader, part in ((dataloader, WEIGHT_STEP),
                                 (arch_dataloader, ARCH_STEP)):
                loader['sampler'] = dict(
                    type='MixedSplitSampler', part=part, ratio=ratio,
                    batch_size=batch_size, seed=seed[0],
                    rounding=split_rounding)
        super().__init__(runner, dataloader, max_iters, val_begin,
                         val_interval, dynamic_intervals)
        if isinstance(arch_dataloader, dict):
            if split == 'mixed':  # one data set object for both parts
                arch_dataloader['dataset'] = self.dataloader.dataset
            # seed + 1: its workers draw other augmentations than the
            # weight loader's (a mixed split's sampler seed is set above)
            arch_dataloader = runner.build_dataloader(
                arch_dataloader, seed=runner.seed + 1)
        self.split = split
        self.arch_dataloader = arch_dataloader
        self.arch_dataloader_iterator = _InfiniteDataloaderIterator(
            arch_dataloader)

    def _next_batch(self) -> dict:
        return {
            WEIGHT_STEP: next(self.dataloader_iterator),
            ARCH_STEP: next(self.arch_dataloader_iterator),
        }

    def _skip_consumed(self) -> None:
        """Drop the batches a resumed run has already used.

        Samplers with ``skip`` (:class:`MixedSplitSampler`) jump there
        without loading data; others are advanced batch by batch like
        mmengine does.  Then the generator states saved with the
        checkpoint are restored.
        """
        loaders = (self.dataloader, self.arch_dataloader)
        samplers = [getattr(dl, 'sampler', None) for dl in loaders]
        if all(hasattr(s, 'skip') for s in samplers):
            for dl, sampler in zip(loaders, samplers):
                sampler.skip(self._iter * dl.batch_size)
            self.dataloader_iterator = _InfiniteDataloaderIterator(
                self.dataloader)
            self.arch_dataloader_iterator = _InfiniteDataloaderIterator(
                self.arch_dataloader)
        else:
            print_log(
                f'Advance both dataloaders {self._iter} steps to skip data '
                'that has already been used by the search',
                logger='current',
                level=logging.WARNING)
            for _ in range(self._iter):
                self._next_batch()
        state = self.runner.message_hub.get_info(RNG_STATE)
        if state is not None:
            set_rng_state(state)

    def run_iter(self, data_batch: dict) -> None:
        """mmengine's ``run_iter``, recording the generator states after
        the step (before any checkpoint of this iteration is written)."""
        self.runner.call_hook(
            'before_train_iter', batch_idx=self._iter, data_batch=data_batch)
        outputs = self.runner.model.train_step(
            data_batch, optim_wrapper=self.runner.optim_wrapper)
        self.runner.message_hub.update_info(RNG_STATE, get_rng_state())
        self.runner.call_hook(
            'after_train_iter',
            batch_idx=self._iter,
            data_batch=data_batch,
            outputs=outputs)
        self._iter += 1

    def run(self):
        """Launch the search (mmengine's ``IterBasedTrainLoop.run`` with a
        two-split batch)."""
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        if self._iter > 0:
            self._skip_consumed()
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            self.run_iter(self._next_batch())
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None
                    and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0
                         or self._iter == self._max_iters)):
                state = get_rng_state()
                self.runner.val_loop.run()
                set_rng_state(state)
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model
