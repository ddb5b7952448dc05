from .cell_network import (CellDecoderBranch, CellMultiTaskBackbone,
                           CellTrunk)
from .staged import StagedBackboneMixin, block_end_layers, run_staged
from .staged_mlp import StagedMLP
from .staged_resnet import StagedResNet
from .task_columns import TaskColumns
from .vgg_largefov import VGGLargeFOV

__all__ = [
    'CellDecoderBranch', 'CellMultiTaskBackbone', 'CellTrunk',
    'StagedBackboneMixin', 'block_end_layers', 'run_staged', 'StagedMLP',
    'StagedResNet', 'TaskColumns', 'VGGLargeFOV'
]
