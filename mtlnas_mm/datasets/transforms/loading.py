"""Loading transforms for NYUv2 images, labels, normals and depth.

Both on-disk layouts are read by file extension: PNG files (NDDR-CNN /
MTL-NAS release) and ``.npy`` files (mtan / LibMTL preprocessing). Outputs
follow ``docs/design.md#data-sample-contract-mmsegstructuressegdatasample``;
their keys and invalid values are those of
:data:`mtlnas_mm.structures.task_fields.TASK_KINDS`:

* ``img``: HxWx3 uint8 **BGR** (like mmcv's ``LoadImageFromFile``);
* ``gt_seg_map``: HxW uint8, 255 = ignore;
* ``gt_normal_map``: HxWx3 float32 unit vectors (channel 0 = x right,
  1 = y up, 2 = z towards the camera), (0, 0, 0) = invalid;
* ``gt_depth_map``: HxW float32 metres, 0 = invalid.

The on-disk encodings, which are facts of the file layouts rather than of
the data samples, live here as module constants (:data:`DEPTH_PNG_SCALE`,
:data:`NPY_SEG_INVALID`), except the normal PNG encoding, which the losses
and metrics also need (the official "raw" normal space): it lives in
:mod:`mtlnas_mm.structures.normal_space` (``NORMAL_PNG_MAX``,
``NORMAL_PNG_INVALID``, re-exported here).

Every annotation key is appended to ``results['seg_fields']`` so mmseg's
geometric transforms move it with the image. Files are validated when read:
undecodable or truncated files, maps whose size differs from their image
(``results['ori_shape']``), class ids outside ``[0, num_classes)`` other
than the ignore index, NaN/inf values and zero-length normals that are not
marked invalid all raise an error that names the file.
"""
import io
import os.path as osp
from typing import Optional, Tuple

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS
from mtlnas_mm.structures.normal_space import NORMAL_PNG_MAX  # noqa: F401
from mtlnas_mm.structures.normal_space import (NORMAL_PNG_INVALID,
                                               raw_to_unit, unit_to_raw)
from mtlnas_mm.structures.task_fields import IGNORE_INDEX, TASK_KINDS

_SEG_KEY = TASK_KINDS['seg'].results_key
_NORMAL_KEY = TASK_KINDS['normal'].results_key
_DEPTH_KEY = TASK_KINDS['depth'].results_key
#: value of every component of an invalid normal in the pipeline
_NORMAL_INVALID = TASK_KINDS['normal'].invalid

#: Depth PNG value per metre: uint16 millimetres.
DEPTH_PNG_SCALE = 1000.0
#: Class id of an ignored pixel in an ``.npy`` label map (mtan layout).
NPY_SEG_INVALID = -1


# ---------------------------------------------------------------- helpers
def valid_normals(normal: np.ndarray) -> np.ndarray:
    """The HxW validity mask of HxWxC normals: a pixel is invalid iff all
    its components hold the invalid value of ``TASK_KINDS['normal']``.

    Args:
        normal: HxWxC vectors.

    Returns:
        np.ndarray: HxW bool, True where the normal is valid.
    """
    return np.any(normal != _NORMAL_INVALID, axis=-1)


def encode_normal_png(normal: np.ndarray) -> np.ndarray:
    """Encode HxWx3 normals as the RGB uint8 array of a normal PNG.

    ``v = round((n + 1) / 2 * NORMAL_PNG_MAX)``, R = x; an invalid normal
    (:func:`valid_normals`) becomes ``NORMAL_PNG_INVALID`` in every channel.

    Args:
        normal: HxWx3 vectors (x, y, z) in [-1, 1].

    Returns:
        np.ndarray: HxWx3 uint8 RGB.
    """
    normal = np.asarray(normal, dtype=np.float32)
    invalid = ~valid_normals(normal)
    enc = np.rint(unit_to_raw(np.clip(normal, -1, 1))).astype(np.uint8)
    enc[invalid] = NORMAL_PNG_INVALID
    return enc


