"""Start every fused model exactly at the single-task networks it is built
from (the project's identity-start option; off in the official recipe)."""
import itertools

import torch
from mmengine.dist import all_reduce, is_distributed
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmseg.registry import HOOKS
from mtlnas_mm.models.layers.identity_start import init_fusion_identity
from .utils import runner_model


@HOOKS.register_module()
class FusionIdentityStartHook(Hook):
    """Before the first iteration, make every NDDR fusion op the identity
    of its own feature (:func:`~mtlnas_mm.models.layers.identity_start.
    init_fusion_identity`), from the statistics of ``num_batches`` training
    batches (the weight-step loader of a search).

    With the fusion conv init ``(1, 0)`` the fused model (MTL-NAS search,
    NDDR-CNN, a random architecture) then computes at step 0, in train mode
    too, what the trained single-task pair loaded by ``init_from``
    computes, instead of a re-standardised copy of it.  A resumed run
    (``runner.iter > 0``) keeps its checkpointed BN parameters.  Runs after
    ``init_from`` (``init_weights``) and ``load_from``.

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
            for batch in itertools.islice(iter(loader), self.num_batches):
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
