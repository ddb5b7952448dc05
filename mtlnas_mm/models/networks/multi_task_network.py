"""A plain multi-task dense prediction network: backbone -> task heads."""
import copy
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
from mmengine.config import ConfigDict
from mmengine.model import BaseModel, ModuleDict
from mmengine.structures import PixelData
from torch import Tensor

from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mtlnas_mm.structures import (TASK_KINDS, check_task_name,
                                  prediction_fields)
from ..heads.postprocess import default_img_metas, restore_prediction
from ..heads.protocol import TaskHead, head_kind
from ..utils import (check_finite, fill_backbone_tasks,
                     refuse_legacy_state_dict)
from .task_init import load_task_checkpoints

SampleList = List[SegDataSample]
_TASK_KEYS = ('head', )


@MODELS.register_module()
class MultiTaskNetwork(BaseModel):
    """Backbone -> one head per task, in mmseg's conventions.

    The network of MTL-NAS and of every baseline; it only computes losses
    and predictions.  Searching its architecture is the job of an
    algorithm (:class:`MTLNAS`) that holds it.

    * ``backbone=dict(type='TaskColumns', backbone=..., edges=None)``:
      independent single-task networks (single-task baseline);
    * ``TaskColumns`` with ``edges=dict(type='FusionEdges', ...)``: the
      columns joined by cross-task edges (MTL-NAS, the all-edges supernet,
      NDDR-CNN, cross-stitch);
    * ``CellMultiTaskBackbone``: a shared trunk of DARTS cells and one
      decoder branch of cells per task (MTNAS);
    * ``backbone=dict(type='ShareRoutes', backbone=..., num_subnets=K)``:
      layers of K sub-networks joined by (searched) gated routes, one
      gated read of the last layer per task (share routing);
    * any other backbone (e.g. ``VGGLargeFOV``): one trunk shared by all
      tasks, split before the heads (the "multiple" baseline).

    A head declares its task kind (``task_kind``; an mmseg decode head is
    segmentation), which fixes its ground-truth and prediction fields
    (:data:`~mtlnas_mm.structures.TASK_KINDS`); :meth:`postprocess_result`
    is the one place that writes predictions.  The first task of a kind
    writes the kind's fields, a later one the same names suffixed with
    ``_<task>`` (e.g. ``pred_sem_seg_parts``).  Losses are returned as
    ``'<task>.<loss key>'``.

    Call flow, as in mmseg's ``EncoderDecoder``:

    1. ``loss(inputs, data_samples)``: ``extract_feat`` (the backbone:
       ``{task: features}``; the task columns and their edges, a shared
       trunk split per task, or cells) -> each head's ``loss`` on its
       task's features and ground truth -> ``{'<task>.<key>': loss}``.
    2. ``predict(inputs, data_samples)``: ``extract_feat`` -> each head's
       ``predict`` (logits / maps at the input size) ->
       ``postprocess_result`` (unpadding, resizing to the original shape,
       the prediction fields of each task kind) -> data samples.
    3. ``forward(..., mode='tensor')``: ``extract_feat`` -> each head's
       forward -> ``{task: output}`` (no post-processing).

    Args:
        tasks: ``{name: dict(head=<head cfg>)}`` in task order.
        backbone: backbone config (see above).
        data_preprocessor: data preprocessor config.
        train_cfg: passed to the heads' ``loss``.
        test_cfg: ``dict(mode='whole')`` (the only mode).
        init_from: ``{task: dict(checkpoint=PATH, task=NAME)}``: after the
            usual initialisation, each listed task's column and head are
            copied from a trained single-task checkpoint (its task
            ``NAME``, default the same); cross-task edges keep their
            initialisation (:func:`load_task_checkpoints`; strict, errors
            name the checkpoint and the key).  ``with_head=False`` copies
            the column only (an ImageNet backbone).  mmengine initialises
            before ``resume`` too, so the files must still exist when a
            run is resumed.
        channels_last: keep the 4-d parameters and buffers (conv weights)
            and the input batch in ``torch.channels_last`` memory format,
            the layout cuDNN's tensor-core kernels and oneDNN prefer
            (mixed precision on GPUs in particular).  The values are the
            same up to float rounding (the kernels sum in another order);
            initialisation, checkpoint loading and ``.to(device)`` write
            into the parameters in place and keep the layout.
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 tasks: Mapping[str, dict],
                 backbone: dict,
                 data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_from: Optional[Dict[str, dict]] = None,
                 channels_last: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        if isinstance(data_preprocessor, Mapping):
            # build from mmseg's registry whatever the default scope
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not isinstance(tasks, Mapping) or not tasks:
            raise ValueError('MultiTaskNetwork.tasks must be a non-empty '
                             'dict {name: dict(head=...)}')
        self.task_names: List[str] = [
            check_task_name(t, 'MultiTaskNetwork.tasks') for t in tasks
        ]
        for t in self.task_names:
            self._check_task_cfg(t, tasks[t])
        self.train_cfg = train_cfg or {}
        self.test_cfg = ConfigDict(test_cfg or dict(mode='whole'))
        if self.test_cfg.get('mode', 'whole') != 'whole':
            raise ValueError('MultiTaskNetwork.test_cfg.mode: only "whole" '
                             f'is supported, got {self.test_cfg.mode!r}')
        self.backbone = MODELS.build(fill_backbone_tasks(
            backbone, self.task_names, 'MultiTaskNetwork'))
        self.heads = ModuleDict({
            t: MODELS.build(copy.deepcopy(tasks[t]['head']))
            for t in self.task_names
        })
        self.task_kinds: Dict[str, str] = {}
        for t, head in self.heads.items():
            if not isinstance(head, TaskHead):
                raise TypeError(f'MultiTaskNetwork.tasks.{t}.head: '
                                f'{type(head).__name__} has no loss / '
                                'predict (the TaskHead interface)')
            self.task_kinds[t] = head_kind(head)
        self.pred_fields = self._prediction_fields()
        self.init_from = dict(init_from) if init_from else None
        if not isinstance(channels_last, bool):
            raise TypeError('MultiTaskNetwork.channels_last must be a bool, '
                            f'got {channels_last!r}')
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)
        self._register_load_state_dict_pre_hook(self._refuse_legacy)

    def init_weights(self) -> None:
        """mmengine's initialisation, then the single-task checkpoints of
        ``init_from`` (the runner calls this before ``load_from`` /
        ``resume``, which still take precedence)."""
        super().init_weights()
        if self.init_from:
            load_task_checkpoints(self, self.init_from)

    # ------------------------------------------------------------------
    @staticmethod
    def _check_task_cfg(task: str, cfg) -> None:
        if not isinstance(cfg, Mapping) or 'head' not in cfg:
            raise ValueError(f'MultiTaskNetwork.tasks.{task}: expected '
                             'dict(head=...)')
        unknown = sorted(set(cfg) - set(_TASK_KEYS))
        if unknown:
            raise KeyError(f'MultiTaskNetwork.tasks.{task}: unknown key(s) '
                           f'{unknown}; allowed: {list(_TASK_KEYS)} (a '
                           'per-task backbone is TaskColumns.overrides)')

    @staticmethod
    def _refuse_legacy(state_dict, prefix, *args) -> None:
        refuse_legacy_state_dict(state_dict, prefix)

    def _prediction_fields(self) -> Dict[str, Tuple[str, ...]]:
        """Output field names per task (see the class docstring)."""
        fields, seen = {}, set()
        for t in self.task_names:
            kind = self.task_kinds[t]
            fields[t] = prediction_fields(kind, t, first=kind not in seen)
            seen.add(kind)
        return fields

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def extract_feat(self, inputs: Tensor) -> Dict[str, Tuple[Tensor, ...]]:
        """Per task, the multi-level features its head consumes."""
        if self.channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        feats = self.backbone(inputs)
        if isinstance(feats, Mapping):
            return {t: tuple(feats[t]) for t in self.task_names}
        feats = tuple(feats)  # one trunk shared by every task
        return {t: feats for t in self.task_names}

    def forward(self,
                inputs: Tensor,
                data_samples: Optional[SampleList] = None,
                mode: str = 'tensor') -> Union[dict, SampleList]:
        """``mode``: ``'loss'`` (loss dict), ``'predict'`` (data samples
        with predictions) or ``'tensor'`` (raw head outputs per task)."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            feats = self.extract_feat(inputs)
            return {t: self.heads[t].forward(feats[t])
                    for t in self.task_names}
        raise RuntimeError(f'Invalid mode "{mode}". Only supports loss, '
                           'predict and tensor mode')

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """``{'<task>.<key>': value}`` from every head."""
        feats = self.extract_feat(inputs)
        losses = {}
        for t in self.task_names:
            head_losses = self.heads[t].loss(feats[t], data_samples,
                                             self.train_cfg)
            losses.update({f'{t}.{k}': v for k, v in head_losses.items()})
        return losses

    def parse_losses(self, losses: Dict[str, Tensor]
                     ) -> Tuple[Tensor, Dict[str, Tensor]]:
        """mmengine's ``parse_losses``, stopping on a non-finite total
        before any backward: plain training parses its losses here
        (``BaseModel.train_step`` and mmengine's DDP wrapper); the NAS
        algorithms' bilevel step applies the same :func:`check_finite`
        naming the step."""
        loss, log_vars = super().parse_losses(losses)
        check_finite(loss, losses)
        return loss, log_vars

    def predict(self,
                inputs: Tensor,
                data_samples: Optional[SampleList] = None) -> SampleList:
        """Predictions at ``ori_shape`` written into the data samples."""
        if data_samples is None:
            data_samples = [
                SegDataSample(metainfo=m) for m in default_img_metas(inputs)
            ]
        batch_img_metas = [s.metainfo for s in data_samples]
        feats = self.extract_feat(inputs)
        preds = {
            t: self.heads[t].predict(feats[t], batch_img_metas,
                                     self.test_cfg)
            for t in self.task_names
        }
        return self.postprocess_result(preds, data_samples)

    def postprocess_result(self, preds: Dict[str, Tensor],
                           data_samples: SampleList) -> SampleList:
        """THE place that writes predictions into the data samples.

        Dense predictions (at the padded input size) get their padding
        cropped, flips undone (normals: flipped components negated) and are
        resized to ``ori_shape``; segmentation logits become
        ``seg_logits`` + ``pred_sem_seg`` (as mmseg's
        ``BaseSegmentor.postprocess_result``), image-level class
        probabilities ``pred_score`` + ``pred_label``.
        """
        for t in self.task_names:
            kind, fields, head = (self.task_kinds[t], self.pred_fields[t],
                                  self.heads[t])
            for i, sample in enumerate(data_samples):
                pred = preds[t][i:i + 1]
                if kind == 'label':
                    score = pred[0].detach()
                    sample.set_field(score, fields[0])
                    sample.set_field(score.argmax().reshape(1), fields[1])
                    continue
                out = restore_prediction(
                    pred, sample.metainfo,
                    align_corners=head.align_corners,
                    is_vector=TASK_KINDS[kind].vector)
                if kind != 'seg':
                    sample.set_data({fields[0]: PixelData(data=out)})
                    continue
                if out.shape[0] > 1:
                    label = out.argmax(dim=0, keepdim=True)
                else:
                    out = out.sigmoid()
                    label = (out > head.threshold).to(out)
                sample.set_data({
                    fields[0]: PixelData(data=out),
                    fields[1]: PixelData(data=label)
                })
        return data_samples
