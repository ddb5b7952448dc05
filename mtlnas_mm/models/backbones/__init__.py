from .staged import StagedBackboneMixin, block_end_layers
from .staged_resnet import StagedResNet
from .vgg_largefov import VGGLargeFOV

__all__ = [
    'StagedBackboneMixin', 'block_end_layers', 'StagedResNet', 'VGGLargeFOV'
]
