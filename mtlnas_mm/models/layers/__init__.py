"""Building blocks shared by networks and search spaces."""
from .conv1x1 import Conv1x1, conv1x1, set_conv1x1_backend
from .darts_ops import OPS, FactorizedReduce, ReLUConvBN, build_op
from .fusion_ops import CrossStitchFusion, NDDRFusion, build_fusion
from .identity_start import identity_fusion_ops, init_fusion_identity

__all__ = [
    'Conv1x1', 'conv1x1', 'set_conv1x1_backend', 'OPS', 'CrossStitchFusion',
    'FactorizedReduce', 'NDDRFusion', 'ReLUConvBN', 'build_fusion',
    'build_op', 'identity_fusion_ops', 'init_fusion_identity'
]
