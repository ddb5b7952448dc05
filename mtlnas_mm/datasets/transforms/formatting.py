"""Packing of multi-task samples into ``SegDataSample``s."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import to_tensor
from mmengine.structures import PixelData

from mmseg.datasets.transforms import PackSegInputs
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class PackMultiTaskInputs(PackSegInputs):
    """mmseg ``PackSegInputs`` plus the normal and depth maps and the
    image-level label.

    Adds to the ``SegDataSample`` (``docs/design.md``):

    * ``gt_normal_map``: ``PixelData(data=FloatTensor 3xHxW)`` from the
      HxWx3 ``results['gt_normal_map']`` (channel 0 = x), invalid = 0;
    * ``gt_depth_map``: ``PixelData(data=FloatTensor 1xHxW)`` in metres,
      invalid = 0 (mmseg already packs it; here it is forced to float32);
    * ``gt_label``: ``LongTensor`` of shape (1, ) from the int
      ``results['gt_label']`` (mmpretrain's convention, so its ``Accuracy``
      metric reads it).

    ``gt_sem_seg`` and the image are packed by mmseg.

    Args:
        meta_keys (Sequence[str]): meta keys copied into the sample; the
            mmseg defaults plus ``normal_path`` and ``depth_map_path``.
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
        if 'gt_normal_map' in results:
            normal = results['gt_normal_map']
            if normal.ndim != 3 or normal.shape[2] != 3:
                raise ValueError(f'gt_normal_map must be HxWx3, got '
                                 f'{normal.shape} '
                                 f'({results.get("img_path", "?")})')
            data = to_tensor(
                np.ascontiguousarray(normal.transpose(2, 0, 1),
                                     dtype=np.float32))
            sample.set_data(dict(gt_normal_map=PixelData(data=data)))
        if 'gt_depth_map' in results:
            depth = np.ascontiguousarray(results['gt_depth_map'],
                                         dtype=np.float32)
            if depth.ndim == 3 and depth.shape[2] == 1:
                depth = depth[..., 0]
            sample.set_data(dict(gt_depth_map=PixelData(
                data=torch.from_numpy(depth[None].copy()))))
        if 'gt_label' in results:
            label = results['gt_label']
            if isinstance(label, (bool, np.bool_)) or \
                    not isinstance(label, (int, np.integer)):
                raise TypeError(f'gt_label must be an int class index, got '
                                f'{label!r} ({results.get("img_path", "?")})')
            sample.set_field(
                torch.tensor([int(label)], dtype=torch.long), 'gt_label')
        return packed
