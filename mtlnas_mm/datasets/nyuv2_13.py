"""NYUv2-13 in the mtan / LibMTL preprocessed layout, and its augmentation.

:class:`NYUv2LibMTLDataset` indexes ``<data_root>/<split>/{image,label,
depth,normal}/<i>.npy`` (:mod:`.libmtl_layout`) for the three tasks of the
LibMTL NYUv2 benchmark: 13-class segmentation, depth and surface normals.
The project's loading transforms read the files into its sample fields
(``gt_seg_map`` uint8 with -1 -> 255 ignore, ``gt_depth_map`` metres with
0 invalid, ``gt_normal_map`` unit vectors with 0 invalid; the image as
uint8 BGR, like every other data set of the project).

:class:`LibMTLRandomScaleCrop` is the optional training augmentation of
mtan and LibMTL (``RandomScaleCrop`` of their ``create_dataset.py``; off by
default in both, and off in the published ResNet-50 results of LibMTL).
"""
import os.path as osp
from typing import List, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import BaseTransform

from mmseg.registry import DATASETS, TRANSFORMS
from mtlnas_mm.structures.choices import check_choice
from mtlnas_mm.structures.task_fields import TASK_KINDS
from .libmtl_layout import LIBMTL_NUM_CLASSES, LIBMTL_SPLIT_ALIASES
from .nyuv2 import NYUv2MultiTaskDataset

_SEG_KEY = TASK_KINDS['seg'].results_key
_DEPTH_KEY = TASK_KINDS['depth'].results_key
_NORMAL_KEY = TASK_KINDS['normal'].results_key
_NORMAL_INVALID = TASK_KINDS['normal'].invalid


@DATASETS.register_module()
class NYUv2LibMTLDataset(NYUv2MultiTaskDataset):
    """NYUv2-13 seg + depth + normals in the mtan / LibMTL ``.npy`` layout.

    A :class:`NYUv2MultiTaskDataset` fixed to ``layout='npy'`` and 13
    classes, loading depth by default, with the split names of LibMTL
    (``'test'`` reads the ``val`` folder, as LibMTL's ``mode='test'``
    does) and the index check the mtan / LibMTL loaders imply: they count
    the image files and read ``0.npy .. N-1.npy``, so a split whose files
    are not exactly those is an error naming the folder
    (``require_contiguous``).

    Data infos carry ``img_path``, ``seg_map_path``, ``depth_map_path``,
    ``normal_path`` and ``num_classes=13``; the pipeline decides what is
    loaded (``LoadMultiTaskImage``, ``LoadSegMap``, ``LoadDepthMap``,
    ``LoadNormalMap``, ``PackMultiTaskInputs``).

    Args:
        split: ``'train'``, ``'val'`` or ``'test'`` (= ``'val'``).
        with_depth: index the depth maps. Defaults to True.
        with_normal: index the normal maps. Defaults to True.
        require_contiguous: the split's files must be ``0 .. N-1``.
            Defaults to True.
        **kwargs: :class:`NYUv2MultiTaskDataset` / mmseg ``BaseSegDataset``
            arguments (``data_root``, ``pipeline``, ``indices``,
            ``test_mode``, ``data_prefix``, ``metainfo``, ...); ``layout``
            and ``num_classes`` are fixed here.
    """

    def __init__(self,
                 split: str = 'train',
                 with_depth: bool = True,
                 with_normal: bool = True,
                 require_contiguous: bool = True,
                 **kwargs) -> None:
        check_choice(split, LIBMTL_SPLIT_ALIASES, 'NYUv2LibMTLDataset: split')
        fixed = sorted(k for k in ('layout', 'num_classes', 'seg_list',
                                   'normal_list', 'depth_list',
                                   'with_img_label') if k in kwargs)
        if fixed:
            raise ValueError(f'NYUv2LibMTLDataset: {fixed} cannot be set '
                             '(the layout is npy with 13 classes); use '
                             'NYUv2MultiTaskDataset for other layouts')
        self.split = LIBMTL_SPLIT_ALIASES[split]
        self.require_contiguous = require_contiguous
        super().__init__(
            layout='npy',
            split=self.split,
            with_depth=with_depth,
            with_normal=with_normal,
            num_classes=LIBMTL_NUM_CLASSES,
            **kwargs)

    def load_data_list(self) -> List[dict]:
        """Index the split (see :class:`NYUv2MultiTaskDataset`) and check
        that its files are ``0 .. N-1``."""
        data_list = super().load_data_list()
        if self.require_contiguous:
            stems = [
                osp.splitext(osp.basename(info['img_path']))[0]
                for info in data_list
            ]
            expected = [str(i) for i in range(len(stems))]
            if stems != expected:
                bad = next(s for s, e in zip(stems, expected) if s != e)
                raise ValueError(
                    f'{self.data_prefix["img_path"]}: the LibMTL layout '
                    f'numbers a split 0.npy .. {len(stems) - 1}.npy (mtan '
                    f'and LibMTL read range(N)); found {bad}.npy out of '
                    'sequence (require_contiguous=False accepts any '
                    'integer names)')
        return data_list


