"""Models of mtlnas_mm, all registered in mmseg's ``MODELS`` registry.

``backbones/`` (staged backbones, :class:`TaskColumns`, the MTNAS cell
network), ``layers/`` (fusion ops, DARTS cell ops), ``search_spaces/``
(the interface, the MTL-NAS fusion edges, the DARTS cells, the share
routes), ``heads/``, ``losses/``, ``segmentors/`` (the plain
:class:`MultiTaskNetwork`, the tabular :class:`MultiTaskRegressor`) and
``algorithms/`` (:class:`MTLNAS`, :class:`MTNAS`, :class:`ShareRouting`).
"""
from .algorithms import MTLNAS, MTNAS, BaseNASAlgorithm, ShareRouting
from .backbones import (CellMultiTaskBackbone, StagedMLP, StagedResNet,
                        TaskColumns, VGGLargeFOV)
from .data_preprocessor import MultiTaskDataPreProcessor
from .heads import (DenseRegressionHead, ImageClassificationHead,
                    LargeFOVHead)
from .layers import CrossStitchFusion, NDDRFusion
from .losses import CosineNormalLoss, MaskedDepthLoss
from .search_spaces import (BaseSearchSpace, DartsCellSpace, FusionEdges,
                            ShareRoutes)
from .segmentors import MultiTaskNetwork, MultiTaskRegressor

__all__ = [
    'MTLNAS', 'MTNAS', 'BaseNASAlgorithm', 'CellMultiTaskBackbone',
    'DartsCellSpace', 'ShareRouting', 'ShareRoutes', 'MultiTaskRegressor',
    'StagedMLP', 'StagedResNet', 'TaskColumns',
    'VGGLargeFOV', 'MultiTaskDataPreProcessor', 'DenseRegressionHead',
    'ImageClassificationHead', 'LargeFOVHead', 'CrossStitchFusion',
    'NDDRFusion', 'CosineNormalLoss', 'MaskedDepthLoss', 'BaseSearchSpace',
    'FusionEdges', 'MultiTaskNetwork'
]
