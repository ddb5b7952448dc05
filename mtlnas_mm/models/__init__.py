"""Models of mtlnas_mm, all registered in mmseg's ``MODELS`` registry.

``backbones/`` (staged backbones, :class:`TaskColumns`), ``layers/``
(fusion ops, DARTS cell ops), ``search_spaces/`` (the interface, the
MTL-NAS fusion edges, the DARTS cells and the MTNAS cell network, the share
routes; search spaces import backbones, never the reverse), ``heads/``,
``losses/``, ``networks/`` (the plain :class:`MultiTaskNetwork`, the
tabular :class:`MultiTaskRegressor`, loading task checkpoints) and
``algorithms/`` (:class:`MTLNAS`, :class:`MTNAS`, :class:`ShareRouting`).
"""
from .algorithms import MTLNAS, MTNAS, BaseNASAlgorithm, ShareRouting
from .backbones import StagedMLP, StagedResNet, TaskColumns, VGGLargeFOV
from .data_preprocessor import MultiTaskDataPreProcessor
from .heads import (DenseRegressionHead, ImageClassificationHead,
                    LargeFOVHead)
from .layers import CrossStitchFusion, NDDRFusion
from .losses import CosineNormalLoss, MaskedDepthLoss
from .networks import MultiTaskNetwork, MultiTaskRegressor
from .search_spaces import (BaseSearchSpace, CellMultiTaskBackbone,
                            DartsCellSpace, FusionEdges, ShareRoutes)

__all__ = [
    'MTLNAS', 'MTNAS', 'BaseNASAlgorithm', 'CellMultiTaskBackbone',
    'DartsCellSpace', 'ShareRouting', 'ShareRoutes', 'MultiTaskRegressor',
    'StagedMLP', 'StagedResNet', 'TaskColumns',
    'VGGLargeFOV', 'MultiTaskDataPreProcessor', 'DenseRegressionHead',
    'ImageClassificationHead', 'LargeFOVHead', 'CrossStitchFusion',
    'NDDRFusion', 'CosineNormalLoss', 'MaskedDepthLoss', 'BaseSearchSpace',
    'FusionEdges', 'MultiTaskNetwork'
]