def decode_normal_png(rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`encode_normal_png` without renormalisation.

    Args:
        rgb: HxWx3 uint8 RGB of a normal PNG.

    Returns:
        tuple: float32 HxWx3 vectors in [-1, 1] (invalid pixels hold the
        normal invalid value, 0) and the HxW bool validity mask.
    """
    valid = ~np.all(rgb == NORMAL_PNG_INVALID, axis=-1)
    vec = raw_to_unit(rgb.astype(np.float32))
    vec[~valid] = _NORMAL_INVALID
    return vec, valid


def _read_bytes(path: str, what: str, backend_args: Optional[dict]) -> bytes:
    try:
        return fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        raise FileNotFoundError(f'{what} file not found: {path}') from None


def _decode(path: str, what: str, flag: str, backend: str,
            backend_args: Optional[dict]) -> np.ndarray:
    content = _read_bytes(path, what, backend_args)
    try:
        arr = mmcv.imfrombytes(content, flag=flag, backend=backend)
    except Exception as e:  # pillow raises on truncated files
        raise ValueError(f'cannot decode {what} {path}: {e}') from e
    if arr is None or arr.size == 0:
        raise ValueError(f'cannot decode {what} {path}: the file is '
                         'corrupt, truncated or not an image')
    return arr


def _load_npy(path: str, what: str, backend_args: Optional[dict]
              ) -> np.ndarray:
    content = _read_bytes(path, what, backend_args)
    try:
        return np.load(io.BytesIO(content), allow_pickle=False)
    except Exception as e:
        raise ValueError(f'cannot read {what} {path} as .npy: {e}') from e


def _is_npy(path: str) -> bool:
    return osp.splitext(path)[1].lower() == '.npy'


def _check_size(results: dict, arr: np.ndarray, path: str,
                what: str) -> None:
    """A map must have the size of its image as loaded (``ori_shape``)."""
    shape = results.get('ori_shape')
    if shape is not None and tuple(arr.shape[:2]) != tuple(shape[:2]):
        raise ValueError(
            f'{what} {path} is {arr.shape[0]}x{arr.shape[1]} but its image '
            f'{results.get("img_path", "?")} is {shape[0]}x{shape[1]}')


def _check_finite(arr: np.ndarray, path: str, what: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        pos = np.argwhere(bad)[0]
        raise ValueError(f'{what} {path} has {int(bad.sum())} NaN/inf '
                         f'values (first at index {tuple(pos.tolist())})')


def _add_field(results: dict, key: str) -> None:
    fields = results.setdefault('seg_fields', [])
    if key not in fields:
        fields.append(key)


# -------------------------------------------------------------- transforms
@TRANSFORMS.register_module()
class LoadMultiTaskImage(BaseTransform):
    """Load an image from a PNG/JPEG file or a ``.npy`` array.

    PNG/JPEG files are decoded with mmcv (BGR, like ``LoadImageFromFile``);
    an ``.npy`` file must hold an HxWx3 float RGB image in [0, 1] (mtan
    layout) and is converted to uint8 BGR so both layouts feed the same
    pipeline and data preprocessor.

    Required keys: ``img_path``. Added keys: ``img``, ``img_shape``,
    ``ori_shape``.

    Args:
        to_float32: return a float32 image. Defaults to False.
        color_type: mmcv decode flag for image files.
        imdecode_backend: mmcv decode backend. Defaults to 'cv2'.
        range_tol: tolerance on the [0, 1] range of ``.npy`` images.
            Defaults to 1e-3.
        backend_args: mmengine file backend arguments.
    """

    def __init__(self,
                 to_float32: bool = False,
                 color_type: str = 'color',
                 imdecode_backend: str = 'cv2',
                 range_tol: float = 1e-3,
                 backend_args: Optional[dict] = None) -> None:
        self.to_float32 = to_float32
        self.color_type = color_type
        self.imdecode_backend = imdecode_backend
        self.range_tol = range_tol
        self.backend_args = backend_args

    def _from_npy(self, path: str) -> np.ndarray:
        arr = _load_npy(path, 'image', self.backend_args)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f'image {path} must be HxWx3, got shape '
                             f'{arr.shape}')
        arr = arr.astype(np.float32)
        _check_finite(arr, path, 'image')
        lo, hi = float(arr.min()), float(arr.max())
        if lo < -self.range_tol or hi > 1 + self.range_tol:
            raise ValueError(f'image {path} must hold values in [0, 1], got '
                             f'[{lo:.4g}, {hi:.4g}]')
        rgb = np.rint(np.clip(arr, 0, 1) * 255).astype(np.uint8)
        return np.ascontiguousarray(rgb[..., ::-1])

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        if _is_npy(path):
            img = self._from_npy(path)
        else:
            img = _decode(path, 'image', self.color_type,
                          self.imdecode_backend, self.backend_args)
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(to_float32={self.to_float32}, '
                f"color_type='{self.color_type}', "
                f"imdecode_backend='{self.imdecode_backend}')")


@TRANSFORMS.register_module()
class LoadSegMap(BaseTransform):
    """Load and validate a semantic label map (PNG or ``.npy``).

    PNG: single-channel ids, ``ignore_index`` (255) = ignore. ``.npy``
    (mtan layout): float ids with ``NPY_SEG_INVALID`` (-1) = ignore, mapped
    to ``ignore_index``. Ids are checked against ``[0, num_classes)``
    (``ignore_index`` allowed) *before* ``reduce_zero_label`` and
    ``label_map`` are applied, the same way mmseg's ``LoadAnnotations``
    applies them.

    Required keys: ``seg_map_path``; optional ``num_classes``,
    ``reduce_zero_label``, ``label_map``, ``ori_shape``. Added keys:
    ``gt_seg_map`` (HxW uint8), ``seg_fields``.

    Args:
        num_classes: number of classes in the files; defaults to
            ``results['num_classes']`` (set by ``NYUv2MultiTaskDataset``).
            None there too skips the check.
        ignore_index: the ignore value. Defaults to ``IGNORE_INDEX`` (255).
        imdecode_backend: mmcv decode backend. Defaults to 'pillow'.
        backend_args: mmengine file backend arguments.
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 ignore_index: int = IGNORE_INDEX,
                 imdecode_backend: str = 'pillow',
                 backend_args: Optional[dict] = None) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args

    def _from_npy(self, path: str) -> np.ndarray:
        arr = _load_npy(path, 'label map', self.backend_args)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[..., 0]
        if arr.ndim != 2:
            raise ValueError(f'label map {path} must be HxW, got shape '
                             f'{arr.shape}')
        arr = arr.astype(np.float64)
        _check_finite(arr, path, 'label map')
        if not np.all(arr == np.round(arr)):
            raise ValueError(f'label map {path} has non-integer class ids')
        top = np.iinfo(np.uint8).max
        if arr.min() < NPY_SEG_INVALID or arr.max() > top:
            raise ValueError(f'label map {path} has ids outside '
                             f'[{NPY_SEG_INVALID}, {top}]: '
                             f'[{arr.min():g}, {arr.max():g}]')
        out = arr.astype(np.int64)
        out[out == NPY_SEG_INVALID] = self.ignore_index
        return out.astype(np.uint8)

    def _from_png(self, path: str) -> np.ndarray:
        arr = _decode(path, 'label map', 'unchanged', self.imdecode_backend,
                      self.backend_args)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[..., 0]
        if arr.ndim != 2:
            raise ValueError(f'label map {path} must be a single-channel '
                             f'image, got shape {arr.shape}')
        if arr.dtype != np.uint8:
            top = np.iinfo(np.uint8).max
            if arr.max() > top:
                raise ValueError(f'label map {path} has ids above {top} '
                                 f'({arr.max()})')
            arr = arr.astype(np.uint8)
        return arr

    def transform(self, results: dict) -> dict:
        path = results['seg_map_path']
        seg = self._from_npy(path) if _is_npy(path) else self._from_png(path)
        _check_size(results, seg, path, 'label map')

        reduce_zero = bool(results.get('reduce_zero_label', False))
        num_classes = self.num_classes if self.num_classes is not None \
            else results.get('num_classes')
        if num_classes is not None:
            top = num_classes + 1 if reduce_zero else num_classes
            bad = (seg >= top) & (seg != self.ignore_index)
            if bad.any():
                ids = np.unique(seg[bad]).tolist()
                raise ValueError(
                    f'label map {path} has class ids {ids} outside '
                    f'[0, {top}) ({int(bad.sum())} pixels); only '
                    f'{self.ignore_index} may mark ignored pixels')
        if reduce_zero:
            # class 0 becomes ignored, every other id moves down by one
            ignored = (seg == 0) | (seg == self.ignore_index)
            seg = seg - np.uint8(1)
            seg[ignored] = self.ignore_index
        label_map = results.get('label_map')
        if label_map is not None:
            src = seg.copy()
            for old_id, new_id in label_map.items():
                seg[src == old_id] = new_id
        results[_SEG_KEY] = seg
        _add_field(results, _SEG_KEY)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')


