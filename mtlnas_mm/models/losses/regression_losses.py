"""Masked dense regression losses (surface normals, depth)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS
from mtlnas_mm.structures.choices import check_choice
from mtlnas_mm.structures.normal_space import (check_normal_space,
                                               unit_to_raw)
from mtlnas_mm.structures.task_fields import TASK_KINDS


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` where ``mask`` is true, 0 if nothing is valid.

    Written without data-dependent indexing, so it never synchronises with
    the device and always keeps ``values`` in the graph.

    Args:
        values: per-pixel values.
        mask: validity, broadcastable to ``values``.

    Returns:
        A scalar tensor.
    """
    mask = mask.to(values.dtype)
    values = torch.where(mask > 0, values, torch.zeros_like(values))
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


class MaskedRegressionLoss(nn.Module):
    """``loss_weight * masked_mean(per-pixel loss)`` over valid pixels.

    The part the dense regression losses share: the shape check, the
    default validity mask from the target (:meth:`valid_mask`), casting the
    target to the prediction's dtype, the masked mean and the weight.
    Subclasses give :meth:`valid_mask` and :meth:`masked_loss`.

    Args:
        loss_weight: multiplier.
        eps: numerical epsilon of the subclass's loss.
        loss_name: key of the loss in the loss dict.
    """

    def __init__(self, loss_weight: float, eps: float,
                 loss_name: str) -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.eps = eps
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """Key of the loss in the loss dict."""
        return self._loss_name

    def valid_mask(self, target: Tensor) -> Tensor:
        """Pixels whose target is valid.

        Args:
            target: (N, C, H, W) ground truth.

        Returns:
            A boolean mask broadcastable to the per-pixel loss.
        """
        raise NotImplementedError

    def masked_loss(self, pred: Tensor, target: Tensor,
                    valid_mask: Tensor) -> Tensor:
        """The unweighted loss over the valid pixels.

        Args:
            pred: (N, C, H, W) prediction.
            target: ground truth of the shape and dtype of ``pred``.
            valid_mask: pixels that enter the loss.

        Returns:
            A scalar tensor.
        """
        raise NotImplementedError

    def forward(self,
                pred: Tensor,
                target: Tensor,
                valid_mask: Optional[Tensor] = None) -> Tensor:
        """The weighted loss.

        Args:
            pred: (N, C, H, W) prediction.
            target: (N, C, H, W) ground truth.
            valid_mask: pixels that enter the loss; by default those where
                :meth:`valid_mask` of ``target`` holds.

        Returns:
            A scalar tensor, 0 without any valid pixel.
        """
        if pred.shape != target.shape:
            raise ValueError(f'{type(self).__name__}: pred '
                             f'{tuple(pred.shape)} and target '
                             f'{tuple(target.shape)} differ')
        if valid_mask is None:
            valid_mask = self.valid_mask(target)
        return self.loss_weight * self.masked_loss(
            pred, target.to(pred.dtype), valid_mask)


@MODELS.register_module()
class CosineNormalLoss(MaskedRegressionLoss):
    """``loss_weight * (1 - mean cosine similarity)`` over valid pixels.

    The normal loss of MTL-NAS (Gao et al., "MTL-NAS: Task-Agnostic Neural
    Architecture Search towards General-Purpose Multi-Task Learning", CVPR
    2020) and NDDR-CNN.  Both vectors are normalised by the cosine, so
    ``pred`` may be raw network output.  A ground-truth pixel is valid iff
    it is not the invalid vector (every component
    ``TASK_KINDS['normal'].invalid``: the zero vector, also used for
    padding).  Without any valid pixel the loss is 0.  ``pred`` and
    ``target`` are (N, 3, H, W); ``valid_mask`` is (N, H, W).

    ``space`` is where the cosine is taken
    (:mod:`mtlnas_mm.structures.normal_space`); ``target`` is always the
    pipeline's decoded normals:

    * ``'unit'`` (default, the project's): ``cos(pred, n)`` with the
      decoded normal ``n``, i.e. ``1 - cos`` of the true angle;
    * ``'raw'`` (the official MTL-NAS / NDDR-CNN loss): ``cos(pred,
      unit_to_raw(n))``, the cosine with the 0..255 PNG vector, and
      ``pred`` is a direction in that space (the network regresses the
      PNG vector, as in the official code).  For the same true error this
      ``1 - cos`` is several times smaller (the +1 offset of the encoding
      shrinks angles about 2.5x), so the official x20 weight weighs
      normals less than in the unit space; load the ground truth with
      ``LoadNormalMap(renormalize=False)`` to get the PNG vectors exactly.

    The project keeps ``'unit'``: it measures the error of the normals
    themselves, equally in every direction.

    Args:
        loss_weight: multiplier (MTL-NAS uses 20).
        eps: cosine-similarity epsilon.
        loss_name: key of the loss in the loss dict.
        space: ``'unit'`` or ``'raw'`` (see above).
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 eps: float = 1e-8,
                 loss_name: str = 'loss_normal',
                 space: str = 'unit') -> None:
        super().__init__(loss_weight, eps, loss_name)
        self.space = check_normal_space(space, 'CosineNormalLoss')

    def valid_mask(self, target: Tensor) -> Tensor:
        invalid = TASK_KINDS['normal'].invalid
        return (target - invalid).abs().sum(dim=1) > 0

    def masked_loss(self, pred: Tensor, target: Tensor,
                    valid_mask: Tensor) -> Tensor:
        if self.space == 'raw':
            target = unit_to_raw(target)
        cos = F.cosine_similarity(pred, target, dim=1, eps=self.eps)
        return masked_mean(1.0 - cos, valid_mask)


@MODELS.register_module()
class MaskedDepthLoss(MaskedRegressionLoss):
    """L1 or RMSE between predicted and true depth over valid pixels.

    A pixel is valid iff ``gt > min_depth`` (by default the invalid depth 0
    of ``TASK_KINDS['depth']``, also used for padding) and, if given,
    ``gt <= max_depth``.  ``pred``, ``target`` and ``valid_mask`` are
    (N, 1, H, W).

    Args:
        mode: ``'l1'`` (mean absolute error) or ``'rmse'``.
        loss_weight: multiplier.
        min_depth: valid iff ``gt > min_depth``.
        max_depth: optional upper bound of valid depths.
        eps: added under the square root of ``'rmse'``.
        loss_name: key of the loss in the loss dict.
    """

    modes = ('l1', 'rmse')

    def __init__(self,
                 mode: str = 'l1',
                 loss_weight: float = 1.0,
                 min_depth: float = TASK_KINDS['depth'].invalid,
                 max_depth: Optional[float] = None,
                 eps: float = 1e-8,
                 loss_name: str = 'loss_depth') -> None:
        super().__init__(loss_weight, eps, loss_name)
        check_choice(mode, self.modes, 'MaskedDepthLoss: mode')
        self.mode = mode
        self.min_depth = min_depth
        self.max_depth = max_depth

    def valid_mask(self, target: Tensor) -> Tensor:
        valid_mask = target > self.min_depth
        if self.max_depth is not None:
            valid_mask = valid_mask & (target <= self.max_depth)
        return valid_mask

    def masked_loss(self, pred: Tensor, target: Tensor,
                    valid_mask: Tensor) -> Tensor:
        diff = pred - target
        if self.mode == 'l1':
            return masked_mean(diff.abs(), valid_mask)
        return torch.sqrt(masked_mean(diff.pow(2), valid_mask) + self.eps)
