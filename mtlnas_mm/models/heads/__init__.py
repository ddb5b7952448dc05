from .dense_regression_head import DenseRegressionHead
from .image_cls_head import ImageClassificationHead
from .largefov_head import LargeFOVHead
from .postprocess import default_img_metas, restore_prediction
from .protocol import TaskHead, head_kind

__all__ = [
    'DenseRegressionHead', 'ImageClassificationHead', 'LargeFOVHead',
    'default_img_metas', 'restore_prediction', 'TaskHead', 'head_kind'
]
