"""Loading transforms for NYUv2 images, labels, normals and depth.

Both on-disk layouts are read by file extension: PNG files (NDDR-CNN /
MTL-NAS release) and ``.npy`` files (mtan / LibMTL preprocessing). Outputs
follow ``docs/design.md``:

* ``img``: HxWx3 uint8 **BGR** (like mmcv's ``LoadImageFromFile``);
* ``gt_seg_map``: HxW uint8, 255 = ignore;
* ``gt_normal_map``: HxWx3 float32 unit vectors (channel 0 = x right,
  1 = y up, 2 = z towards the camera), (0, 0, 0) = invalid;
* ``gt_depth_map``: HxW float32 metres, 0 = invalid.

Every annotation key is appended to ``results['seg_fields']`` so mmseg's
geometric transforms move it with the image. Files are validated when read:
undecodable or truncated files, maps whose size differs from their image
(``results['ori_shape']``), class ids outside ``[0, num_classes)`` other
than 255, NaN/inf values and zero-length normals that are not marked
invalid all raise an error that names the file.
"""
import io
import os.path as osp
from typing import Optional, Tuple

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS

#: Value of every channel of an invalid pixel in a normal PNG.
NORMAL_PNG_INVALID = 255


# ---------------------------------------------------------------- helpers
def encode_normal_png(normal: np.ndarray) -> np.ndarray:
    """Encode HxWx3 normals (x, y, z; zero vector = invalid) as the RGB
    uint8 array of a normal PNG: ``round((n + 1) / 2 * 255)``, R = x,
    invalid = (255, 255, 255)."""
    normal = np.asarray(normal, dtype=np.float32)
    invalid = ~np.any(normal != 0, axis=-1)
    enc = np.rint((np.clip(normal, -1, 1) + 1) * 127.5).astype(np.uint8)
    enc[invalid] = NORMAL_PNG_INVALID
    return enc


def decode_normal_png(rgb: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`encode_normal_png` without renormalisation.

    Returns:
        tuple: float32 HxWx3 vectors in [-1, 1] (invalid = 0) and the HxW
        bool validity mask.
    """
    valid = ~np.all(rgb == NORMAL_PNG_INVALID, axis=-1)
    vec = rgb.astype(np.float32) * np.float32(2 / 255) - np.float32(1)
    vec[~valid] = 0
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
        to_float32 (bool): return a float32 image. Defaults to False.
        color_type (str): mmcv decode flag for image files.
        imdecode_backend (str): mmcv decode backend. Defaults to 'cv2'.
        range_tol (float): tolerance on the [0, 1] range of ``.npy``
            images. Defaults to 1e-3.
        backend_args (dict, optional): mmengine file backend arguments.
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

    PNG: single-channel ids, 255 = ignore. ``.npy`` (mtan layout): float
    ids with -1 = ignore, mapped to 255. Ids are checked against
    ``[0, num_classes)`` (255 allowed) *before* ``reduce_zero_label`` and
    ``label_map`` are applied, the same way mmseg's ``LoadAnnotations``
    applies them.

    Required keys: ``seg_map_path``; optional ``num_classes``,
    ``reduce_zero_label``, ``label_map``, ``ori_shape``. Added keys:
    ``gt_seg_map`` (HxW uint8), ``seg_fields``.

    Args:
        num_classes (int, optional): number of classes in the files;
            defaults to ``results['num_classes']`` (set by
            ``NYUv2MultiTaskDataset``). None there too skips the check.
        ignore_index (int): the ignore value. Defaults to 255.
        imdecode_backend (str): mmcv decode backend. Defaults to 'pillow'.
        backend_args (dict, optional): mmengine file backend arguments.
    """

    def __init__(self,
                 num_classes: Optional[int] = None,
                 ignore_index: int = 255,
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
        if arr.min() < -1 or arr.max() > 255:
            raise ValueError(f'label map {path} has ids outside [-1, 255]: '
                             f'[{arr.min():g}, {arr.max():g}]')
        out = arr.astype(np.int64)
        out[out == -1] = self.ignore_index
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
            if arr.max() > 255:
                raise ValueError(f'label map {path} has ids above 255 '
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
            seg = seg.copy()
            seg[seg == 0] = 255
            seg = seg - 1
            seg[seg == 254] = 255
        label_map = results.get('label_map')
        if label_map is not None:
            src = seg.copy()
            for old_id, new_id in label_map.items():
                seg[src == old_id] = new_id
        results['gt_seg_map'] = seg
        _add_field(results, 'gt_seg_map')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')


@TRANSFORMS.register_module()
class LoadNormalMap(BaseTransform):
    """Load a surface-normal map as unit vectors (PNG or ``.npy``).

    PNG (NDDR-CNN release): RGB, ``n = v / 255 * 2 - 1`` (R = x, G = y,
    B = z); a pixel whose three channels are 255 is invalid. ``.npy`` (mtan
    layout): HxWx3 floats in [-1, 1], the zero vector is invalid. Valid
    vectors are renormalised to unit length; a valid vector shorter than
    ``min_norm`` (not a normal, yet not marked invalid) or a NaN/inf value
    is an error.

    Required keys: ``normal_path``; optional ``ori_shape``. Added keys:
    ``gt_normal_map`` (HxWx3 float32, invalid = 0), ``seg_fields``.

    Args:
        min_norm (float): shortest accepted length of a valid vector before
            renormalisation. Defaults to 0.5.
        imdecode_backend (str): mmcv decode backend. Defaults to 'cv2'.
        backend_args (dict, optional): mmengine file backend arguments.
    """

    def __init__(self,
                 min_norm: float = 0.5,
                 imdecode_backend: str = 'cv2',
                 backend_args: Optional[dict] = None) -> None:
        self.min_norm = min_norm
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
        return arr, np.any(arr != 0, axis=-1)

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
        out = np.zeros_like(vec, dtype=np.float32)
        out[valid] = vec[valid] / norm[valid, None]
        results['gt_normal_map'] = out
        _add_field(results, 'gt_normal_map')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(min_norm={self.min_norm})'


@TRANSFORMS.register_module()
class LoadDepthMap(BaseTransform):
    """Load a depth map in metres (uint16 millimetre PNG or ``.npy``).

    Unlike mmseg's ``LoadDepthAnnotation`` it reads both layouts, checks
    the size against the image and rejects NaN/inf and negative depths.
    0 marks invalid pixels.

    Required keys: ``depth_map_path``; optional ``ori_shape``. Added keys:
    ``gt_depth_map`` (HxW float32 metres), ``seg_fields``.

    Args:
        png_scale (float): PNG value per metre. Defaults to 1000 (mm).
        npy_scale (float): ``.npy`` value per metre. Defaults to 1.
        imdecode_backend (str): mmcv decode backend. Defaults to 'cv2'.
        backend_args (dict, optional): mmengine file backend arguments.
    """

    def __init__(self,
                 png_scale: float = 1000.0,
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
        results['gt_depth_map'] = depth
        _add_field(results, 'gt_depth_map')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(png_scale={self.png_scale}, '
                f'npy_scale={self.npy_scale})')
