"""Geometric transforms that keep surface normals and invalid markers right.

mmseg's ``RandomFlip`` / ``Resize`` move every map listed in
``results['seg_fields']`` but treat a normal map like an image: a flip moves
the vectors without mirroring them, and a resize would interpolate them
without renormalising. These subclasses fix that and keep invalid pixels
invalid (the invalid values of
:data:`mtlnas_mm.structures.task_fields.TASK_KINDS`: normal (0,0,0),
depth 0, label 255). The flip axes are those of
:data:`mtlnas_mm.structures.flips.FLIP_AXES`. mmseg's ``RandomCrop`` needs
no change: it slices every ``seg_fields`` entry with the same box.
"""
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image

from mmseg.datasets.transforms import RandomFlip, Resize
from mmseg.registry import TRANSFORMS
from mtlnas_mm.structures.choices import check_choice
from mtlnas_mm.structures.flips import negate_flipped_components
from mtlnas_mm.structures.task_fields import (IGNORE_INDEX, TASK_KINDS,
                                              results_invalid_values)

from .loading import valid_normals

#: pipeline keys of the normal maps, by default
_NORMAL_KEYS = (TASK_KINDS['normal'].results_key, )


def resize_normal_map(normal: np.ndarray, size_wh: Tuple[int, int],
                      eps: float = 1e-6) -> np.ndarray:
    """Resize an HxWx3 normal map to ``size_wh`` = (w, h).

    Vectors are interpolated bilinearly and renormalised; invalid (zero)
    vectors add nothing to the interpolated direction. Validity is resized
    with nearest neighbour, exactly like mmseg resizes labels and depth, so
    an output pixel is valid iff its nearest source pixel is: invalid
    regions stay invalid and the normal and depth masks stay identical.
    Where the bilinear support holds no valid pixel (cv2's nearest and
    bilinear sampling grids differ by up to half a source pixel when
    downscaling) the nearest source vector is used.

    Args:
        normal: HxWx3 vectors, invalid = 0.
        size_wh: the output size (w, h).
        eps: shortest interpolated vector that is renormalised.

    Returns:
        np.ndarray: the resized HxWx3 float32 map.
    """
    normal = np.ascontiguousarray(normal, dtype=np.float32)
    out = mmcv.imresize(normal, size_wh, interpolation='bilinear',
                        backend='cv2')
    nearest = mmcv.imresize(normal, size_wh, interpolation='nearest',
                            backend='cv2')
    valid = valid_normals(nearest)
    norm = np.linalg.norm(out, axis=-1)
    ok = valid & (norm > eps)
    res = np.where(valid[..., None], nearest,
                   np.float32(TASK_KINDS['normal'].invalid))
    res[ok] = out[ok] / norm[ok, None]
    return res


