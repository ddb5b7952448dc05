from .architecture_hook import GATE_HISTORY, ArchitectureHook
from .min_entropy_hook import MinEntropyHook, poly_ramp
from .task_check_hook import TaskCheckHook

__all__ = [
    'ArchitectureHook', 'MinEntropyHook', 'TaskCheckHook', 'poly_ramp',
    'GATE_HISTORY'
]
