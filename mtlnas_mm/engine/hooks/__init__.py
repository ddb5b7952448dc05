from .architecture_hook import GATE_HISTORY, ArchitectureHook
from .min_entropy_hook import MinEntropyHook, poly_ramp
from .rng_state_hook import (RESUMED_RNG_STATE, RNGStateHook, get_rng_state,
                             set_rng_state)
from .task_check_hook import TaskCheckHook

__all__ = [
    'ArchitectureHook', 'MinEntropyHook', 'RNGStateHook',
    'TaskCheckHook', 'poly_ramp',
    'get_rng_state', 'set_rng_state', 'GATE_HISTORY', 'RESUMED_RNG_STATE'
]
