"""The mtan / LibMTL preprocessed NYUv2-13 layout: paths, writer, reader.

mtan (``im2im_pred/create_dataset.py``) and LibMTL
(``examples/nyu/create_dataset.py``) read NYUv2 as one ``.npy`` file per
sample and task::

    ROOT/{train,val}/image/<i>.npy   HxWx3 float RGB in [0, 1]
    ROOT/{train,val}/label/<i>.npy   HxW float NYUv2-13 class ids, -1 ignore
    ROOT/{train,val}/depth/<i>.npy   HxWx1 float metres, 0 invalid
    ROOT/{train,val}/normal/<i>.npy  HxWx3 float unit vectors, 0 invalid

with ``i`` running over ``0 .. N - 1`` (both loaders count the image files
and read indices ``range(N)``; 795 train and 654 val samples at 288x384 in
the released data). Both loaders call the evaluation split ``val``; LibMTL's
``mode='test'`` reads it too.

This module is the one place that knows the layout's paths and encodings:
:func:`write_libmtl_sample` writes one sample (for dataset converters and
for tests that generate data), :func:`read_libmtl_sample` reads one back as
plain arrays, and :func:`libmtl_indices` lists a split's indices with the
checks the dataset class relies on. The pipeline reads the files with the
project's loading transforms (``LoadMultiTaskImage``, ``LoadSegMap``,
``LoadDepthMap``, ``LoadNormalMap``), which convert them to the project's
sample fields (uint8 BGR image, label 255 = ignore).
"""
import os
import os.path as osp
import re
from typing import Dict, List, Sequence, Tuple

import numpy as np

from mtlnas_mm.structures.choices import check_choice
from mtlnas_mm.structures.task_fields import IGNORE_INDEX

#: the split folders of the layout
LIBMTL_SPLITS: Tuple[str, ...] = ('train', 'val')
#: split names accepted by the readers, mapped to their folder (LibMTL's
#: ``mode='test'`` reads ``val``)
LIBMTL_SPLIT_ALIASES: Dict[str, str] = {
    'train': 'train',
    'val': 'val',
    'test': 'val'
}
#: the per-task folders of a split, in the order of the loaders
LIBMTL_FOLDERS: Tuple[str, ...] = ('image', 'label', 'depth', 'normal')
#: image size (H, W) of the released preprocessed data
LIBMTL_IMAGE_SIZE: Tuple[int, int] = (288, 384)
#: number of segmentation classes
LIBMTL_NUM_CLASSES = 13
#: class id of an unlabeled pixel in ``label/<i>.npy``
LIBMTL_SEG_IGNORE = -1
#: longest deviation from unit length accepted for a valid normal written
_NORMAL_LENGTH_TOL = 1e-2

_INDEX_FILE = re.compile(r'^(\d+)\.npy$')


def libmtl_split_dir(root: str, split: str) -> str:
    """The folder of ``split`` (``'train'``, ``'val'`` or its alias
    ``'test'``) under ``root``."""
    check_choice(split, LIBMTL_SPLIT_ALIASES, 'libmtl_split_dir: split')
    return osp.join(root, LIBMTL_SPLIT_ALIASES[split])


def libmtl_sample_paths(root: str, split: str, index: int) -> Dict[str, str]:
    """``{folder: path}`` of the four files of sample ``index``.

    Args:
        root: the data root.
        split: ``'train'``, ``'val'`` (or ``'test'``, read as ``'val'``).
        index: the sample index (``>= 0``).

    Returns:
        dict: keys ``'image'``, ``'label'``, ``'depth'``, ``'normal'``.
    """
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) \
            or index < 0:
        raise ValueError(f'sample index must be an int >= 0, got {index!r}')
    folder = libmtl_split_dir(root, split)
    return {
        kind: osp.join(folder, kind, f'{int(index)}.npy')
        for kind in LIBMTL_FOLDERS
    }


def make_libmtl_dirs(root: str,
                     splits: Sequence[str] = LIBMTL_SPLITS) -> None:
    """Create the per-task folders of ``splits`` under ``root``."""
    for split in splits:
        folder = libmtl_split_dir(root, split)
        for kind in LIBMTL_FOLDERS:
            os.makedirs(osp.join(folder, kind), exist_ok=True)


