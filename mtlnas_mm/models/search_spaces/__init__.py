"""Search spaces: modules that own architecture parameters and implement
:class:`BaseSearchSpace` (the one interface algorithms, hooks and tools
use)."""
from .base import ARCH_STEP, STEPS, WEIGHT_STEP, BaseSearchSpace
from .darts_cells import DartsCellSpace, MixedOp, SearchCell
from .fusion_edges import BINARY_MARGIN, GATE_MODES, FusionEdges
from .share_routing import ROUTE_MODES, ShareRoutes

__all__ = [
    'ARCH_STEP', 'STEPS', 'WEIGHT_STEP', 'BaseSearchSpace', 'BINARY_MARGIN',
    'GATE_MODES', 'DartsCellSpace', 'FusionEdges', 'MixedOp', 'ROUTE_MODES',
    'SearchCell', 'ShareRoutes'
]
