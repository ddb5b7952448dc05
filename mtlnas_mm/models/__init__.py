"""Models of mtlnas_mm, all registered in mmseg's ``MODELS`` registry.

``backbones/`` (staged backbones, :class:`TaskColumns`), ``layers/``
(fusion ops), ``search_spaces/`` (the interface, the MTL-NAS fusion
edges, the share routes), ``heads/``, ``losses/``, ``segmentors/`` (the plain
:class:`MultiTaskNetwork`, the tabular :class:`MultiTaskRegressor`) and
``algorithms/`` (:class:`MTLNAS`, :class:`ShareRouting`).
"""
from .algorithms import MTLNAS, BaseNASAlgorithm, ShareRouting
from .backbones import StagedMLP, StagedResNet, TaskColumns, VGGLargeFOV
from .data_preprocessor import MultiTaskDataPreProcessor
from .heads import (DenseRegressionHead, ImageClassificationHead,
                    LargeFOVHead)
from .layers import CrossStitchFusion, NDDRFusion
from .losses import CosineNormalLoss, MaskedDepthLoss
from .search_spaces import BaseSearchSpace, FusionEdges, ShareRoutes
from .segmentors import MultiTaskNetwork, MultiTaskRegressor

__all__ = [
    'MTLNAS', 'BaseNASAlgorithm', 'StagedMLP', 'StagedResNet', 'TaskColumns',
    'VGGLargeFOV', 'MultiTaskDataPreProcessor', 'DenseRegressionHead',
    'ImageClassificationHead', 'LargeFOVHead', 'CrossStitchFusion',
    'NDDRFusion', 'CosineNormalLoss', 'MaskedDepthLoss', 'BaseSearchSpace',
    'FusionEdges', 'MultiTaskNetwork', 'MultiTaskRegressor',
    'ShareRouting', 'ShareRoutes'
]
