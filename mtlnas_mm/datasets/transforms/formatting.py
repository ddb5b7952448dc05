"""Packing of multi-task samples into ``SegDataSample``s."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import to_tensor
from mmengine.structures import PixelData

from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS
from mtlnas_mm.structures.task_fields import TASK_KINDS

_NORMAL = TASK_KINDS['normal']
_DEPTH = TASK_KINDS['depth']
_LABEL = TASK_KINDS['label']


@TRANSFORMS.register_module()
class PackMultiTaskInputs(PackSegInputs):
    """mmseg ``PackSegInputs`` plus the normal and depth maps and the
    image-level label.

    Adds to the ``SegDataSample``
    (``docs/design.md#data-sample-contract-mmsegstructuressegdatasample``;
    the keys and fields are those of
    :data:`~mtlnas_mm.structures.task_fields.TASK_KINDS`):

    * ``gt_normal_map``: ``PixelData(data=FloatTensor 3xHxW)`` from the
      HxWx3 ``results['gt_normal_map']`` (channel 0 = x), invalid = 0;
    * ``gt_depth_map``: ``PixelData(data=FloatTensor 1xHxW)`` in metres,
      invalid = 0 (mmseg already packs it; here it is forced to float32);
    * ``gt_label``: ``LongTensor`` of shape (1, ) from the int
      ``results['gt_label']`` (mmpretrain's convention, so its ``Accuracy``
      metric reads it).

    ``gt_sem_seg`` and the image are packed by mmseg.

    Args:
        meta_keys: meta keys copied into the sample; the mmseg defaults
            plus ``normal_path`` and ``depth_map_path``.
    """

    def __init__(self,
                 meta_keys: Sequence[str] = (
                     'img_path', 'seg_map_path', 'normal_path',
                     'depth_map_path', 'ori_shape', 'img_shape', 'pad_shape',
                     'scale_factor', 'flip', 'flip_direction',
                     'reduce_zero_label')) -> None:
        super().__init__(meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        packed = super().transform(results)
        sample = packed['data_samples']
        if _NORMAL.results_key in results:
            normal = results[_NORMAL.results_key]
            if normal.ndim != 3 or normal.shape[2] != 3:
                raise ValueError(f'{_NORMAL.results_key} must be HxWx3, got '
                                 f'{normal.shape} '
                                 f'({results.get("img_path", "?")})')
            data = to_tensor(
                np.ascontiguousarray(normal.transpose(2, 0, 1),
                                     dtype=np.float32))
            sample.set_data({_NORMAL.gt_field: PixelData(data=data)})
        if _DEPTH.results_key in results:
            depth = np.ascontiguousarray(results[_DEPTH.results_key],
                                         dtype=np.float32)
            if depth.ndim == 3 and depth.shape[2] == 1:
                depth = depth[..., 0]
            sample.set_data({
                _DEPTH.gt_field:
                PixelData(data=torch.from_numpy(depth[None].copy()))
            })
        if _LABEL.results_key in results:
            label = results[_LABEL.results_key]
            if isinstance(label, (bool, np.bool_)) or \
                    not isinstance(label, (int, np.integer)):
                raise TypeError(f'{_LABEL.results_key} must be an int class '
                                f'index, got {label!r} '
                                f'({results.get("img_path", "?")})')
            sample.set_field(
                torch.tensor([int(label)], dtype=torch.long), _LABEL.gt_field)
        return packed
