"""Turn any mmseg decode head into a dense regression head."""
import copy
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mtlnas_mm.structures import TASK_KINDS, check_choice
from .postprocess import batch_gt, prediction_size

#: the default init of a regression decoder's output conv (``conv_seg``):
#: torch's default scale for a conv (Kaiming-uniform, a = sqrt(5), i.e.
#: U(+-1/sqrt(fan_in))), bias 0.  mmseg's BaseDecodeHead initialises
#: ``conv_seg`` as Normal(std 0.01), a choice for class logits; for unit
#: normals under a cosine loss, whose gradient grows as 1/|output|, it
#: stalled the normals column of the tiny pair (measured, seed 0, 250
#: iterations from scratch: normal loss 6.15 with Normal(0.01) against 4.45
#: with this init; after 1500 iterations 36-40 deg mean angle against
#: 19-20 deg before).  A decoder config with its own ``init_cfg`` keeps it.
REGRESSION_OUTPUT_INIT = dict(
    type='Kaiming',
    a=math.sqrt(5),
    mode='fan_in',
    nonlinearity='leaky_relu',
    distribution='uniform',
    bias=0,
    override=dict(name='conv_seg'))


@MODELS.register_module()
class DenseRegressionHead(BaseModule):
    """Dense regression (surface normals or depth) on top of a decode head.

    The wrapped ``decoder`` is any mmseg decode head config (``FCNHead``,
    :class:`LargeFOVHead`, ...); its ``num_classes`` is the number of output
    channels (3 for normals, 1 for depth) and is filled in when absent.  Its
    own ``loss_decode`` is not used: the loss is ``loss`` below.

    * ``task='normal'``: the prediction is L2-normalised; loss
      :class:`CosineNormalLoss` (``1 - mean cosine`` over pixels whose gt is
      not the zero vector) on the raw output bilinearly upsampled to the
      label size.
    * ``task='depth'``: the prediction is made positive (``depth_act``);
      loss :class:`MaskedDepthLoss` (L1 or RMSE over pixels with gt > 0).

    Ground truth is read from the kind's field (``gt_normal_map`` /
    ``gt_depth_map``, :data:`~mtlnas_mm.structures.TASK_KINDS`);
    :meth:`predict` returns a tensor, which :class:`MultiTaskNetwork`
    writes into the data samples.

    The decoder's output conv starts from :data:`REGRESSION_OUTPUT_INIT`
    unless the decoder config sets ``init_cfg`` (every other layer keeps
    the decode head's own init).

    Args:
        decoder: mmseg decode head config.
        task: ``'normal'`` or ``'depth'``.
        loss: loss config; default ``CosineNormalLoss`` / ``MaskedDepthLoss``
            (set ``loss_weight`` here, MTL-NAS uses 20 for normals).
        align_corners: for every resize of this head; ``None`` = the
            decoder's ``align_corners`` (MTL-NAS upsamples with True).
        depth_act: ``'softplus'``, ``'exp'`` or ``'relu'`` (depth only).
        init_cfg: mmengine init config.
    """

    task_settings: Dict[str, dict] = {
        'normal': dict(
            out_channels=3,
            loss=dict(type='CosineNormalLoss', loss_weight=1.0)),
        'depth': dict(
            out_channels=1,
            loss=dict(type='MaskedDepthLoss', mode='l1', loss_weight=1.0)),
    }
    depth_acts = ('softplus', 'exp', 'relu')

    def __init__(self,
                 decoder: dict,
                 task: str = 'normal',
                 loss: Optional[dict] = None,
                 align_corners: Optional[bool] = None,
                 depth_act: str = 'softplus',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        check_choice(task, self.task_settings, 'DenseRegressionHead: task')
        check_choice(depth_act, self.depth_acts,
                     'DenseRegressionHead: depth_act')
        settings = self.task_settings[task]
        self.task = task
        #: the task kind (fields and invalid value: ``TASK_KINDS``)
        self.task_kind: str = task
        self.out_channels: int = settings['out_channels']
        self.gt_field: str = TASK_KINDS[task].gt_field
        self.depth_act = depth_act

        decoder = copy.deepcopy(dict(decoder))
        decoder.setdefault('init_cfg', copy.deepcopy(REGRESSION_OUTPUT_INIT))
        n = decoder.setdefault('num_classes', self.out_channels)
        if n != self.out_channels:
            raise ValueError(
                f'DenseRegressionHead(task={task!r}): decoder.num_classes '
                f'must be {self.out_channels}, got {n}')
        if self.out_channels == 1:
            decoder.setdefault('threshold', 0.5)  # unused; silences mmseg
        self.decoder = MODELS.build(decoder)
        if not isinstance(self.decoder, BaseDecodeHead):
            raise TypeError('DenseRegressionHead: decoder must be an mmseg '
                            'BaseDecodeHead, got '
                            f'{type(self.decoder).__name__}')
        self.align_corners: bool = (
            self.decoder.align_corners
            if align_corners is None else bool(align_corners))
        self.loss_module = MODELS.build(
            copy.deepcopy(settings['loss']) if loss is None else loss)

    # ------------------------------------------------------------------
    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Raw decoder output (before activation) at feature resolution."""
        return self.decoder(inputs)

    def activate(self, raw: Tensor) -> Tensor:
        """Raw output -> prediction (unit normals / positive depth)."""
        if self.task == 'normal':
            return F.normalize(raw, dim=1)
        if self.depth_act == 'softplus':
            return F.softplus(raw)
        if self.depth_act == 'exp':
            return raw.exp()
        return F.relu(raw)

    def _resize(self, x: Tensor, size: Tuple[int, int]) -> Tensor:
        if tuple(x.shape[2:]) == tuple(size):
            return x
        return resize(x, size=size, mode='bilinear',
                      align_corners=self.align_corners)

    # ------------------------------------------------------------------
    def _stack_batch_gt(self, batch_data_samples: list) -> Tensor:
        gts = batch_gt(batch_data_samples, self.gt_field,
                       f'DenseRegressionHead(task={self.task!r})')
        return torch.stack([gt.data for gt in gts], dim=0)

    def loss(self,
             inputs: Sequence[Tensor],
             batch_data_samples: list,
             train_cfg: Optional[dict] = None) -> Dict[str, Tensor]:
        """Loss dict, e.g. ``{'loss_normal': ...}``."""
        return self.loss_by_feat(self.forward(inputs), batch_data_samples)

    def loss_by_feat(self, raw: Tensor,
                     batch_data_samples: list) -> Dict[str, Tensor]:
        gt = self._stack_batch_gt(batch_data_samples)
        raw = self._resize(raw, gt.shape[2:])
        pred = raw if self.task == 'normal' else self.activate(raw)
        return {self.loss_module.loss_name: self.loss_module(pred, gt)}

    def predict(self,
                inputs: Sequence[Tensor],
                batch_img_metas: List[dict],
                test_cfg: Optional[dict] = None) -> Tensor:
        """Prediction at the padded input size (as ``predict_by_feat``)."""
        raw = self._resize(self.forward(inputs),
                           prediction_size(batch_img_metas))
        return self.activate(raw)