def libmtl_indices(root: str, split: str,
                   require_contiguous: bool = True) -> List[int]:
    """The sample indices of a split, read from its ``image`` folder.

    Args:
        root: the data root.
        split: ``'train'``, ``'val'`` or ``'test'`` (= ``'val'``).
        require_contiguous: the indices must be ``0 .. N - 1``, as mtan and
            LibMTL assume (they count the files and read ``range(N)``).

    Returns:
        The sorted indices.

    Raises:
        FileNotFoundError: the image folder does not exist.
        ValueError: a ``.npy`` file is not named ``<int>.npy``, the folder
            holds none, or (``require_contiguous``) an index is missing.
    """
    img_dir = osp.join(libmtl_split_dir(root, split), 'image')
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f'image folder not found: {img_dir} (the '
                                'LibMTL layout is <root>/<split>/image/'
                                '<i>.npy)')
    indices = []
    for name in os.listdir(img_dir):
        if not name.endswith('.npy'):
            continue
        match = _INDEX_FILE.match(name)
        if match is None:
            raise ValueError(f'{osp.join(img_dir, name)}: LibMTL layout '
                             'files are named <index>.npy')
        indices.append(int(match.group(1)))
    if not indices:
        raise ValueError(f'no .npy images found in {img_dir}')
    indices.sort()
    if require_contiguous and indices != list(range(len(indices))):
        missing = sorted(set(range(indices[-1] + 1)) - set(indices))
        raise ValueError(
            f'{img_dir}: indices must run 0..N-1 (mtan and LibMTL read '
            f'range(N)); missing {missing[:10]}'
            f'{" ..." if len(missing) > 10 else ""}')
    return indices


# ------------------------------------------------------------------ writer
def _as_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'image must be HxWx3 RGB, got shape {image.shape}')
    if image.dtype == np.uint8:
        return image.astype(np.float32) / np.float32(255)
    out = image.astype(np.float32)
    if not np.isfinite(out).all():
        raise ValueError('image has NaN/inf values')
    if out.min() < 0 or out.max() > 1:
        raise ValueError('a float image must hold RGB values in [0, 1], got '
                         f'[{out.min():.4g}, {out.max():.4g}]')
    return out


