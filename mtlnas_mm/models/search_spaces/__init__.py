"""Search spaces: modules that own architecture parameters and implement
:class:`BaseSearchSpace` (the one interface algorithms, hooks and tools
use), and the networks made of them that are backbones too
(``CellMultiTaskBackbone``: MTNAS's cell trunk and branches;
``ShareRoutes``).  Search spaces import backbones, never the reverse."""
from .base import ARCH_STEP, STEPS, WEIGHT_STEP, BaseSearchSpace
from .cell_network import CellDecoderBranch, CellMultiTaskBackbone, CellTrunk
from .darts_cells import DartsCellSpace, MixedOp, SearchCell
from .fusion_edges import BINARY_MARGIN, GATE_MODES, FusionEdges
from .share_routing import ROUTE_MODES, ShareRoutes

__all__ = [
    'ARCH_STEP', 'STEPS', 'WEIGHT_STEP', 'BaseSearchSpace', 'BINARY_MARGIN',
    'CellDecoderBranch', 'CellMultiTaskBackbone', 'CellTrunk',
    'GATE_MODES', 'DartsCellSpace', 'FusionEdges', 'MixedOp', 'ROUTE_MODES',
    'SearchCell', 'ShareRoutes'
]
