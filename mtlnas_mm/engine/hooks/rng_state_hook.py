"""Save and restore random-number-generator states with checkpoints."""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook

from mmseg.registry import HOOKS

#: message-hub key under which a resumed RNG state waits for the loop
RESUMED_RNG_STATE = 'resumed_rng_state'


def get_rng_state() -> dict:
    """States of Python's, numpy's and torch's (CPU and CUDA) generators."""
    state = dict(
        python=random.getstate(),
        numpy=np.random.get_state(),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Inverse of :func:`get_rng_state`."""
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Make a resumed search continue with the same random numbers.

    mmengine checkpoints do not hold generator states, so after ``--resume``
    the relaxed-Bernoulli gate samples, dropout masks and data
    augmentations differ from the uninterrupted run.  This hook writes the
    states into every checkpoint (``checkpoint['rng_state']``) and, on
    resume, hands them to :class:`BilevelIterBasedTrainLoop` (through the
    message hub), which restores them *after* skipping the consumed
    batches, i.e. exactly where the uninterrupted run was when it saved.

    Exact replay holds with ``num_workers=0`` (augmentations in the main
    process); with worker processes the augmentations restart from the
    workers' seeds, while gates and dropout still replay exactly.
    """

    priority = 'VERY_HIGH'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state: Optional[dict] = checkpoint.get('rng_state')
        if state is not None:
            runner.message_hub.update_info(RESUMED_RNG_STATE, state)