@TRANSFORMS.register_module()
class NormalAwareRandomFlip(RandomFlip):
    """mmseg ``RandomFlip`` that also mirrors the normal vectors.

    Every ``seg_fields`` entry is flipped spatially by mmseg; the entries
    named in ``normal_keys`` then get their x (horizontal), y (vertical) or
    both (diagonal) components negated. Arguments are those of mmseg's
    ``RandomFlip`` (``prob``, ``direction``, ``swap_seg_labels``) plus:

    Args:
        normal_keys: keys holding HxWx3 normal maps. Defaults to the
            normal kind's pipeline key, ``('gt_normal_map',)``.
        negate_components: negate the mirrored components (physically
            right, the default); ``False`` mirrors the maps only, as the
            official MTL-NAS pipeline does (its flipped normals point the
            wrong way in x): to reproduce the official computation.
    """

    def __init__(self, *args,
                 normal_keys: Sequence[str] = _NORMAL_KEYS,
                 negate_components: bool = True,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.normal_keys = tuple(normal_keys)
        self.negate_components = bool(negate_components)

    def _flip(self, results: dict) -> None:
        super()._flip(results)
        if not self.negate_components:
            return
        direction = results['flip_direction']
        fields = results.get('seg_fields', [])
        for key in self.normal_keys:
            if key in fields and results.get(key) is not None:
                results[key] = negate_flipped_components(
                    results[key], direction)

    def __repr__(self) -> str:
        return (super().__repr__()[:-1] +
                f', normal_keys={self.normal_keys}, '
                f'negate_components={self.negate_components})')


def _pillow_nearest_float(arr: np.ndarray,
                          size: Tuple[int, int]) -> np.ndarray:
    """Nearest resize of a float ``HxW`` or ``HxWxC`` map to ``size``
    ``(w, h)`` with PIL (``'F'`` mode, one channel at a time: mmcv's
    pillow path takes uint8 only); the dtype is kept."""
    def one(channel: np.ndarray) -> np.ndarray:
        image = Image.fromarray(
            np.ascontiguousarray(channel, dtype=np.float32))
        return np.asarray(image.resize(size, Image.NEAREST))

    if arr.ndim == 2:
        out = one(arr)
    else:
        out = np.stack([one(arr[..., c]) for c in range(arr.shape[-1])],
                       axis=-1)
    return out.astype(arr.dtype, copy=False)


@TRANSFORMS.register_module()
class NormalAwareResize(Resize):
    """mmseg ``Resize`` with normal-map support.

    The image is resized as by mmseg. Maps in ``seg_fields`` are resized to
    the new image size: normal maps (``normal_keys``) bilinearly with
    renormalisation and a nearest-resized invalid mask
    (:func:`resize_normal_map`), every other map (labels, depth) with
    nearest neighbour, so ignore/invalid values are never blended. Usable
    inside ``RandomResize(..., resize_type='NormalAwareResize')``.

    Args:
        normal_keys: keys holding HxWx3 normal maps. Defaults to the
            normal kind's pipeline key, ``('gt_normal_map',)``.
        normal_interpolation: ``'bilinear'`` (default: interpolated,
            renormalised directions, :func:`resize_normal_map`) or
            ``'nearest'``: every output pixel copies its nearest source
            vector, as the official MTL-NAS loader resizes the normal PNG
            (PIL ``NEAREST``; with ``backend='pillow'`` the sampling grid
            is PIL's too).  The project prefers bilinear: nearest resizing
            of an upscaled map repeats pixels and aliases when
            downscaling.
        **kwargs: mmseg ``Resize`` arguments (``scale``, ``scale_factor``,
            ``keep_ratio``, ``interpolation``, ``backend``, ...).
    """

    normal_interpolations = ('bilinear', 'nearest')

    def __init__(self, *args,
                 normal_keys: Sequence[str] = _NORMAL_KEYS,
                 normal_interpolation: str = 'bilinear',
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        check_choice(normal_interpolation, self.normal_interpolations,
                     'NormalAwareResize: normal_interpolation')
        self.normal_keys = tuple(normal_keys)
        self.normal_interpolation = normal_interpolation

    def _resize_normal(self, normal: np.ndarray,
                       size: Tuple[int, int]) -> np.ndarray:
        if self.normal_interpolation == 'bilinear':
            return resize_normal_map(normal, size)
        normal = np.ascontiguousarray(normal, dtype=np.float32)
        if self.backend != 'pillow':
            return mmcv.imresize(normal, size, interpolation='nearest',
                                 backend=self.backend)
        return _pillow_nearest_float(normal, size)

    def _target_size(self, results: dict, seg: np.ndarray) -> Tuple[int, int]:
        img = results.get('img')
        if img is not None:
            return img.shape[1], img.shape[0]
        h, w = seg.shape[:2]
        if self.keep_ratio:
            return mmcv.rescale_size((w, h), results['scale'])
        return tuple(results['scale'])

    def _resize_seg(self, results: dict) -> None:
        for key in results.get('seg_fields', []):
            seg = results.get(key)
            if seg is None:
                continue
            size = self._target_size(results, seg)
            if key in self.normal_keys:
                results[key] = self._resize_normal(seg, size)
            elif self.backend == 'pillow' and seg.dtype != np.uint8:
                # mmcv's pillow path takes uint8 only
                if not np.issubdtype(seg.dtype, np.floating):
                    raise TypeError(
                        f'NormalAwareResize(backend=\'pillow\'): '
                        f'{key!r} is {seg.dtype}; pillow resizes uint8 and '
                        'float maps only (use backend=\'cv2\')')
                results[key] = _pillow_nearest_float(seg, size)
            else:
                results[key] = mmcv.imresize(seg, size,
                                             interpolation='nearest',
                                             backend=self.backend)


@TRANSFORMS.register_module()
class MultiTaskPad(BaseTransform):
    """Pad the image and every ``seg_fields`` map at the bottom/right.

    Each map is padded with its own invalid value, by default that of
    :data:`~mtlnas_mm.structures.task_fields.TASK_KINDS`: labels with
    ``seg_pad_val`` (255), normals with ``normal_pad_val`` (0 = invalid
    vector), depth with ``depth_pad_val`` (0 = invalid). Meant for training
    pipelines, e.g. the "pad to 321 if smaller, then random-crop 321" of
    MTL-NAS (Gao et al., CVPR 2020):
    ``dict(type='MultiTaskPad', size=(321, 321))`` before ``RandomCrop``.

    Args:
        size: minimum output size ``(h, w)`` (like ``RandomCrop``'s
            ``crop_size``); larger images are kept.
        size_divisor: round the output size up to a multiple of this.
        pad_val: image padding value. Defaults to 0.
        seg_pad_val: padding of ``gt_seg_map`` and of any other map not
            listed below. Defaults to ``IGNORE_INDEX`` (255).
        normal_pad_val: padding of ``gt_normal_map``. Defaults to the
            normal invalid value, 0.
        depth_pad_val: padding of ``gt_depth_map``. Defaults to the depth
            invalid value, 0.
        pad_vals: explicit padding values of other keys.
    """

    def __init__(self,
                 size: Optional[Union[int, Tuple[int, int]]] = None,
                 size_divisor: Optional[int] = None,
                 pad_val: float = 0,
                 seg_pad_val: int = IGNORE_INDEX,
                 normal_pad_val: float = TASK_KINDS['normal'].invalid,
                 depth_pad_val: float = TASK_KINDS['depth'].invalid,
                 pad_vals: Optional[Dict[str, float]] = None) -> None:
        if size is None and size_divisor is None:
            raise ValueError('MultiTaskPad needs size or size_divisor')
        if isinstance(size, int):
            size = (size, size)
        self.size = tuple(size) if size is not None else None
        self.size_divisor = size_divisor
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val
        self.pad_vals = results_invalid_values()
        self.pad_vals.update({
            TASK_KINDS['seg'].results_key: seg_pad_val,
            TASK_KINDS['normal'].results_key: normal_pad_val,
            TASK_KINDS['depth'].results_key: depth_pad_val
        })
        self.pad_vals.update(pad_vals or {})

    @staticmethod
    def _pad(arr: np.ndarray, ph: int, pw: int, value: float) -> np.ndarray:
        widths = [(0, ph), (0, pw)] + [(0, 0)] * (arr.ndim - 2)
        return np.pad(arr, widths, mode='constant', constant_values=value)

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        th, tw = h, w
        if self.size is not None:
            th, tw = max(th, self.size[0]), max(tw, self.size[1])
        if self.size_divisor:
            d = self.size_divisor
            th, tw = math.ceil(th / d) * d, math.ceil(tw / d) * d
        ph, pw = th - h, tw - w
        if ph or pw:
            results['img'] = self._pad(results['img'], ph, pw, self.pad_val)
            for key in results.get('seg_fields', []):
                if results.get(key) is None:
                    continue
                if results[key].shape[:2] != (h, w):
                    raise ValueError(
                        f'{key} is {results[key].shape[:2]} but the image is '
                        f'{(h, w)} ({results.get("img_path", "?")})')
                value = self.pad_vals.get(key, self.seg_pad_val)
                results[key] = self._pad(results[key], ph, pw, value)
        results['img_shape'] = (th, tw)
        results['pad_shape'] = (th, tw)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, '
                f'size_divisor={self.size_divisor}, pad_val={self.pad_val}, '
                f'pad_vals={self.pad_vals})')