@TRANSFORMS.register_module()
class LoadNormalMap(BaseTransform):
    """Load a surface-normal map as unit vectors (PNG or ``.npy``).

    PNG (NDDR-CNN release): RGB, ``n = v / NORMAL_PNG_MAX * 2 - 1`` (R = x,
    G = y, B = z); a pixel whose three channels are ``NORMAL_PNG_INVALID``
    is invalid (:func:`decode_normal_png`). ``.npy`` (mtan layout): HxWx3
    floats in [-1, 1], the zero vector is invalid. Valid
    vectors are renormalised to unit length (``renormalize``); a valid
    vector shorter than ``min_norm`` (not a normal, yet not marked invalid)
    or a NaN/inf value is an error.

    Required keys: ``normal_path``; optional ``ori_shape``. Added keys:
    ``gt_normal_map`` (HxWx3 float32, invalid = 0), ``seg_fields``.

    Args:
        min_norm: shortest accepted length of a valid vector before
            renormalisation. Defaults to 0.5.
        renormalize: scale valid vectors to unit length (default: the
            8-bit quantisation leaves them up to ~1 % off). ``False`` keeps
            the decoded values, so that
            :func:`~mtlnas_mm.structures.normal_space.unit_to_raw` gives
            back the PNG's exact 0..255 vectors, as the official MTL-NAS
            loader uses them (the official ``'raw'`` normal space of
            :class:`CosineNormalLoss` / :class:`SurfaceNormalMetric`).
        imdecode_backend: mmcv decode backend. Defaults to 'cv2'.
        backend_args: mmengine file backend arguments.
    """

    def __init__(self,
                 min_norm: float = 0.5,
                 renormalize: bool = True,
                 imdecode_backend: str = 'cv2',
                 backend_args: Optional[dict] = None) -> None:
        self.min_norm = min_norm
        self.renormalize = bool(renormalize)
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args

    def _from_png(self, path: str) -> Tuple[np.ndarray, np.ndarray]:
        arr = _decode(path, 'normal map', 'unchanged', self.imdecode_backend,
                      self.backend_args)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise ValueError(f'normal map {path} must be an 8-bit RGB image, '
                             f'got shape {arr.shape} dtype {arr.dtype}')
        # mmcv returns BGR for 'unchanged' with cv2 and pillow alike;
        # channel 0 must be x (stored in R)
        return decode_normal_png(arr[..., ::-1])

    def _from_npy(self, path: str) -> Tuple[np.ndarray, np.ndarray]:
        arr = _load_npy(path, 'normal map', self.backend_args)
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f'normal map {path} must be HxWx3, got shape '
                             f'{arr.shape}')
        arr = arr.astype(np.float32)
        _check_finite(arr, path, 'normal map')
        return arr, valid_normals(arr)

    def transform(self, results: dict) -> dict:
        path = results['normal_path']
        vec, valid = (self._from_npy(path)
                      if _is_npy(path) else self._from_png(path))
        _check_size(results, vec, path, 'normal map')
        norm = np.linalg.norm(vec, axis=-1)
        short = valid & (norm < self.min_norm)
        if short.any():
            v, u = np.argwhere(short)[0]
            raise ValueError(
                f'normal map {path} has {int(short.sum())} valid pixels with '
                f'a (near) zero-length normal (first at row {v}, column {u}: '
                f'{vec[v, u].tolist()}); mark invalid pixels explicitly')
        out = np.full_like(vec, _NORMAL_INVALID, dtype=np.float32)
        out[valid] = (vec[valid] / norm[valid, None]
                      if self.renormalize else vec[valid])
        results[_NORMAL_KEY] = out
        _add_field(results, _NORMAL_KEY)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_norm={self.min_norm}, '
                f'renormalize={self.renormalize})')


