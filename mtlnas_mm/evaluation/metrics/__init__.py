"""Dense task metrics (registered in mmseg's METRICS)."""
from .dense_metric import BaseDenseMetric
from .depth_metric import PooledDepthMetric
from .iou_metric import AllClassIoUMetric
from .libmtl_metric import LibMTLDepthMetric, LibMTLNormalMetric
from .normal_metric import SurfaceNormalMetric, normal_angles

__all__ = [
    'AllClassIoUMetric', 'BaseDenseMetric', 'SurfaceNormalMetric',
    'PooledDepthMetric', 'normal_angles', 'LibMTLDepthMetric',
    'LibMTLNormalMetric'
]
