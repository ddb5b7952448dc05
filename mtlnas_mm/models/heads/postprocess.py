"""Helpers shared by the task heads: reading the ground truth of a batch,
and undoing the test-time geometry (padding, flip, resize) of a prediction.

The geometry is undone by one implementation for every dense task,
mirroring mmseg's ``BaseSegmentor.postprocess_result``; vector fields
(surface normals) also get their flipped components negated and are
re-normalised after resizing.
"""
from typing import Any, List, Optional

import torch.nn.functional as F
from torch import Tensor

from mmseg.models.utils import resize
from mtlnas_mm.structures.flips import flip_map, flip_vector_field


def batch_gt(batch_data_samples: list, field: str, owner: str) -> List[Any]:
    """The ``field`` of every data sample of a batch; a sample without it
    raises a ``KeyError`` naming ``owner``, the sample and the field."""
    out = []
    for i, sample in enumerate(batch_data_samples):
        if field not in sample:
            raise KeyError(f'{owner}: data sample {i} has no "{field}"')
        out.append(sample.get(field))
    return out


def restore_prediction(pred: Tensor,
                       img_meta: dict,
                       align_corners: bool = False,
                       is_vector: bool = False) -> Tensor:
    """Map one prediction from padded network input to ``ori_shape``.

    Args:
        pred: (1, C, H, W) prediction at the padded input size.
        img_meta: the sample's metainfo (``padding_size`` /
            ``img_padding_size``, ``flip``, ``flip_direction``,
            ``ori_shape``).
        align_corners: for the bilinear resize.
        is_vector: ``pred`` is a field of 3-D vectors (x right, y up):
            negate x after a horizontal flip, y after a vertical flip, and
            L2-normalise after resizing.

    Returns:
        Tensor: (C, H0, W0) at ``ori_shape``.
    """
    _, _, h, w = pred.shape
    padding = img_meta.get('img_padding_size',
                           img_meta.get('padding_size', None)) or [0] * 4
    left, right, top, bottom = padding
    pred = pred[:, :, top:h - bottom, left:w - right]
    if img_meta.get('flip', False):
        direction = img_meta.get('flip_direction', None)
        flip = flip_vector_field if is_vector else flip_map
        pred = flip(pred, direction)
    ori_shape = tuple(img_meta.get('ori_shape', pred.shape[2:]))[:2]
    if tuple(pred.shape[2:]) != ori_shape:
        pred = resize(pred, size=ori_shape, mode='bilinear',
                      align_corners=align_corners, warning=False)
    if is_vector:
        pred = F.normalize(pred, dim=1)
    return pred.squeeze(0)


def default_img_metas(inputs: Tensor) -> list:
    """Metainfo used when ``predict`` gets no data samples (as mmseg)."""
    shape = tuple(inputs.shape[2:])
    return [
        dict(ori_shape=shape, img_shape=shape, pad_shape=shape,
             padding_size=[0, 0, 0, 0]) for _ in range(inputs.shape[0])
    ]


def prediction_size(batch_img_metas: list) -> Optional[tuple]:
    """Size that ``predict`` resizes to, as mmseg's ``predict_by_feat``."""
    meta = batch_img_metas[0]
    if 'pad_shape' in meta:
        return tuple(meta['pad_shape'][:2])
    return tuple(meta['img_shape'][:2])
