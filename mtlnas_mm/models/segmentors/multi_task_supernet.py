"""One backbone per task, optional cross-task fusion neck, one head per task.
"""
import copy
from typing import Dict, List, Mapping, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.config import ConfigDict
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper, OptimWrapperDict
from mmengine.structures import PixelData
from torch import Tensor

from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mtlnas_mm.engine.train_step import bilevel_train_step
from mtlnas_mm.structures import Architecture, check_task_name
from ..heads.dense_regression_head import DenseRegressionHead
from ..heads.image_cls_head import ImageClassificationHead
from ..heads.postprocess import default_img_metas, restore_prediction

SampleList = List[SegDataSample]
_TASK_KEYS = ('head', 'backbone')
_SEG, _OWN = 'segmentation', 'own'
#: heads that write their own predictions (``task``, ``pred_field``,
#: ``postprocess``)
_TASK_HEADS = (DenseRegressionHead, ImageClassificationHead)


@MODELS.register_module()
class MultiTaskSupernet(BaseModel):
    """Multi-task dense prediction network in mmseg conventions.

    The structure covers MTL-NAS and its baselines (spec section 8):

    * ``neck=None``: independent single-task networks (single-task
      baseline);
    * ``share_backbone=True``: one trunk, split before the heads
      ("multiple" baseline);
    * ``neck=dict(type='FusionEdgeNeck', ...)``: one staged backbone per task
      joined by cross-task fusion edges (MTL-NAS search / derived network,
      all-edges supernet, NDDR-CNN, cross-stitch).  The neck receives
      ``tasks``, ``layer_channels`` and ``layer_blocks`` from here.

    A task whose head is an mmseg ``BaseDecodeHead`` is a segmentation task
    (gt ``gt_sem_seg``); a :class:`DenseRegressionHead` is a normal / depth
    task (gt ``gt_normal_map`` / ``gt_depth_map``); an
    :class:`ImageClassificationHead` is an image-level classification task
    (gt ``gt_label``).

    Prediction fields: the first segmentation task writes ``seg_logits`` /
    ``pred_sem_seg``, the first normal task ``pred_normal_map``, the first
    depth task ``pred_depth_map``, the first classification task
    ``pred_score`` / ``pred_label``; any further task of the same kind
    writes the same names suffixed with ``_<task>`` (e.g.
    ``pred_sem_seg_parts``).
    Losses are returned as ``'<task>.<loss key>'``.

    Args:
        tasks: ``{name: dict(head=<head cfg>, backbone=<optional override>)}``
            in task order.  A backbone override with ``type`` replaces the
            default backbone config, one without ``type`` updates it.
        backbone: default backbone config (one instance per task).
        neck: optional :class:`FusionEdgeNeck` config.
        share_backbone: one backbone shared by all tasks (no neck allowed).
        data_preprocessor: data preprocessor config.
        train_cfg: passed to the heads' ``loss``; the bilevel train step
            reads ``arch_gate_mode`` / ``weight_gate_mode`` from it.
        test_cfg: ``dict(mode='whole')`` (the only mode).
        init_cfg: mmengine init config.
    """

    def __init__(self,
                 tasks: Mapping[str, dict],
                 backbone: dict,
                 neck: Optional[dict] = None,
                 share_backbone: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        if isinstance(data_preprocessor, Mapping):
            # build from mmseg's registry whatever the default scope
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not isinstance(tasks, Mapping) or not tasks:
            raise ValueError('MultiTaskSupernet.tasks must be a non-empty '
                             'dict {name: dict(head=...)}')
        self.task_names: List[str] = [
            check_task_name(t, 'MultiTaskSupernet.tasks') for t in tasks
        ]
        task_cfgs = {t: self._check_task_cfg(t, tasks[t])
                     for t in self.task_names}
        self.share_backbone = share_backbone
        self.train_cfg = train_cfg or {}
        self.test_cfg = ConfigDict(test_cfg or dict(mode='whole'))
        if self.test_cfg.get('mode', 'whole') != 'whole':
            raise ValueError('MultiTaskSupernet.test_cfg.mode: only "whole" '
                             f'is supported, got {self.test_cfg.mode!r}')
        #: added (times :meth:`entropy`) to the architecture-step loss by the
        #: training step; set by ``MinEntropyHook``
        self.entropy_weight: float = 0.0

        # -------- backbones
        if share_backbone:
            overrides = [t for t, c in task_cfgs.items() if 'backbone' in c]
            if overrides:
                raise ValueError('MultiTaskSupernet: share_backbone=True '
                                 'takes no per-task backbone (tasks '
                                 f'{overrides})')
            if neck is not None:
                raise ValueError('MultiTaskSupernet: share_backbone=True '
                                 'cannot be combined with a neck')
            self.backbone = MODELS.build(copy.deepcopy(backbone))
        else:
            self.backbones = nn.ModuleDict({
                t: MODELS.build(self._backbone_cfg(backbone, task_cfgs[t]))
                for t in self.task_names
            })

        # -------- neck
        self.neck = None
        if neck is not None:
            self.neck = MODELS.build(self._neck_cfg(neck))

        # -------- heads
        self.heads = nn.ModuleDict({
            t: MODELS.build(copy.deepcopy(task_cfgs[t]['head']))
            for t in self.task_names
        })
        self.task_kinds: Dict[str, str] = {}
        for t, head in self.heads.items():
            if isinstance(head, _TASK_HEADS):
                self.task_kinds[t] = _OWN
            elif isinstance(head, BaseDecodeHead):
                self.task_kinds[t] = _SEG
            else:
                raise TypeError(
                    f'MultiTaskSupernet.tasks.{t}.head: expected an mmseg '
                    'BaseDecodeHead, a DenseRegressionHead or an '
                    f'ImageClassificationHead, got {type(head).__name__}')
        self.pred_fields = self._prediction_fields()

    # ------------------------------------------------------------------
    # construction helpers
    # ------------------------------------------------------------------
    @staticmethod
    def _check_task_cfg(task: str, cfg) -> dict:
        if not isinstance(cfg, Mapping) or 'head' not in cfg:
            raise ValueError(f'MultiTaskSupernet.tasks.{task}: expected '
                             'dict(head=..., backbone=<optional>)')
        unknown = sorted(set(cfg) - set(_TASK_KEYS))
        if unknown:
            raise KeyError(f'MultiTaskSupernet.tasks.{task}: unknown key(s) '
                           f'{unknown}; allowed: {list(_TASK_KEYS)}')
        return dict(cfg)

    @staticmethod
    def _backbone_cfg(default: dict, task_cfg: dict) -> dict:
        cfg = copy.deepcopy(dict(default))
        override = task_cfg.get('backbone')
        if override:
            override = copy.deepcopy(dict(override))
            if 'type' in override:
                cfg = override
            else:
                cfg.update(override)
        return cfg

    def _neck_cfg(self, neck: dict) -> dict:
        """Inject tasks / layer layout from the backbones (must agree)."""
        layouts = {}
        for t, bb in self.backbones.items():
            for attr in ('layer_channels', 'layer_blocks', 'forward_layer',
                         'forward_stem'):
                if not hasattr(bb, attr):
                    raise TypeError(
                        f'MultiTaskSupernet: the backbone of task {t!r} '
                        f'({type(bb).__name__}) is not a staged backbone '
                        f'(no {attr}); a neck needs e.g. VGGLargeFOV or '
                        'StagedResNet')
            layouts[t] = (list(bb.layer_channels), list(bb.layer_blocks))
        first = self.task_names[0]
        for t, layout in layouts.items():
            if layout != layouts[first]:
                raise ValueError(
                    'MultiTaskSupernet: all task backbones must have the '
                    f'same layers for a neck; {first!r} has channels/blocks '
                    f'{layouts[first]}, {t!r} has {layout}')
        cfg = copy.deepcopy(dict(neck))
        injected = dict(
            tasks=list(self.task_names),
            layer_channels=layouts[first][0],
            layer_blocks=layouts[first][1])
        for key, value in injected.items():
            if key in cfg and list(cfg[key]) != value:
                raise ValueError(f'MultiTaskSupernet.neck.{key}: {cfg[key]} '
                                 f'disagrees with the model ({value}); leave '
                                 'it out, it is filled in')
            cfg[key] = value
        return cfg

    def _prediction_fields(self) -> Dict[str, Tuple[str, ...]]:
        """Output field names per task (see the class docstring)."""
        fields, seen = {}, set()
        for t in self.task_names:
            head = self.heads[t]
            if self.task_kinds[t] == _SEG:
                kind, names = 'seg', ('seg_logits', 'pred_sem_seg')
            else:
                kind, names = head.task, (head.pred_field, )
            if kind in seen:
                names = tuple(f'{n}_{t}' for n in names)
            seen.add(kind)
            fields[t] = names
        return fields

    # ------------------------------------------------------------------
    # architecture interface (used by the bilevel step and hooks)
    # ------------------------------------------------------------------
    @property
    def with_neck(self) -> bool:
        return self.neck is not None

    def _searchable(self) -> bool:
        return self.neck is not None and self.neck.searchable

    def arch_parameters(self) -> List[nn.Parameter]:
        """Architecture logits (alphas) to optimise; ``[]`` if none."""
        return self.neck.arch_parameters() if self.neck is not None else []

    def gate_probs(self) -> Tensor:
        """Gate probability per candidate edge (empty without a neck)."""
        if self.neck is None:
            return torch.zeros(0)
        return self.neck.gate_probs()

    def entropy(self) -> Tensor:
        """Mean binary entropy of the gates (0-dim; 0 if nothing is
        searched)."""
        if self._searchable():
            return self.neck.entropy()
        return next(self.parameters()).new_zeros(())

    def architecture(self) -> Optional[Architecture]:
        """Current architecture of the neck (``None`` without one)."""
        return self.neck.architecture() if self.neck is not None else None

    def set_gate_mode(self, mode: str) -> None:
        """Training gate mode of a searchable neck; no-op otherwise."""
        if self._searchable():
            self.neck.set_gate_mode(mode)

    def set_temperature(self, temperature: float) -> None:
        """Temperature of the relaxed gates; no-op without a neck."""
        if self.neck is not None:
            self.neck.set_temperature(temperature)

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: Union[OptimWrapper, OptimWrapperDict]
                   ) -> Dict[str, Tensor]:
        """One training iteration: a plain step, or the bilevel
        (architecture + weight) step of a search when the loop yields
        ``dict(weight=..., arch=...)`` (see :mod:`mtlnas_mm.engine`)."""
        return bilevel_train_step(self, data, optim_wrapper)

    # ------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------
    def extract_feat(self, inputs: Tensor) -> Dict[str, Tuple[Tensor, ...]]:
        """Per task, the multi-level features its head consumes."""
        if self.share_backbone:
            feats = tuple(self.backbone(inputs))
            return {t: feats for t in self.task_names}
        if self.neck is None:
            return {t: tuple(self.backbones[t](inputs))
                    for t in self.task_names}
        stems = {t: self.backbones[t].forward_stem(inputs)
                 for t in self.task_names}
        ends = self.neck(stems, self.backbones)
        return {
            t: tuple(ends[t][b] for b in self.backbones[t].out_indices)
            for t in self.task_names
        }

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
            return self._forward(inputs, data_samples)
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
        for t in self.task_names:
            head = self.heads[t]
            pred = head.predict(feats[t], batch_img_metas, self.test_cfg)
            if self.task_kinds[t] == _SEG:
                self._postprocess_seg(t, pred, data_samples)
            else:
                head.postprocess(pred, data_samples, self.pred_fields[t][0])
        return data_samples

    def _postprocess_seg(self, task: str, seg_logits: Tensor,
                         data_samples: SampleList) -> None:
        """mmseg's ``postprocess_result`` for one segmentation task."""
        head = self.heads[task]
        logits_field, pred_field = self.pred_fields[task]
        for i, sample in enumerate(data_samples):
            logits = restore_prediction(
                seg_logits[i:i + 1], sample.metainfo,
                align_corners=head.align_corners)
            if logits.shape[0] > 1:
                pred = logits.argmax(dim=0, keepdim=True)
            else:
                logits = logits.sigmoid()
                pred = (logits > head.threshold).to(logits)
            sample.set_data({
                logits_field: PixelData(data=logits),
                pred_field: PixelData(data=pred)
            })

    def _forward(self,
                 inputs: Tensor,
                 data_samples: Optional[SampleList] = None
                 ) -> Dict[str, Tensor]:
        """Raw head outputs (logits) per task, at feature resolution."""
        feats = self.extract_feat(inputs)
        return {t: self.heads[t].forward(feats[t]) for t in self.task_names}
