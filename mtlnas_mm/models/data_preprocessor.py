"""Data preprocessor that pads every dense ground truth with its own value."""
import math
from numbers import Number
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

from mmseg.models.data_preprocessor import SegDataPreProcessor
from mmseg.registry import MODELS
from mtlnas_mm.structures.task_fields import (IGNORE_INDEX, TASK_KINDS,
                                              invalid_values)

#: mmseg's edge map, padded like the label map (no task kind of its own)
_EDGE_FIELD = 'gt_edge_map'


@MODELS.register_module()
class MultiTaskDataPreProcessor(SegDataPreProcessor):
    """mmseg ``SegDataPreProcessor`` for segmentation + normals + depth.

    Normalisation, channel conversion and batch augments are mmseg's. The
    padding differs: mmseg pads ``gt_sem_seg``/``gt_edge_map``/
    ``gt_depth_map`` with ``seg_pad_val`` and leaves other maps unpadded;
    here each map gets its own invalid value, by default that of
    :data:`~mtlnas_mm.structures.task_fields.TASK_KINDS`
    (``docs/design.md#data-sample-contract-mmsegstructuressegdatasample``):

    ======================  =====================
    ``gt_sem_seg``          ``seg_pad_val`` (255)
    ``gt_edge_map``         ``seg_pad_val`` (255)
    ``gt_normal_map``       ``normal_pad_val`` (0 = invalid vector)
    ``gt_depth_map``        ``depth_pad_val`` (0 = invalid depth)
    ======================  =====================

    Images are padded at the bottom/right to ``size``, or to the batch's
    largest size rounded up to ``size_divisor`` (in test mode: ``test_cfg``
    's ``size``/``size_divisor``; with neither, to the largest size). Each
    sample's metainfo gets ``img_shape`` (before padding), ``pad_shape``
    and ``padding_size`` = (left, right, top, bottom) like mmseg; in test
    mode also ``img_padding_size``, which mmseg's ``postprocess_result``
    crops away. In training every ``gt_*`` map must have the image's size;
    in test mode maps of another size (ground truth kept at the original
    resolution, the mmseg convention) are left alone.

    Args:
        seg_pad_val: padding of ``gt_sem_seg`` and ``gt_edge_map``.
            Defaults to ``IGNORE_INDEX`` (255).
        normal_pad_val: padding of ``gt_normal_map``. Defaults to the
            normal invalid value, 0.
        depth_pad_val: padding of ``gt_depth_map``. Defaults to the depth
            invalid value, 0.
        pad_vals: padding values of further ``gt_*`` map fields (a
            ``gt_*`` ``PixelData`` field with no value is an error).
        **kwargs: ``SegDataPreProcessor`` arguments (``mean``, ``std``,
            ``size``, ``size_divisor``, ``pad_val``, ``bgr_to_rgb``,
            ``rgb_to_bgr``, ``batch_augments``, ``test_cfg``).
    """

    def __init__(self,
                 seg_pad_val: Number = IGNORE_INDEX,
                 normal_pad_val: Number = TASK_KINDS['normal'].invalid,
                 depth_pad_val: Number = TASK_KINDS['depth'].invalid,
                 pad_vals: Optional[Dict[str, Number]] = None,
                 **kwargs) -> None:
        super().__init__(seg_pad_val=seg_pad_val, **kwargs)
        if self.size is not None and self.size_divisor is not None:
            raise ValueError('give only one of size and size_divisor')
        self.map_pad_vals: Dict[str, Number] = invalid_values()
        self.map_pad_vals.update({
            TASK_KINDS['seg'].gt_field: self.seg_pad_val,
            _EDGE_FIELD: self.seg_pad_val,
            TASK_KINDS['normal'].gt_field: normal_pad_val,
            TASK_KINDS['depth'].gt_field: depth_pad_val
        })
        self.map_pad_vals.update(pad_vals or {})

    @staticmethod
    def _target_size(shapes: List[Tuple[int, int]], size: Optional[Sequence],
                     size_divisor: Optional[int]) -> Tuple[int, int]:
        h = max(s[0] for s in shapes)
        w = max(s[1] for s in shapes)
        if size is not None:
            return max(h, int(size[-2])), max(w, int(size[-1]))
        if size_divisor is not None and size_divisor > 1:
            d = size_divisor
            return math.ceil(h / d) * d, math.ceil(w / d) * d
        return h, w

    def _pad_maps(self, sample: Any, img_hw: Tuple[int, int],
                  padding: Tuple[int, int, int, int], training: bool) -> None:
        for key in list(sample.keys()):
            field = getattr(sample, key)
            if not key.startswith('gt_') or not isinstance(field, PixelData):
                continue
            data = field.data
            if tuple(data.shape[-2:]) != tuple(img_hw):
                if training:
                    raise ValueError(
                        f'{key} is {tuple(data.shape[-2:])} but the image is '
                        f'{tuple(img_hw)} ({sample.metainfo.get("img_path")})'
                        '; training maps must match the image')
                continue
            if key not in self.map_pad_vals:
                raise ValueError(f'no padding value for {key}; add it to '
                                 'pad_vals')
            if any(padding):
                # PixelData refuses a new shape while the old data is set
                del field.data
                field.data = F.pad(data, padding,
                                   value=self.map_pad_vals[key])

    def forward(self, data: dict, training: bool = False) -> Dict[str, Any]:
        """Normalise, pad and stack a batch; pad its ground-truth maps."""
        data = self.cast_data(data)
        inputs = data['inputs']
        data_samples = data.get('data_samples', None)
        if self.channel_conversion and inputs[0].size(0) == 3:
            inputs = [x[[2, 1, 0], ...] for x in inputs]
        inputs = [x.float() for x in inputs]
        if self._enable_normalize:
            inputs = [(x - self.mean) / self.std for x in inputs]

        if training:
            if data_samples is None:
                raise ValueError('training needs data_samples')
            size, divisor = self.size, self.size_divisor
        else:
            cfg = self.test_cfg or {}
            size, divisor = cfg.get('size'), cfg.get('size_divisor')
        shapes = [tuple(x.shape[-2:]) for x in inputs]
        th, tw = self._target_size(shapes, size, divisor)

        padded = []
        for i, x in enumerate(inputs):
            h, w = x.shape[-2:]
            padding = (0, tw - w, 0, th - h)
            padded.append(F.pad(x, padding, value=self.pad_val)
                          if any(padding) else x)
            if data_samples is None:
                continue
            sample = data_samples[i]
            self._pad_maps(sample, (h, w), padding, training)
            meta = dict(img_shape=(h, w), pad_shape=(th, tw),
                        padding_size=padding)
            if not training:
                meta['img_padding_size'] = padding
            sample.set_metainfo(meta)
        inputs = torch.stack(padded, dim=0)

        if training and self.batch_augments is not None:
            inputs, data_samples = self.batch_augments(inputs, data_samples)
        return dict(inputs=inputs, data_samples=data_samples)
