"""Start every fused model exactly at the single-task networks it is built
from (the project's identity-start option; off in the official recipe)."""
import itertools
from typing import Iterator

import torch
from mmengine.dist import all_reduce, get_dist_info, is_distributed
from mmengine.hooks import Hook
from mmengine.logging import print_log
from torch.utils.data import DataLoader

from mmseg.registry import HOOKS
from mtlnas_mm.models.layers.identity_start import init_fusion_identity
from .utils import runner_model


@HOOKS.register_module()
class FusionIdentityStartHook(Hook):
    """Before the first iteration, make every NDDR fusion op the identity
    of its own feature (:func:`~mtlnas_mm.models.layers.identity_start.
    init_fusion_identity`), from the statistics of ``num_batches`` training
    batches of the weight-step loader's data set (for a search's mixed
    split the whole training set: statistics only, no gradient), its
    pipeline and batch size.

    With the fusion conv init ``(1, 0)`` the fused model (MTL-NAS search,
    NDDR-CNN, a random architecture) then computes at step 0, in train mode
    too, what the trained single-task pair loaded by ``init_from``
    computes, instead of a re-standardised copy of it.  A resumed run
    (``runner.iter > 0``) keeps its checkpointed BN parameters.  Runs after
    ``init_from`` (``init_weights``) and ``load_from``.

    The batches are drawn from the data set with a generator of their own
    (seed ``runner.seed`` + rank), never through the training loader: a
    second iterator of mmengine's ``InfiniteSampler`` shares its index
    generator with the loop's, and closing it would end the loop's data.

    Args:
        num_batches: training batches whose statistics set the BNs.
    """

    priority = 'HIGH'

    def __init__(self, num_batches: int = 4) -> None:
        if not isinstance(num_batches, int) or num_batches < 1:
            raise ValueError('FusionIdentityStartHook.num_batches must be a '
                             f'positive int, got {num_batches!r}')
        self.num_batches = num_batches

    def before_train(self, runner) -> None:
        if runner.iter > 0:
            print_log('FusionIdentityStartHook: resumed run, the fusion BNs '
                      'keep their checkpointed values', logger='current')
            return
        model = runner_model(runner)
        loader = runner.train_loop.dataloader
        was_training = model.training

        def run_batches() -> None:
            model.train()
            for batch in self.batches(loader, runner.seed):
                data = model.data_preprocessor(batch, True)
                model(**data, mode='tensor')

        def reduce(t: torch.Tensor) -> torch.Tensor:
            if is_distributed():
                all_reduce(t, op='sum')
            return t

        with torch.no_grad():
            count = init_fusion_identity(model, run_batches, reduce)
        model.train(was_training)
        print_log(f'FusionIdentityStartHook: {count} fusion ops start as '
                  f'the identity ({self.num_batches} batches)',
                  logger='current')

    def batches(self, loader: DataLoader, seed: int) -> Iterator[dict]:
        """``num_batches`` batches of ``loader``'s size from its data set
        (pipeline applied, its ``collate_fn``), in an order drawn with
        ``seed`` + rank, cycling through the set if it is smaller."""
        rank, _ = get_dist_info()
        dataset, size = loader.dataset, loader.batch_size or 1
        g = torch.Generator().manual_seed(seed + rank)
        order = torch.randperm(len(dataset), generator=g).tolist()
        indices = list(itertools.islice(itertools.cycle(order),
                                        self.num_batches * size))
        for k in range(self.num_batches):
            chunk = indices[k * size:(k + 1) * size]
            yield loader.collate_fn([dataset[i] for i in chunk])
