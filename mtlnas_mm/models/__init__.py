"""Models of mtlnas_mm, all registered in mmseg's ``MODELS`` registry."""
from .backbones import StagedResNet, VGGLargeFOV
from .data_preprocessor import MultiTaskDataPreProcessor
from .heads import (DenseRegressionHead, ImageClassificationHead,
                    LargeFOVHead)
from .losses import CosineNormalLoss, MaskedDepthLoss
from .necks import CrossStitchFusion, EdgeGates, FusionEdgeNeck, NDDRFusion
from .segmentors import MultiTaskSupernet

__all__ = [
    'StagedResNet', 'VGGLargeFOV', 'MultiTaskDataPreProcessor',
    'DenseRegressionHead', 'ImageClassificationHead', 'LargeFOVHead',
    'CosineNormalLoss', 'MaskedDepthLoss', 'CrossStitchFusion', 'EdgeGates',
    'FusionEdgeNeck', 'NDDRFusion', 'MultiTaskSupernet'
]
