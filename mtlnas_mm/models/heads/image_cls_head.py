"""Image-level classification as one task of a dense multi-task model."""
import copy
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmseg.registry import MODELS
from mtlnas_mm.structures import TASK_KINDS
from .postprocess import batch_gt


@MODELS.register_module()
class ImageClassificationHead(BaseModule):
    """One class per image from a task's backbone features.

    ``inputs[in_index] -> global average pool -> [fc (hidden_channels) ->
    ReLU] -> dropout -> fc (num_classes)``.  The task's backbone (and its
    fusion edges) are shared with the dense tasks exactly like those of a
    dense head, so image-level tasks join a search from the config alone.

    Ground truth is the ``gt_label`` of the data samples (a ``(1, )`` long
    tensor, as mmpretrain; packed by ``PackMultiTaskInputs``).  Predictions
    are written as ``pred_score`` (softmax, ``(num_classes, )``) and
    ``pred_label`` (``(1, )``), so mmpretrain's ``Accuracy`` /
    ``SingleLabelMetric`` evaluate them unchanged.

    Args:
        in_channels: channels of ``inputs[in_index]``.
        num_classes: number of image-level classes.
        in_index: which backbone output to classify (default the last).
        hidden_channels: width of an optional hidden fc layer.
        dropout_ratio: dropout before the classifier.
        loss: loss config taking ``(N, C)`` logits and ``(N, )`` labels;
            default mmseg's ``CrossEntropyLoss`` (softmax, weight 1).
        init_cfg: default normal(std=0.01) for the fc layers.
    """

    #: the task kind (fields: ``TASK_KINDS['label']``)
    task_kind = 'label'
    gt_field = TASK_KINDS['label'].gt_field

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 in_index: int = -1,
                 hidden_channels: Optional[int] = None,
                 dropout_ratio: float = 0.0,
                 loss: Optional[dict] = None,
                 init_cfg: Optional[dict] = dict(
                     type='Normal', layer='Linear', std=0.01)) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_classes < 2:
            raise ValueError('ImageClassificationHead.num_classes must be '
                             f'>= 2, got {num_classes}')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.in_index = in_index
        layers: List[nn.Module] = []
        width = in_channels
        if hidden_channels:
            layers += [nn.Linear(width, hidden_channels), nn.ReLU(True)]
            width = hidden_channels
        if dropout_ratio > 0:
            layers.append(nn.Dropout(dropout_ratio))
        self.pre_logits = nn.Sequential(*layers)
        self.fc = nn.Linear(width, num_classes)
        self.loss_module = MODELS.build(
            dict(type='CrossEntropyLoss', loss_weight=1.0)
            if loss is None else copy.deepcopy(loss))

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Logits ``(N, num_classes)``."""
        x = inputs[self.in_index]
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'ImageClassificationHead: expected an (N, {self.in_channels}'
                f', H, W) feature at in_index={self.in_index}, got '
                f'{tuple(x.shape)}')
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(self.pre_logits(x))

    def _stack_batch_gt(self, batch_data_samples: list) -> Tensor:
        labels = []
        gts = batch_gt(batch_data_samples, self.gt_field,
                       'ImageClassificationHead')
        for i, gt in enumerate(gts):
            label = torch.as_tensor(gt)
            if label.numel() != 1:
                raise ValueError(
                    f'ImageClassificationHead: data sample {i} has '
                    f'{self.gt_field} of shape {tuple(label.shape)}; expected '
                    'one class index (single-label classification)')
            labels.append(label.reshape(1))
        return torch.cat(labels).long()

    def loss(self,
             inputs: Sequence[Tensor],
             batch_data_samples: list,
             train_cfg: Optional[dict] = None) -> Dict[str, Tensor]:
        """``{'<loss name>': ..., 'acc_cls': top-1 % of the batch}``."""
        logits = self.forward(inputs)
        gt = self._stack_batch_gt(batch_data_samples).to(logits.device)
        acc = (logits.detach().argmax(1) == gt).float().mean() * 100
        return {
            self.loss_module.loss_name: self.loss_module(logits, gt),
            'acc_cls': acc
        }

    def predict(self,
                inputs: Sequence[Tensor],
                batch_img_metas: List[dict],
                test_cfg: Optional[dict] = None) -> Tensor:
        """Class probabilities ``(N, num_classes)``."""
        return self.forward(inputs).softmax(dim=1)
