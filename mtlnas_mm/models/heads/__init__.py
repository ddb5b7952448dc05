from .dense_regression_head import DenseRegressionHead
from .largefov_head import LargeFOVHead
from .postprocess import default_img_metas, restore_prediction

__all__ = [
    'DenseRegressionHead', 'LargeFOVHead', 'default_img_metas',
    'restore_prediction'
]
