"""Backbones that run layer by layer (``StagedBackboneMixin``) and the
task columns built of them; they never import the search spaces (which
are built on them).
"""
from .staged import StagedBackboneMixin, block_end_layers, run_staged
from .staged_mlp import StagedMLP
from .staged_resnet import StagedResNet
from .task_columns import TaskColumns
from .vgg_largefov import VGGLargeFOV

__all__ = [
    'StagedBackboneMixin', 'block_end_layers', 'run_staged', 'StagedMLP',
    'StagedResNet', 'TaskColumns', 'VGGLargeFOV'
]
