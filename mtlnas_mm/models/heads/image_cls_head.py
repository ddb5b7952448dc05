"""Turn an mmpretrain classification head into one task of a dense
multi-task model."""
import copy
from typing import Any, Dict, List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.evaluation.metrics import Accuracy
from mmpretrain.models.heads import ClsHead, StackedLinearClsHead
from mmpretrain.models.necks import GlobalAveragePooling
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from torch import Tensor

from mmseg.registry import MODELS
from mtlnas_mm.structures import TASK_KINDS
from .postprocess import batch_gt


@MODELS.register_module()
class ImageClassificationHead(BaseModule):
    """One class per image from a task's backbone features.

    ``inputs[in_index] -> GlobalAveragePooling -> [dropout] -> classifier``,
    where the pooling is mmpretrain's ``GlobalAveragePooling`` neck and the
    ``classifier`` is an mmpretrain ``ClsHead`` (``LinearClsHead`` by
    default, ``StackedLinearClsHead`` when ``hidden_channels`` is set).  The
    task's backbone (and its fusion edges) are shared with the dense tasks
    exactly like those of a dense head, so image-level tasks join a search
    from the config alone.

    The constructor options are shorthands for the ``classifier`` config:

    * ``in_channels`` / ``num_classes`` fill in its ``in_channels`` /
      ``num_classes``;
    * ``hidden_channels`` selects ``StackedLinearClsHead`` with
      ``mid_channels=[hidden_channels]`` (``fc -> ReLU -> dropout -> fc``);
    * ``dropout_ratio`` is the dropout before the classifier fc: the
      ``dropout_rate`` of a ``StackedLinearClsHead``, otherwise a dropout on
      the pooled feature;
    * ``loss`` is built from this project's (mmseg) registry, as before, and
      handed to the classifier as its ``loss_module``.

    A value given both ways must agree.  The classifier is built from
    mmpretrain's registry in the ``mmpretrain`` scope, so ``type`` and the
    configs nested in it (e.g. its own ``loss``) resolve to mmpretrain's
    classes whatever the runner's default scope is.

    Ground truth is the ``gt_label`` of the data samples (a ``(1, )`` long
    tensor, as mmpretrain; packed by ``PackMultiTaskInputs``).  The loss is
    computed by the classifier (``ClsHead._get_loss``) and logged under the
    loss module's ``loss_name`` (``'loss_ce'`` for mmseg's
    ``CrossEntropyLoss``; ``'loss_cls'`` for a loss without one, such as
    mmpretrain's), next to ``'acc_cls'`` (top-1 % of the batch).
    :meth:`predict` returns softmax scores, which :class:`MultiTaskNetwork`
    writes as ``pred_score`` / ``pred_label`` so mmpretrain's ``Accuracy``
    / ``SingleLabelMetric`` evaluate them unchanged.

    Args:
        in_channels: channels of ``inputs[in_index]``.
        num_classes: number of image-level classes (at least 2).
        in_index: which backbone output to classify (default the last).
        hidden_channels: width of an optional hidden fc layer.
        dropout_ratio: dropout before the classifier fc.
        loss: loss config taking ``(N, C)`` logits and ``(N, )`` labels,
            built from the mmseg registry (``'mmpretrain.<Loss>'`` reaches
            mmpretrain's losses); default mmseg's ``CrossEntropyLoss``
            (softmax, weight 1) unless ``classifier`` has its own ``loss``.
        classifier: mmpretrain ``ClsHead`` config merged over the default
            ``dict(type='LinearClsHead')`` /
            ``dict(type='StackedLinearClsHead')``; its ``init_cfg``
            defaults to normal(std=0.01) on the fc layers.
        init_cfg: mmengine init config of this wrapper.
    """

    #: the task kind (fields: ``TASK_KINDS['label']``)
    task_kind = 'label'
    gt_field = TASK_KINDS['label'].gt_field
    #: key of a loss module without a ``loss_name``
    default_loss_name = 'loss_cls'

    def __init__(self,
                 in_channels: int,
                 num_classes: int,
                 in_index: int = -1,
                 hidden_channels: Optional[int] = None,
                 dropout_ratio: float = 0.0,
                 loss: Optional[dict] = None,
                 classifier: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_classes < 2:
            raise ValueError('ImageClassificationHead.num_classes must be '
                             f'>= 2, got {num_classes}')
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.in_index = in_index
        self.gap = GlobalAveragePooling(dim=2)

        cfg = dict(type='StackedLinearClsHead'
                   if hidden_channels else 'LinearClsHead')
        cfg.update(copy.deepcopy(dict(classifier or {})))
        head_cls = cfg['type']
        if isinstance(head_cls, str):
            head_cls = PRETRAIN_MODELS.get(head_cls)
        if not (isinstance(head_cls, type) and issubclass(head_cls, ClsHead)):
            raise TypeError('ImageClassificationHead: classifier.type must '
                            'be an mmpretrain ClsHead (registered in '
                            f'mmpretrain\'s MODELS), got {cfg["type"]!r}')
        stacked = issubclass(head_cls, StackedLinearClsHead)
        self._fill(cfg, 'in_channels', in_channels, 'in_channels')
        self._fill(cfg, 'num_classes', num_classes, 'num_classes')
        if hidden_channels:
            if not stacked:
                raise ValueError(
                    'ImageClassificationHead: hidden_channels needs a '
                    f'StackedLinearClsHead classifier, got {cfg["type"]!r}')
            self._fill(cfg, 'mid_channels', [hidden_channels],
                       'hidden_channels')
        if stacked and dropout_ratio > 0:
            self._fill(cfg, 'dropout_rate', dropout_ratio, 'dropout_ratio')
        self.dropout = (
            nn.Dropout(dropout_ratio)
            if dropout_ratio > 0 and not stacked else nn.Identity())
        if loss is not None:
            if 'loss' in cfg:
                raise ValueError('ImageClassificationHead: give the loss '
                                 'either as loss or as classifier.loss')
            cfg['loss'] = MODELS.build(copy.deepcopy(loss))
        elif 'loss' not in cfg:
            cfg['loss'] = MODELS.build(
                dict(type='CrossEntropyLoss', loss_weight=1.0))
        cfg.setdefault('init_cfg',
                       dict(type='Normal', layer='Linear', std=0.01))
        cfg['_scope_'] = 'mmpretrain'
        self.classifier: ClsHead = PRETRAIN_MODELS.build(cfg)
        self.loss_name: str = getattr(self.classifier.loss_module,
                                      'loss_name', self.default_loss_name)

    @staticmethod
    def _fill(cfg: dict, key: str, value: Any, option: str) -> None:
        """Set ``cfg[key]`` to ``value``, or check that it agrees."""
        given = cfg.setdefault(key, value)
        if isinstance(value, list):
            given = list(given)
        if given != value:
            raise ValueError(
                f'ImageClassificationHead: classifier.{key}={given!r} '
                f'disagrees with {option}={value!r}')

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Logits ``(N, num_classes)``.

        Args:
            inputs: backbone features, NCHW tensors.

        Returns:
            Tensor: the classifier's logits.
        """
        x = inputs[self.in_index]
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f'ImageClassificationHead: expected an (N, {self.in_channels}'
                f', H, W) feature at in_index={self.in_index}, got '
                f'{tuple(x.shape)}')
        return self.classifier((self.dropout(self.gap(x)), ))

    def _stack_batch_gt(self, batch_data_samples: list) -> Tensor:
        """Check every ``gt_label`` is one class index; ``(N, )`` labels."""
        gts = batch_gt(batch_data_samples, self.gt_field,
                       'ImageClassificationHead')
        for i, gt in enumerate(gts):
            if (not isinstance(gt, Tensor) or gt.shape != (1, )
                    or gt.is_floating_point()):
                found = (f'shape {tuple(gt.shape)} and dtype {gt.dtype}'
                         if isinstance(gt, Tensor) else
                         f'type {type(gt).__name__}')
                raise ValueError(
                    f'ImageClassificationHead: data sample {i} has '
                    f'{self.gt_field} of {found}; expected one class index '
                    'as a (1, ) integer tensor (single-label '
                    'classification)')
        return torch.cat(gts)

    def loss(self,
             inputs: Sequence[Tensor],
             batch_data_samples: list,
             train_cfg: Optional[dict] = None) -> Dict[str, Tensor]:
        """Loss dict ``{'<loss name>': ..., 'acc_cls': top-1 %}``.

        Args:
            inputs: backbone features, NCHW tensors.
            batch_data_samples: data samples carrying ``gt_label``.
            train_cfg: unused.

        Returns:
            dict: the classifier's losses, its ``'loss'`` renamed to
            :attr:`loss_name`, and ``'acc_cls'``.
        """
        gt = self._stack_batch_gt(batch_data_samples)
        logits = self.forward(inputs)
        losses = self.classifier._get_loss(logits, batch_data_samples)
        losses[self.loss_name] = losses.pop('loss')
        # thrs=(None, ): plain top-1 (the default threshold 0 of mmpretrain's
        # ``cal_acc`` would miss hits whose top logit is negative)
        acc = Accuracy.calculate(
            logits.detach(), gt.to(logits.device), topk=(1, ),
            thrs=(None, ))[0][0]
        losses['acc_cls'] = acc.reshape(())
        return losses

    def predict(self,
                inputs: Sequence[Tensor],
                batch_img_metas: List[dict],
                test_cfg: Optional[dict] = None) -> Tensor:
        """Class probabilities ``(N, num_classes)``.

        Args:
            inputs: backbone features, NCHW tensors.
            batch_img_metas: metainfo of the samples (unused).
            test_cfg: unused.

        Returns:
            Tensor: softmax of the logits.
        """
        return self.forward(inputs).softmax(dim=1)
