from .architecture_hook import GATE_HISTORY, ArchitectureHook
from .identity_start_hook import FusionIdentityStartHook
from .min_entropy_hook import MinEntropyHook, poly_ramp
from .task_check_hook import TaskCheckHook

__all__ = [
    'ArchitectureHook', 'FusionIdentityStartHook', 'MinEntropyHook',
    'TaskCheckHook', 'poly_ramp', 'GATE_HISTORY'
]
