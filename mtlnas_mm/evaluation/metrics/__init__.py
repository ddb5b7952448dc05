"""Multi-task metrics (registered in mmseg's METRICS; ``MultiTaskMetric``
also in EVALUATOR, see :class:`MultiTaskEvaluator`)."""
from .dense_metric import BaseDenseMetric
from .depth_metric import PooledDepthMetric
from .multi_task_metric import (DEFAULT_LOWER_IS_BETTER, MultiTaskEvaluator,
                                MultiTaskMetric, delta_m, is_lower_better)
from .normal_metric import SurfaceNormalMetric, normal_angles

__all__ = [
    'BaseDenseMetric', 'SurfaceNormalMetric', 'PooledDepthMetric',
    'MultiTaskMetric', 'MultiTaskEvaluator', 'normal_angles',
    'DEFAULT_LOWER_IS_BETTER', 'delta_m', 'is_lower_better'
]
