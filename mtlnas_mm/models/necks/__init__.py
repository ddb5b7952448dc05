from .edge_gates import GATE_MODES, EdgeGates
from .fusion_edge_neck import FusionEdgeNeck
from .fusion_ops import CrossStitchFusion, NDDRFusion, build_fusion

__all__ = [
    'GATE_MODES', 'EdgeGates', 'FusionEdgeNeck', 'CrossStitchFusion',
    'NDDRFusion', 'build_fusion'
]