def _resize(arr: np.ndarray, size: Sequence[int], mode: str) -> np.ndarray:
    """Resize an HxW or HxWxC array with ``F.interpolate`` (``'nearest'``,
    or ``'bilinear'`` with ``align_corners=True``) as mtan / LibMTL do."""
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    t = t[None, None] if t.dim() == 2 else t.permute(2, 0, 1)[None]
    kwargs = dict(align_corners=True) if mode == 'bilinear' else {}
    out = F.interpolate(t, size=tuple(size), mode=mode, **kwargs)[0]
    out = out[0] if arr.ndim == 2 else out.permute(1, 2, 0)
    return out.numpy()


@TRANSFORMS.register_module()
class LibMTLRandomScaleCrop(BaseTransform):
    """mtan / LibMTL's ``RandomScaleCrop``: zoom in by a random factor.

    A factor ``s`` is drawn from ``scales``; an ``int(H / s) x int(W / s)``
    window at a uniformly random position is cropped and resized back to
    ``H x W``: the image and the normals bilinearly
    (``align_corners=True``), labels and depth with nearest neighbour, and
    the depth divided by ``s`` (the zoomed scene looks ``s`` times
    closer). Invalid depth (0) stays invalid.

    Differences from the original, both on purpose: the image stays uint8
    (the bilinear result is rounded), and valid normals are renormalised
    after the bilinear resize (LibMTL keeps the shortened vectors next to
    invalid pixels; the angle metric and the cosine loss only read the
    direction, which is the same). Any further ``seg_fields`` entry is
    resized with nearest neighbour.

    The random horizontal flip that follows in mtan / LibMTL (normal x
    negated) is ``NormalAwareRandomFlip(prob=0.5)``.

    Required keys: ``img``; optional ``gt_seg_map``, ``gt_depth_map``,
    ``gt_normal_map``, ``seg_fields``. Modified keys: the same. Added key:
    ``scale_crop`` (``(s, top, left, h, w)``).

    Args:
        scales: the zoom factors, drawn uniformly. Defaults to
            ``(1.0, 1.2, 1.5)`` (mtan / LibMTL).
    """

    def __init__(self, scales: Sequence[float] = (1.0, 1.2, 1.5)) -> None:
        scales = tuple(float(s) for s in scales)
        if not scales or min(scales) < 1.0:
            raise ValueError('LibMTLRandomScaleCrop: scales must be a '
                             f'non-empty list of factors >= 1, got {scales}')
        self.scales = scales

    def transform(self, results: dict) -> dict:
        img = results['img']
        height, width = img.shape[:2]
        scale = self.scales[np.random.randint(len(self.scales))]
        h, w = int(height / scale), int(width / scale)
        top = np.random.randint(0, height - h + 1)
        left = np.random.randint(0, width - w + 1)
        window = (slice(top, top + h), slice(left, left + w))
        size = (height, width)

        out = _resize(img[window], size, 'bilinear')
        if img.dtype == np.uint8:
            out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        results['img'] = out.astype(img.dtype, copy=False)

        keys = list(results.get('seg_fields', []))
        for key in (_SEG_KEY, _DEPTH_KEY, _NORMAL_KEY):
            if key in results and key not in keys:
                keys.append(key)
        for key in keys:
            arr = results[key]
            if key == _NORMAL_KEY:
                vec = _resize(arr[window], size, 'bilinear')
                norm = np.linalg.norm(vec, axis=-1, keepdims=True)
                valid = norm[..., 0] > 0
                vec[valid] = vec[valid] / norm[valid]
                vec[~valid] = _NORMAL_INVALID
                results[key] = vec.astype(np.float32)
            else:
                res = _resize(arr[window], size, 'nearest')
                if key == _DEPTH_KEY:
                    res = res / np.float32(scale)
                results[key] = res.astype(arr.dtype)
        results['scale_crop'] = (scale, top, left, h, w)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(scales={self.scales})'


__all__ = ['NYUv2LibMTLDataset', 'LibMTLRandomScaleCrop']
