"""Masked dense regression losses (surface normals, depth)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` where ``mask`` is true, 0 if nothing is valid.

    Written without data-dependent indexing, so it never synchronises with
    the device and always keeps ``values`` in the graph.
    """
    mask = mask.to(values.dtype)
    values = torch.where(mask > 0, values, torch.zeros_like(values))
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


@MODELS.register_module()
class CosineNormalLoss(nn.Module):
    """``loss_weight * (1 - mean cosine similarity)`` over valid pixels.

    The MTL-NAS normal loss (spec section 6.1).  Both vectors are normalised
    by the cosine, so ``pred`` may be raw network output.  A ground-truth
    pixel is valid iff it is not the zero vector (the project's invalid
    value, also used for padding).  Without any valid pixel the loss is 0.

    Args:
        loss_weight: multiplier (MTL-NAS uses 20).
        eps: cosine-similarity epsilon.
        loss_name: key of the loss in the loss dict.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 eps: float = 1e-8,
                 loss_name: str = 'loss_normal') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.eps = eps
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def forward(self,
                pred: Tensor,
                target: Tensor,
                valid_mask: Optional[Tensor] = None) -> Tensor:
        """``pred``, ``target``: (N, 3, H, W); ``valid_mask``: (N, H, W)."""
        if pred.shape != target.shape:
            raise ValueError(f'CosineNormalLoss: pred {tuple(pred.shape)} '
                             f'and target {tuple(target.shape)} differ')
        if valid_mask is None:
            valid_mask = target.abs().sum(dim=1) > 0
        cos = F.cosine_similarity(pred, target.to(pred.dtype), dim=1,
                                  eps=self.eps)
        return self.loss_weight * masked_mean(1.0 - cos, valid_mask)


@MODELS.register_module()
class MaskedDepthLoss(nn.Module):
    """L1 or RMSE between predicted and true depth over valid pixels.

    A pixel is valid iff ``gt > min_depth`` (0 = invalid / padding) and, if
    given, ``gt <= max_depth``.

    Args:
        mode: ``'l1'`` (mean absolute error) or ``'rmse'``.
        loss_weight: multiplier.
        min_depth: valid iff ``gt > min_depth``.
        max_depth: optional upper bound of valid depths.
        loss_name: key of the loss in the loss dict.
    """

    modes = ('l1', 'rmse')

    def __init__(self,
                 mode: str = 'l1',
                 loss_weight: float = 1.0,
                 min_depth: float = 0.0,
                 max_depth: Optional[float] = None,
                 eps: float = 1e-8,
                 loss_name: str = 'loss_depth') -> None:
        super().__init__()
        if mode not in self.modes:
            raise ValueError(f'MaskedDepthLoss: mode must be one of '
                             f'{self.modes}, got {mode!r}')
        self.mode = mode
        self.loss_weight = loss_weight
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.eps = eps
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def forward(self,
                pred: Tensor,
                target: Tensor,
                valid_mask: Optional[Tensor] = None) -> Tensor:
        """``pred``, ``target``: (N, 1, H, W); ``valid_mask`` same shape."""
        if pred.shape != target.shape:
            raise ValueError(f'MaskedDepthLoss: pred {tuple(pred.shape)} and '
                             f'target {tuple(target.shape)} differ')
        if valid_mask is None:
            valid_mask = target > self.min_depth
            if self.max_depth is not None:
                valid_mask = valid_mask & (target <= self.max_depth)
        diff = pred - target.to(pred.dtype)
        if self.mode == 'l1':
            loss = masked_mean(diff.abs(), valid_mask)
        else:
            loss = torch.sqrt(masked_mean(diff.pow(2), valid_mask) + self.eps)
        return self.loss_weight * loss