def _as_label(seg13: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    seg = np.asarray(seg13)
    if seg.ndim == 3 and seg.shape[2] == 1:
        seg = seg[..., 0]
    if seg.shape != shape:
        raise ValueError(f'seg13 must be HxW {shape} like the image, got '
                         f'shape {seg.shape}')
    if seg.dtype.kind == 'f':
        if not np.isfinite(seg).all() or not np.all(seg == np.round(seg)):
            raise ValueError('seg13 must hold integer class ids')
    elif seg.dtype.kind not in 'iu':
        raise ValueError(f'seg13 must hold integer class ids, got dtype '
                         f'{seg.dtype}')
    seg = seg.astype(np.int64)
    seg[seg == IGNORE_INDEX] = LIBMTL_SEG_IGNORE
    bad = (seg != LIBMTL_SEG_IGNORE) & ((seg < 0) |
                                        (seg >= LIBMTL_NUM_CLASSES))
    if bad.any():
        raise ValueError(
            f'seg13 has ids {np.unique(seg[bad]).tolist()} outside '
            f'[0, {LIBMTL_NUM_CLASSES}); unlabeled pixels are '
            f'{LIBMTL_SEG_IGNORE} (or {IGNORE_INDEX})')
    return seg.astype(np.float32)


def _as_depth(depth: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[..., 0]
    if depth.shape != shape:
        raise ValueError(f'depth must be HxW or HxWx1 {shape} like the '
                         f'image, got shape {depth.shape}')
    if not np.isfinite(depth).all():
        raise ValueError('depth has NaN/inf values; mark invalid pixels '
                         'with 0')
    if depth.min() < 0:
        raise ValueError('depth has negative values; mark invalid pixels '
                         'with 0')
    return depth[..., None]


def _as_normal(normal: np.ndarray, shape: Tuple[int, int]) -> np.ndarray:
    normal = np.asarray(normal, dtype=np.float32)
    if normal.shape != shape + (3, ):
        raise ValueError(f'normal must be HxWx3 {shape + (3, )} like the '
                         f'image, got shape {normal.shape}')
    if not np.isfinite(normal).all():
        raise ValueError('normal has NaN/inf values; mark invalid pixels '
                         'with the zero vector')
    length = np.linalg.norm(normal, axis=-1)
    valid = np.any(normal != 0, axis=-1)
    off = valid & (np.abs(length - 1) > _NORMAL_LENGTH_TOL)
    if off.any():
        v, u = np.argwhere(off)[0]
        raise ValueError(
            f'normal has {int(off.sum())} valid vectors that are not unit '
            f'length (first at row {v}, column {u}: length '
            f'{length[v, u]:.4g}); invalid pixels are the zero vector')
    return normal


def write_libmtl_sample(root: str, split: str, index: int,
                        image: np.ndarray, seg13: np.ndarray,
                        depth: np.ndarray,
                        normal: np.ndarray) -> Dict[str, str]:
    """Write one sample in the mtan / LibMTL layout.

    Signature::

        write_libmtl_sample(root, split, index, image, seg13, depth, normal)
            -> {'image': path, 'label': path, 'depth': path, 'normal': path}

    The arrays are checked (shapes agree, finite values, class ids, unit
    normals) and written as float32 ``.npy`` files in the layout's
    encoding; the folders are created as needed and existing files of the
    same index are overwritten. Any image size is accepted (the released
    data is 288x384, :data:`LIBMTL_IMAGE_SIZE`); indices of a split must end
    up ``0 .. N - 1`` for the readers (:func:`libmtl_indices`).

    Args:
        root: the data root.
        split: ``'train'`` or ``'val'`` (``'test'`` is written to ``val``).
        index: the sample index (``>= 0``), the file stem.
        image: HxWx3 RGB, uint8 (divided by 255) or float in [0, 1].
        seg13: HxW (or HxWx1) NYUv2-13 class ids in ``[0, 13)``; unlabeled
            pixels -1 (255, the project's ignore index, is accepted too and
            written as -1).
        depth: HxW (or HxWx1) depth in metres, 0 = invalid.
        normal: HxWx3 unit normals (channel 0 = x, as the loaders and the
            flip read them), the zero vector = invalid.

    Returns:
        dict: the written path per folder (:func:`libmtl_sample_paths`).

    Raises:
        ValueError: an array has the wrong shape, dtype or values; the
            message names the array and the problem.
    """
    paths = libmtl_sample_paths(root, split, index)
    img = _as_image(image)
    shape = img.shape[:2]
    arrays = dict(image=img,
                  label=_as_label(seg13, shape),
                  depth=_as_depth(depth, shape),
                  normal=_as_normal(normal, shape))
    for kind, arr in arrays.items():
        os.makedirs(osp.dirname(paths[kind]), exist_ok=True)
        np.save(paths[kind], arr)
    return paths


def read_libmtl_sample(root: str, split: str,
                       index: int) -> Dict[str, np.ndarray]:
    """Read one sample back as the arrays stored in the layout.

    Args:
        root: the data root.
        split: ``'train'``, ``'val'`` or ``'test'`` (= ``'val'``).
        index: the sample index.

    Returns:
        dict: ``image`` (HxWx3), ``label`` (HxW, -1 = unlabeled), ``depth``
        (HxWx1) and ``normal`` (HxWx3), as stored.
    """
    out: Dict[str, np.ndarray] = {}
    for kind, path in libmtl_sample_paths(root, split, index).items():
        if not osp.isfile(path):
            raise FileNotFoundError(f'{kind} file not found: {path}')
        try:
            out[kind] = np.load(path, allow_pickle=False)
        except Exception as e:
            raise ValueError(f'cannot read {path} as .npy: {e}') from e
    return out
