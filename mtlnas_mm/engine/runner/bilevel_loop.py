"""Iteration-based train loop that feeds a bilevel (architecture + weight)
step with batches from two disjoint data splits."""
import copy
import logging
from typing import Dict, List, Optional, Tuple, Union

from mmengine.logging import print_log
from mmengine.runner import IterBasedTrainLoop
from mmengine.runner.loops import _InfiniteDataloaderIterator
from torch.utils.data import DataLoader

from mmseg.registry import LOOPS
from ..hooks.rng_state_hook import RESUMED_RNG_STATE, set_rng_state
from ..train_step import ARCH_BATCH, WEIGHT_BATCH


@LOOPS.register_module()
class BilevelIterBasedTrainLoop(IterBasedTrainLoop):
    """``IterBasedTrainLoop`` whose batches are ``dict(weight=, arch=)``.

    Two ways to get the architecture ("search") split:

    * ``split='mixed'`` (default, MTL-NAS): the training data set is split
      ``ratio : 1-ratio`` by two :class:`MixedSplitSampler` s that share a
      seed, redrawn every pass.  The ``sampler`` of ``train_dataloader`` is
      replaced; batch size, workers and pipeline are shared.
    * ``arch_dataloader=dict(...)``: a separate dataloader config (for
      example another list file or ``indices=``); the train dataloader is
      used unchanged.

    Everything else is mmengine's ``IterBasedTrainLoop``: hooks, validation
    interval, ``stop_training`` and, on resume, skipping the batches that
    were already consumed - for *both* iterators, so a resumed search sees
    the same data as an uninterrupted one.

    Args:
        runner: the runner.
        dataloader: the train dataloader (config or object).
        max_iters: total iterations.
        arch_dataloader: optional dataloader config/object for the
            architecture step.
        split: ``'mixed'`` or ``'separate'``; default: ``'separate'`` when
            ``arch_dataloader`` is given, else ``'mixed'``.
        ratio: weight fraction of the mixed split.
        val_begin, val_interval, dynamic_intervals: as in mmengine.
    """

    def __init__(self,
                 runner,
                 dataloader: Union[DataLoader, Dict],
                 max_iters: int,
                 arch_dataloader: Optional[Union[DataLoader, Dict]] = None,
                 split: Optional[str] = None,
                 ratio: float = 0.5,
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
            dataloader['sampler'] = dict(
                type='MixedSplitSampler', part='weight', ratio=ratio)
            arch_dataloader['sampler'] = dict(
                type='MixedSplitSampler', part='arch', ratio=ratio)
        super().__init__(runner, dataloader, max_iters, val_begin,
                         val_interval, dynamic_intervals)
        if isinstance(arch_dataloader, dict):
            if split == 'mixed':  # one data set object for both parts
                arch_dataloader['dataset'] = self.dataloader.dataset
            arch_dataloader = runner.build_dataloader(
                arch_dataloader, seed=runner.seed)
        self.split = split
        self.arch_dataloader = arch_dataloader
        self.arch_dataloader_iterator = _InfiniteDataloaderIterator(
            arch_dataloader)

    def _next_batch(self) -> dict:
        return {
            WEIGHT_BATCH: next(self.dataloader_iterator),
            ARCH_BATCH: next(self.arch_dataloader_iterator),
        }

    def _skip_consumed(self) -> None:
        """Drop the batches a resumed run has already used.

        Samplers with ``skip`` (:class:`MixedSplitSampler`) jump there
        without loading data; others are advanced batch by batch like
        mmengine does.  Then the RNG state saved with the checkpoint (see
        :class:`RNGStateHook`) is restored.
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
        hub = self.runner.message_hub
        state = hub.get_info(RESUMED_RNG_STATE)
        if state is not None:
            set_rng_state(state)
            hub.update_info(RESUMED_RNG_STATE, None)

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
                self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model
