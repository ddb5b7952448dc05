from .regression_losses import (CosineNormalLoss, MaskedDepthLoss,
                                MaskedRegressionLoss, masked_mean)

__all__ = [
    'CosineNormalLoss', 'MaskedDepthLoss', 'MaskedRegressionLoss',
    'masked_mean'
]
