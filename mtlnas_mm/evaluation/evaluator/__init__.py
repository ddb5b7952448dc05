"""Evaluators (registered in mmseg's EVALUATOR)."""
from .multi_task_evaluator import (DEFAULT_LOWER_IS_BETTER, MultiTaskEvaluator,
                                   delta_m, is_lower_better)

__all__ = [
    'DEFAULT_LOWER_IS_BETTER', 'MultiTaskEvaluator', 'delta_m',
    'is_lower_better'
]