@TRANSFORMS.register_module()
class LoadDepthMap(BaseTransform):
    """Load a depth map in metres (uint16 millimetre PNG or ``.npy``).

    Unlike mmseg's ``LoadDepthAnnotation`` it reads both layouts, checks
    the size against the image and rejects NaN/inf and negative depths.
    0 (the invalid value of ``TASK_KINDS['depth']``) marks invalid pixels
    in both layouts.

    Required keys: ``depth_map_path``; optional ``ori_shape``. Added keys:
    ``gt_depth_map`` (HxW float32 metres), ``seg_fields``.

    Args:
        png_scale: PNG value per metre. Defaults to ``DEPTH_PNG_SCALE``
            (1000, millimetres).
        npy_scale: ``.npy`` value per metre. Defaults to 1.
        imdecode_backend: mmcv decode backend. Defaults to 'cv2'.
        backend_args: mmengine file backend arguments.
    """

    def __init__(self,
                 png_scale: float = DEPTH_PNG_SCALE,
                 npy_scale: float = 1.0,
                 imdecode_backend: str = 'cv2',
                 backend_args: Optional[dict] = None) -> None:
        self.png_scale = png_scale
        self.npy_scale = npy_scale
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        path = results['depth_map_path']
        if _is_npy(path):
            arr = _load_npy(path, 'depth map', self.backend_args)
            scale = self.npy_scale
        else:
            arr = _decode(path, 'depth map', 'unchanged',
                          self.imdecode_backend, self.backend_args)
            if arr.dtype != np.uint16:
                raise ValueError(f'depth map {path} must be a 16-bit PNG, '
                                 f'got dtype {arr.dtype}')
            scale = self.png_scale
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[..., 0]
        if arr.ndim != 2:
            raise ValueError(f'depth map {path} must be HxW, got shape '
                             f'{arr.shape}')
        depth = arr.astype(np.float32) / np.float32(scale)
        _check_finite(depth, path, 'depth map')
        if depth.min() < 0:
            raise ValueError(f'depth map {path} has negative depths')
        _check_size(results, depth, path, 'depth map')
        results[_DEPTH_KEY] = depth
        _add_field(results, _DEPTH_KEY)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(png_scale={self.png_scale}, '
                f'npy_scale={self.npy_scale})')
