"""Evaluation: the multi-task evaluator (Delta_m) and the dense metrics."""
from .evaluator import *  # noqa: F401,F403
from .metrics import *  # noqa: F401,F403
from .multi_task_gains import LibMTLEvaluator, delta_p  # noqa: F401
