"""Evaluation: the multi-task evaluator (Delta_m) and the dense metrics."""
from .evaluator import *  # noqa: F401,F403
from .metrics import *  # noqa: F401,F403
