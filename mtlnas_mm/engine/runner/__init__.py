from .bilevel_loop import (RNG_STATE, BilevelIterBasedTrainLoop,
                           get_rng_state, set_rng_state)
from .samplers import MixedSplitSampler

__all__ = [
    'BilevelIterBasedTrainLoop', 'MixedSplitSampler', 'RNG_STATE',
    'get_rng_state', 'set_rng_state'
]
