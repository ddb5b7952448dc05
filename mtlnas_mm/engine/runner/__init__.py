from .bilevel_loop import BilevelIterBasedTrainLoop
from .samplers import MixedSplitSampler

__all__ = ['BilevelIterBasedTrainLoop', 'MixedSplitSampler']
