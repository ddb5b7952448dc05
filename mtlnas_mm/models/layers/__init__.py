"""Building blocks shared by networks and search spaces."""
from .darts_ops import OPS, FactorizedReduce, ReLUConvBN, build_op
from .fusion_ops import CrossStitchFusion, NDDRFusion, build_fusion

__all__ = [
    'OPS', 'CrossStitchFusion', 'FactorizedReduce', 'NDDRFusion',
    'ReLUConvBN', 'build_fusion', 'build_op'
]
