from .regression_losses import CosineNormalLoss, MaskedDepthLoss

__all__ = ['CosineNormalLoss', 'MaskedDepthLoss']
