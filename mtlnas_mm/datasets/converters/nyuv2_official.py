"""Convert the official NYU Depth v2 labeled release to the NDDR-CNN /
MTL-NAS layout read by :class:`~mtlnas_mm.datasets.NYUv2MultiTaskDataset`.

Inputs
    ``nyu_depth_v2_labeled.mat`` (Silberman et al., ECCV 2012), a MATLAB
    v7.3 (HDF5) file. MATLAB stores arrays column-major, so h5py sees every
    axis reversed: ``images`` is ``(N, 3, W, H)`` for MATLAB's ``H x W x 3 x
    N`` and ``depths`` / ``rawDepths`` / ``labels`` are ``(N, W, H)``; image
    ``n`` is ``images[n].transpose(2, 1, 0)`` (HxWx3) and its depth
    ``depths[n].T``. ``labels`` holds the 894 object classes (0 =
    unlabeled), ``names`` / ``scenes`` / ``sceneTypes`` are cell arrays of
    strings (HDF5 object references to uint16 character arrays). The file
    (2.8 GB) is read one image at a time.

    ``splits.mat`` (``trainNdxs`` 795 / ``testNdxs`` 654, 1-based), MATLAB
    v5 (scipy) or v7.3 (h5py); without it the official split shipped in
    ``data/nyuv2_splits.json`` is used.

Outputs (``DIR``; files are named by the 1-based image index of the
release, ``%04d.png``)::

    DIR/image/<split>/NNNN.png      RGB (cv2 writes BGR files)
    DIR/seg40/<split>/NNNN.png      uint8 40-class ids 0..39, 255 unlabeled
    DIR/seg13/<split>/NNNN.png      uint8 13-class ids 0..12, 255 unlabeled
    DIR/normal/<split>/NNNN.png     normal PNG, invalid = (255, 255, 255)
    DIR/depth/<split>/NNNN.png      uint16 mm of ``depths`` (filled), 0 invalid
    DIR/depth_raw/<split>/NNNN.png  uint16 mm of ``rawDepths``, 0 missing
    DIR/mask/<split>/NNNN.png       uint8 255 = inside the border and raw
                                    depth measured, else 0
    DIR/list/<training|testing>_<task>.txt   task: seg (40), seg13,
                                    normal_mask, depth, depth_raw, mask,
                                    scene (image-level sceneTypes index)
    DIR/nyu_v2_mean.npy             per-channel RGB mean of the train images
    DIR/manifest.json               sources + checksums, mappings, normal
                                    method, counts, per-image records

``<split>`` is ``train`` or ``test``.

With ``layout='libmtl'`` the output is instead the mtan / LibMTL NYUv2-13
layout (:mod:`~mtlnas_mm.datasets.libmtl_layout`) read by
:class:`~mtlnas_mm.datasets.NYUv2LibMTLDataset`::

    DIR/{train,val}/image/<i>.npy   HxWx3 float32 RGB in [0, 1]
    DIR/{train,val}/label/<i>.npy   HxW 13-class ids, -1 unlabeled
    DIR/{train,val}/depth/<i>.npy   HxWx1 metres, 0 invalid
    DIR/{train,val}/normal/<i>.npy  HxWx3 unit normals, 0 invalid
    DIR/manifest.json               as above, plus the sample -> image map

``train`` holds the train split and ``val`` the test split, numbered
``0 .. N-1`` in split order; every image is cropped to the border (mtan's
authors state that they cropped the invalid border and rescaled) and
resized to 288x384 (:func:`resize_for_libmtl`).

Pixels outside the border (:data:`NYU_BORDER`, where the release's RGB
frame has no depth measurement and the filled depth is extrapolated) are
invalid in ``depth``, ``depth_raw``, ``normal`` and ``mask``; the labels
are kept as released. The normals are computed from the raw depth
(measured pixels only) by default, with the estimator and parameters the
benchmark ``tools/analysis_tools/normals_from_depth_benchmark.py``
measured best (:data:`DEFAULT_NORMAL_METHOD`).
"""
import hashlib
import json
import os
import os.path as osp
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from mtlnas_mm.utils.output import claim_output_dir
from ..libmtl_layout import (LIBMTL_FOLDERS, LIBMTL_IMAGE_SIZE,
                             libmtl_split_dir, write_libmtl_sample)
from ..synthetic.writer import encode_depth_png
from ..transforms.loading import encode_normal_png
from .normals_from_depth import (DEFAULT_PARAMS, NORMAL_METHODS,
                                 NYU_RGB_INTRINSICS, Intrinsics,
                                 normals_from_depth)

DATA_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'data')
#: the packaged class mappings (see their ``source`` / ``cross_checks``)
MAPPING_FILES = {40: osp.join(DATA_DIR, 'nyu894_to_40.json'),
                 13: osp.join(DATA_DIR, 'nyu894_to_13.json')}
#: the official split, used when no splits.mat is given
SPLITS_FILE = osp.join(DATA_DIR, 'nyuv2_splits.json')
#: image size of the release
NYU_SIZE = (480, 640)
#: ``(top, bottom, left, right)``: rows ``[44, 471)`` and columns
#: ``[40, 601)`` (0-based, end exclusive) are inside the border of the
#: release's RGB frame; this is the crop of Eigen et al.'s evaluation
#: (MATLAB ``45:471, 41:601``) that NYUv2 normal and depth benchmarks use.
NYU_BORDER = (44, 471, 40, 601)
#: estimator of the normals, chosen by measurement (its parameters are
#: ``DEFAULT_PARAMS['cross']``; see docs/preparing_nyuv2.md, "Normals from
#: depth")
DEFAULT_NORMAL_METHOD = 'cross'
NORMAL_DEPTHS = ('raw', 'filled')
#: output layouts: the NDDR / MTL-NAS PNGs, or mtan / LibMTL's ``.npy``
LAYOUTS = ('nddr', 'libmtl')
#: depth written to the LibMTL layout: the release's filled ``depths``
#: (dense, like the depth of mtan's files) or ``rawDepths``
LIBMTL_DEPTHS = ('filled', 'raw')
#: split of the release -> split folder of the LibMTL layout
LIBMTL_SPLIT_FOLDERS = {'train': 'train', 'test': 'val'}
_SPLIT_LIST = {'train': 'training', 'test': 'testing'}
#: output folder and list-file task of each written map
_FOLDERS = (('image', None), ('seg40', 'seg'), ('seg13', 'seg13'),
            ('normal', 'normal_mask'), ('depth', 'depth'),
            ('depth_raw', 'depth_raw'), ('mask', 'mask'))
_MAT_ARRAYS = ('images', 'depths', 'rawDepths', 'labels')
TOOL = 'tools/dataset_converters/nyuv2.py'


def _import_h5py():
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError('reading nyu_depth_v2_labeled.mat needs h5py: '
                          'pip install -e .[nyuv2]') from e
    return h5py


def sha256_file(path: str, chunk: int = 1 << 23) -> str:
    """Hex SHA-256 of a file, read in 8 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- mappings
def load_mapping(path_or_classes) -> dict:
    """A 894-class mapping file (JSON, the schema of ``data/nyu894_to_40.
    json``), checked: ``mapping`` lists the 1-based target id of every
    source class, ``class_names`` names the targets.

    Args:
        path_or_classes: 40 or 13 (the packaged mappings) or a JSON path.

    Returns:
        dict: the file's content plus ``file`` (its path) and ``sha256``.
    """
    path = MAPPING_FILES.get(path_or_classes, path_or_classes)
    if not isinstance(path, str) or not osp.isfile(path):
        raise FileNotFoundError(f'class mapping file not found: {path} '
                                '(give 40, 13 or a JSON path)')
    with open(path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'{path}: not valid JSON: {e}') from e
    mapping, names = data.get('mapping'), data.get('class_names')
    if not isinstance(mapping, list) or not isinstance(names, list):
        raise ValueError(f'{path}: needs the lists "mapping" (1-based '
                         'target id per source class) and "class_names"')
    bad = [(i, v) for i, v in enumerate(mapping)
           if not isinstance(v, int) or not 1 <= v <= len(names)]
    if bad:
        i, v = bad[0]
        raise ValueError(f'{path}: mapping[{i}] = {v!r} is not a class id '
                         f'in 1..{len(names)} ({len(bad)} bad entries)')
    if len(names) > 255:
        raise ValueError(f'{path}: {len(names)} classes do not fit uint8 '
                         'label PNGs (255 is the ignore value)')
    return dict(data, file=path, sha256=sha256_file(path))


def mapping_lut(mapping: dict) -> np.ndarray:
    """uint8 lookup table from source ids (0 = unlabeled, 1..894) to
    0-based target ids, 255 for unlabeled."""
    lut = np.full(len(mapping['mapping']) + 1, 255, np.uint8)
    lut[1:] = np.asarray(mapping['mapping'], np.int64) - 1
    return lut


# ------------------------------------------------------------------ splits
def read_splits(path: Optional[str], num_images: int) -> Dict[str, List[int]]:
    """The 1-based ``train`` / ``test`` image indices of ``splits.mat``
    (MATLAB v5 or v7.3) or, with ``path=None``, of the packaged official
    split; checked to be disjoint integers in ``1..num_images``."""
    if path is None:
        with open(SPLITS_FILE) as f:
            data = json.load(f)
        splits = {'train': data['train'], 'test': data['test']}
        where = SPLITS_FILE
    else:
        if not osp.isfile(path):
            raise FileNotFoundError(f'splits file not found: {path}')
        where = path
        h5py = _import_h5py()
        if h5py.is_hdf5(path):
            with h5py.File(path, 'r') as f:
                raw = {k: np.asarray(f[k]) for k in ('trainNdxs', 'testNdxs')
                       if k in f}
        else:
            from scipy.io import loadmat
            try:
                raw = loadmat(path)
            except Exception as e:
                raise ValueError(f'{path}: not a MATLAB file scipy can read '
                                 f'({e})') from e
        missing = [k for k in ('trainNdxs', 'testNdxs') if k not in raw]
        if missing:
            raise ValueError(f'{path}: lacks {missing} (the variables of the '
                             'official splits.mat)')
        splits = {}
        for split, key in (('train', 'trainNdxs'), ('test', 'testNdxs')):
            arr = np.asarray(raw[key]).ravel()
            if arr.size and not np.all(np.equal(np.mod(arr, 1), 0)):
                raise ValueError(f'{path}: {key} holds non-integer indices')
            splits[split] = [int(v) for v in arr]
    for split, idx in splits.items():
        out = [v for v in idx if not 1 <= v <= num_images]
        if out:
            raise ValueError(f'{where}: {split} index {out[0]} is outside '
                             f'1..{num_images} (indices are 1-based)')
        if len(set(idx)) != len(idx):
            raise ValueError(f'{where}: {split} indices repeat')
    both = set(splits['train']) & set(splits['test'])
    if both:
        raise ValueError(f'{where}: image {min(both)} is in both splits')
    return splits


# ------------------------------------------------------------ the .mat file
class LabeledMat:
    """Read access to ``nyu_depth_v2_labeled.mat``, one image at a time.

    Index ``i`` is 0-based (the release's image ``i + 1``). Arrays come
    back in MATLAB's (row, column) order: ``image(i)`` HxWx3 uint8 RGB,
    ``depth(i)`` / ``raw_depth(i)`` HxW float32 metres, ``labels(i)`` HxW
    int64 (0..894).
    """

    def __init__(self, path: str, cache_mb: int = 64) -> None:
        h5py = _import_h5py()
        if not osp.isfile(path):
            raise FileNotFoundError(f'NYUv2 .mat file not found: {path}')
        if not h5py.is_hdf5(path):
            raise ValueError(f'{path}: not a MATLAB v7.3 (HDF5) file; the '
                             'official nyu_depth_v2_labeled.mat is one')
        self.path = path
        self.file = h5py.File(path, 'r', rdcc_nbytes=cache_mb << 20)
        missing = [k for k in _MAT_ARRAYS if k not in self.file]
        if missing:
            self.file.close()
            raise ValueError(f'{path}: lacks the arrays {missing} (is it '
                             'nyu_depth_v2_labeled.mat?)')
        shape = self.file['images'].shape
        if len(shape) != 4 or shape[1] != 3:
            self.file.close()
            raise ValueError(f'{path}: "images" has HDF5 shape {shape}; '
                             'expected (N, 3, W, H) (MATLAB HxWx3xN)')
        self.num_images = shape[0]
        self.height, self.width = shape[3], shape[2]
        for key in _MAT_ARRAYS[1:]:
            got = self.file[key].shape
            if got != (shape[0], shape[2], shape[3]):
                self.file.close()
                raise ValueError(
                    f'{path}: "{key}" has HDF5 shape {got}; expected '
                    f'{(shape[0], shape[2], shape[3])} to match "images"')

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> 'LabeledMat':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def image(self, i: int) -> np.ndarray:
        return np.ascontiguousarray(self.file['images'][i].transpose(2, 1, 0))

    def depth(self, i: int) -> np.ndarray:
        return np.ascontiguousarray(self.file['depths'][i].T, np.float32)

    def raw_depth(self, i: int) -> np.ndarray:
        return np.ascontiguousarray(self.file['rawDepths'][i].T, np.float32)

    def labels(self, i: int) -> np.ndarray:
        return np.ascontiguousarray(self.file['labels'][i].T, np.int64)

    def strings(self, key: str) -> Optional[List[str]]:
        """A cell array of strings (``names``, ``scenes``,
        ``sceneTypes``), or None if the file lacks it."""
        if key not in self.file:
            return None
        refs = np.asarray(self.file[key]).ravel()
        out = []
        for ref in refs:
            obj = self.file[ref]
            if obj.attrs.get('MATLAB_empty', 0):
                out.append('')
            else:
                out.append(''.join(map(chr, np.asarray(obj).ravel())))
        return out


def write_labeled_mat(path: str, images: np.ndarray, depths: np.ndarray,
                      raw_depths: np.ndarray, labels: np.ndarray,
                      names: Sequence[str], scenes: Sequence[str],
                      scene_types: Sequence[str],
                      compression: Optional[str] = 'gzip') -> None:
    """Write a file with the HDF5 structure of ``nyu_depth_v2_labeled.mat``
    (MATLAB v7.3: 512-byte header, reversed axes, cell arrays of uint16
    strings under ``#refs#``). For the tests and the timing check: the
    arrays are given in MATLAB order, ``images`` NxHxWx3 uint8,
    ``depths`` / ``raw_depths`` NxHxW metres, ``labels`` NxHxW ints.
    Chunks hold one image each.
    """
    h5py = _import_h5py()
    n, h, w = labels.shape
    with h5py.File(path, 'w', userblock_size=512) as f:
        def array(key: str, data: np.ndarray, dtype, cls: str) -> None:
            data = np.asarray(data, dtype)
            f.create_dataset(key, data=data, chunks=(1, ) + data.shape[1:],
                             compression=compression)
            f[key].attrs['MATLAB_class'] = np.bytes_(cls)

        array('images', np.transpose(images, (0, 3, 2, 1)), np.uint8,
              'uint8')
        array('depths', np.transpose(depths, (0, 2, 1)), np.float32,
              'single')
        array('rawDepths', np.transpose(raw_depths, (0, 2, 1)), np.float32,
              'single')
        array('labels', np.transpose(labels, (0, 2, 1)), np.uint16,
              'uint16')
        refs = f.create_group('#refs#')
        ref_dtype = h5py.special_dtype(ref=h5py.Reference)
        counter = [0]

        def cell(key: str, strings: Sequence[str]) -> None:
            ds = f.create_dataset(key, (1, len(strings)), dtype=ref_dtype)
            for j, s in enumerate(strings):
                name = f'r{counter[0]}'
                counter[0] += 1
                if s:
                    chars = np.array([[ord(c)] for c in s], np.uint16)
                    refs.create_dataset(name, data=chars)
                    refs[name].attrs['MATLAB_class'] = np.bytes_('char')
                else:
                    refs.create_dataset(name, data=np.zeros(2, np.uint64))
                    refs[name].attrs['MATLAB_class'] = np.bytes_('char')
                    refs[name].attrs['MATLAB_empty'] = np.uint8(1)
                ds[0, j] = refs[name].ref
            ds.attrs['MATLAB_class'] = np.bytes_('cell')

        cell('names', names)
        cell('scenes', scenes)
        cell('sceneTypes', scene_types)
    header = (b'MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: '
              b'Thu Jan  1 00:00:00 1970 HDF5 schema 1.00 .')
    with open(path, 'r+b') as f:
        f.write(header.ljust(116, b' ') + b'\x00' * 8 + b'\x00\x02IM')


def write_splits_mat(path: str, train: Sequence[int], test: Sequence[int],
                     v73: bool = False) -> None:
    """Write a ``splits.mat`` (``trainNdxs`` / ``testNdxs`` as 1-based
    column vectors), MATLAB v5 (scipy) or v7.3 (h5py). For the tests."""
    train = np.asarray(train, np.float64).reshape(-1, 1)
    test = np.asarray(test, np.float64).reshape(-1, 1)
    if v73:
        h5py = _import_h5py()
        with h5py.File(path, 'w', userblock_size=512) as f:
            f['trainNdxs'] = train.T  # MATLAB Nx1 is HDF5 1xN
            f['testNdxs'] = test.T
    else:
        from scipy.io import savemat
        savemat(path, dict(trainNdxs=train, testNdxs=test))


# -------------------------------------------------------------- conversion
def border_mask(height: int, width: int,
                border: Tuple[int, int, int, int]) -> np.ndarray:
    """HxW bool, True inside ``border = (top, bottom, left, right)``
    (rows ``[top, bottom)``, columns ``[left, right)``)."""
    top, bottom, left, right = border
    if not (0 <= top < bottom <= height and 0 <= left < right <= width):
        raise ValueError(f'border {tuple(border)} (top, bottom, left, right) '
                         f'does not fit a {height}x{width} image')
    mask = np.zeros((height, width), bool)
    mask[top:bottom, left:right] = True
    return mask


def _imwrite(path: str, arr: np.ndarray) -> None:
    if not cv2.imwrite(path, arr):
        raise OSError(f'could not write {path}')


def _write_lines(path: str, lines: Sequence[str]) -> None:
    with open(path, 'w') as f:
        f.write(''.join(line + '\n' for line in lines))


def nearest_indices(src: int, dst: int) -> np.ndarray:
    """Source index of each of ``dst`` output pixels along one axis under
    nearest-neighbour resizing: the pixel whose centre is nearest to the
    output pixel's centre, ``floor((j + 0.5) * src / dst)``. The same
    indices serve labels, depth and normals, so the three stay aligned."""
    idx = np.floor((np.arange(dst) + 0.5) * (src / dst)).astype(np.int64)
    return np.minimum(idx, src - 1)


def resize_for_libmtl(
    rgb: np.ndarray,
    seg13: np.ndarray,
    depth: np.ndarray,
    normal: np.ndarray,
    size: Sequence[int] = LIBMTL_IMAGE_SIZE,
    crop: Optional[Sequence[int]] = None
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Crop and resize one full-resolution sample to the LibMTL layout.

    The image is resampled with area averaging when it shrinks (bilinear
    otherwise) in float, so no 8-bit rounding is added; labels, depth and
    normals take the nearest source pixel (:func:`nearest_indices`), so no
    class, depth or direction is invented by mixing neighbours, and invalid
    pixels (255 / 0 / the zero vector) stay invalid. The normals are those
    of the full-resolution depth (finer than what the smaller depth map
    would give); they are renormalised after the float32 round trip.

    Args:
        rgb: HxWx3 uint8 RGB.
        seg13: HxW uint8 13-class ids, 255 unlabeled.
        depth: HxW metres, 0 invalid.
        normal: HxWx3 unit normals, the zero vector invalid.
        size: output ``(height, width)``.
        crop: ``(top, bottom, left, right)`` region kept before resizing
            (rows ``[top, bottom)``, columns ``[left, right)``); None keeps
            the whole image.

    Returns:
        tuple: ``(image, seg13, depth, normal)`` at ``size``: float32 RGB
        in [0, 1], uint8 ids (255 unlabeled), float32 metres, float32 unit
        normals.
    """
    out_h, out_w = (int(v) for v in size)
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f'size must be two positive ints, got {size}')
    if crop is not None:
        top, bottom, left, right = crop
        window = (slice(top, bottom), slice(left, right))
        rgb, seg13, depth, normal = (a[window]
                                     for a in (rgb, seg13, depth, normal))
    h, w = seg13.shape[:2]
    shrink = out_h <= h and out_w <= w
    image = cv2.resize(rgb.astype(np.float32) / np.float32(255),
                       (out_w, out_h),
                       interpolation=cv2.INTER_AREA if shrink
                       else cv2.INTER_LINEAR)
    image = np.clip(image, 0, 1)
    rows, cols = nearest_indices(h, out_h), nearest_indices(w, out_w)
    pick = np.ix_(rows, cols)
    normal = normal[pick].astype(np.float32)
    length = np.linalg.norm(normal, axis=-1, keepdims=True)
    valid = length[..., 0] > 0
    normal[valid] /= length[valid]
    normal[~valid] = 0
    return (image, seg13[pick], depth[pick].astype(np.float32), normal)


def _remove_stale_libmtl(out: str, counts: Dict[str, int]) -> int:
    """Delete ``<i>.npy`` files with ``i >= N`` that an earlier, larger
    conversion into the same folder left behind: the LibMTL readers count
    the files of a split, so stale ones would become extra samples."""
    removed = 0
    for folder, num in counts.items():
        for kind in LIBMTL_FOLDERS:
            path = osp.join(libmtl_split_dir(out, folder), kind)
            for name in os.listdir(path) if osp.isdir(path) else ():
                stem, ext = osp.splitext(name)
                if ext == '.npy' and stem.isdigit() and int(stem) >= num:
                    os.remove(osp.join(path, name))
                    removed += 1
    return removed


def _libmtl_manifest(labels: dict, normal: dict, size: Sequence[int],
                     crop: bool, depth: str,
                     source_size: Tuple[int, int]) -> dict:
    """The manifest entries that describe the LibMTL layout: the encoding
    of each folder and how it was resampled, for whoever compares the
    output with mtan's files."""
    label = dict(labels['13'], folder='label', ids='13-class ids 0..12 '
                 '(float32), -1 = unlabeled (source id 0)',
                 resize='nearest')
    normal = dict(normal, npy='HxWx3 float32 unit vectors, 0 = invalid',
                  resize='computed at the source resolution, then nearest '
                  'and renormalised')
    normal.pop('png')
    return dict(
        image_size=list(size),
        source_size=list(source_size),
        crop=dict(to_border=crop, note='the border region is cut out '
                  'before resizing' if crop else 'the whole frame is '
                  'resized; depth and normal are 0 outside the border'),
        splits=dict(LIBMTL_SPLIT_FOLDERS, note='samples numbered 0..N-1 '
                    'in split order; images[].sample / .folder map them '
                    'to the release\'s image index'),
        image=dict(folder='image', npy='HxWx3 float32 RGB in [0, 1]',
                   resize='area (bilinear when enlarging)'),
        labels={'13': label},
        depth=dict(folder='depth', source='depths (the release\'s filled '
                   'depth)' if depth == 'filled' else 'rawDepths',
                   npy='HxWx1 float32 metres, 0 = invalid',
                   resize='nearest'),
        normal=normal)


def convert_nyuv2(mat_path: str,
                  out: str,
                  splits_path: Optional[str] = None,
                  layout: str = 'nddr',
                  mapping40='default',
                  mapping13='default',
                  normal_method: Optional[str] = None,
                  normal_params: Optional[dict] = None,
                  normal_depth: str = 'raw',
                  border: Optional[Sequence[int]] = None,
                  intrinsics: Intrinsics = NYU_RGB_INTRINSICS,
                  size: Optional[Sequence[int]] = None,
                  crop: bool = True,
                  libmtl_depth: str = 'filled',
                  limit: Optional[int] = None,
                  checksums: bool = True,
                  progress: bool = True,
                  log: Optional[Callable[[str], None]] = print) -> dict:
    """Convert ``nyu_depth_v2_labeled.mat`` (+ ``splits.mat``) to ``out``.

    See the module docstring for the layouts. ``out`` is claimed
    (:func:`~mtlnas_mm.utils.claim_output_dir`) after the inputs have been
    checked: a new or empty directory, or one a project tool wrote; a
    non-empty directory of the user's is refused with nothing written.

    Args:
        mat_path: ``nyu_depth_v2_labeled.mat``.
        out: output directory (the data root).
        splits_path: ``splits.mat``; None uses the packaged official split.
        layout: ``'nddr'`` (PNGs and lists for
            :class:`~mtlnas_mm.datasets.NYUv2MultiTaskDataset`) or
            ``'libmtl'`` (mtan / LibMTL ``.npy`` files for
            :class:`~mtlnas_mm.datasets.NYUv2LibMTLDataset`).
        mapping40, mapping13: ``'default'`` (packaged), a JSON mapping file
            (:func:`load_mapping`), or None to skip that label set. The
            ``nddr`` layout needs the 40 classes, ``libmtl`` the 13 (and
            ignores ``mapping40``).
        normal_method, normal_params: normal estimator and its parameters
            (:func:`~.normals_from_depth.normals_from_depth`); None takes
            :data:`DEFAULT_NORMAL_METHOD`, missing parameters
            ``DEFAULT_PARAMS[method]``.
        normal_depth: ``'raw'`` (normals where the Kinect measured depth)
            or ``'filled'`` (the release's in-painted depth, everywhere
            inside the border).
        border: ``(top, bottom, left, right)`` valid region; None takes
            :data:`NYU_BORDER` (480x640 images only).
        intrinsics: the camera of the depth maps (the NYU RGB camera).
        size: ``libmtl``: output ``(height, width)``; None takes
            :data:`~mtlnas_mm.datasets.libmtl_layout.LIBMTL_IMAGE_SIZE`
            (288x384, the size of mtan's files).
        crop: ``libmtl``: crop every image to ``border`` before resizing
            (mtan's files show no border); False resizes the whole frame,
            with depth and normals invalid outside the border.
        libmtl_depth: ``libmtl``: ``'filled'`` (the release's ``depths``,
            dense like mtan's files) or ``'raw'`` (``rawDepths``, 0 where
            the Kinect measured nothing).
        limit: convert only the first ``limit`` images of each split.
        checksums: record the inputs' SHA-256 (reads the 2.8 GB file once
            more).
        progress: show a progress bar (mmengine's).
        log: called with progress lines (None: silent).

    Returns:
        dict: the manifest (also written to ``out/manifest.json``).
    """
    start = time.perf_counter()
    say = log or (lambda _: None)
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    if libmtl_depth not in LIBMTL_DEPTHS:
        raise ValueError(f'libmtl_depth must be one of {LIBMTL_DEPTHS}, '
                         f'got {libmtl_depth!r}')
    size = tuple(LIBMTL_IMAGE_SIZE if size is None else size)
    if len(size) != 2 or not all(
            isinstance(v, (int, np.integer)) and v > 0 for v in size):
        raise ValueError(f'size must be (height, width), two ints > 0, got '
                         f'{size}')
    if normal_depth not in NORMAL_DEPTHS:
        raise ValueError(f'normal_depth must be one of {NORMAL_DEPTHS}, got '
                         f'{normal_depth!r}')
    if normal_method is None:
        normal_method = DEFAULT_NORMAL_METHOD
    if normal_method not in NORMAL_METHODS:
        raise ValueError(f'normal_method must be one of {NORMAL_METHODS}, '
                         f'got {normal_method!r}')
    normal_params = dict(DEFAULT_PARAMS[normal_method],
                         **(normal_params or {}))
    libmtl = layout == 'libmtl'
    maps = {}
    for classes, spec in ((40, mapping40), (13, mapping13)):
        if spec is not None and not (libmtl and classes == 40):
            maps[classes] = load_mapping(classes if spec == 'default'
                                         else spec)
    if libmtl and 13 not in maps:
        raise ValueError('the 13-class labels are required (mapping13); '
                         'the LibMTL layout is NYUv2-13')
    if not libmtl and 40 not in maps:
        raise ValueError('the 40-class labels are required (mapping40); '
                         'the NDDR layout indexes samples by them')

    with LabeledMat(mat_path) as mat:
        h, w = mat.height, mat.width
        if border is None:
            if (h, w) != NYU_SIZE:
                raise ValueError(
                    f'{mat_path}: images are {h}x{w}, not the release\'s '
                    f'{NYU_SIZE[0]}x{NYU_SIZE[1]}; give the valid region '
                    'with border=(top, bottom, left, right)')
            border = NYU_BORDER
        inside = border_mask(h, w, tuple(border))
        splits = read_splits(splits_path, mat.num_images)
        if limit is not None:
            splits = {k: v[:limit] for k, v in splits.items()}
        names = mat.strings('names')
        for classes, m in maps.items():
            if names is not None and len(names) > len(m['mapping']):
                raise ValueError(
                    f'{mat_path} has {len(names)} class names but the '
                    f'mapping {m["file"]} maps {len(m["mapping"])} classes')
            known = m.get('source_class_names')
            if names is not None and known is not None:
                diff = [i for i, (a, b) in enumerate(zip(names, known))
                        if a != b]
                if diff:
                    i = diff[0]
                    raise ValueError(
                        f'{mat_path}: class {i + 1} is named {names[i]!r} '
                        f'but the mapping {m["file"]} expects {known[i]!r}; '
                        'the mapping does not belong to this file')
        scene_types = mat.strings('sceneTypes')
        scenes = mat.strings('scenes')
        type_classes = sorted(set(scene_types)) if scene_types else []

        claim_output_dir(out, TOOL)
        for split in splits:
            for folder, _ in _FOLDERS if not libmtl else ():
                if folder != 'seg13' or 13 in maps:
                    os.makedirs(osp.join(out, folder, split), exist_ok=True)
        if not libmtl:
            os.makedirs(osp.join(out, 'list'), exist_ok=True)
        luts = {c: mapping_lut(m) for c, m in maps.items()}
        max_label = min(len(m['mapping']) for m in maps.values())
        total = sum(len(v) for v in splits.values())
        bar = None
        if progress and total:
            from mmengine.utils import ProgressBar
            bar = ProgressBar(total, file=sys.stderr)
        say(f'converting {total} images of {mat_path} to {out}')
        images, stats = [], {}
        rgb_sum = np.zeros(3, np.float64)
        lines: Dict[str, Dict[str, List[str]]] = {}
        for split, indices in splits.items():
            st = dict(images=len(indices), pixels=0, normal_valid=0,
                      raw_depth_valid=0, seg40_pixels=[0] * 40)
            if libmtl:
                st = dict(images=len(indices), pixels=0, normal_valid=0,
                          depth_valid=0, seg13_pixels=[0] * 13)
            ls = lines[split] = {task: [] for _, task in _FOLDERS if task}
            ls['scene'] = []
            for pos, ndx in enumerate(indices):
                i = ndx - 1
                name = f'{ndx:04d}.png'
                rel = {f: f'/{f}/{split}/{name}' for f, _ in _FOLDERS}
                rgb = mat.image(i)
                labels = mat.labels(i)
                if labels.min() < 0 or labels.max() > max_label:
                    raise ValueError(
                        f'{mat_path}: image {ndx} has label '
                        f'{int(labels.max())} outside 0..{max_label}')
                depth = np.where(inside, mat.depth(i), 0).astype(np.float32)
                raw = np.where(inside, mat.raw_depth(i), 0).astype(np.float32)
                raw = np.where(np.isfinite(raw) & (raw > 0), raw, 0)
                src = raw if normal_depth == 'raw' else depth
                normal = normals_from_depth(src, intrinsics, normal_method,
                                            valid=src > 0, **normal_params)
                valid_normal = np.any(normal != 0, axis=-1)
                record = dict(
                    index=ndx, split=split, file=f'{ndx:04d}.png',
                    scene=scenes[i] if scenes else None,
                    scene_type=scene_types[i] if scene_types else None)
                if libmtl:
                    dsrc = depth if libmtl_depth == 'filled' else raw
                    dsrc = np.where(np.isfinite(dsrc) & (dsrc > 0), dsrc, 0)
                    sample = resize_for_libmtl(rgb, luts[13][labels], dsrc,
                                               normal, size,
                                               border if crop else None)
                    folder = LIBMTL_SPLIT_FOLDERS[split]
                    write_libmtl_sample(out, folder, pos, *sample)
                    seg13, dep, nrm = sample[1:]
                    st['pixels'] += seg13.size
                    st['normal_valid'] += int(np.any(nrm != 0, -1).sum())
                    st['depth_valid'] += int((dep > 0).sum())
                    counts = np.bincount(seg13[seg13 < 13], minlength=13)
                    st['seg13_pixels'] = [a + int(b) for a, b in
                                          zip(st['seg13_pixels'], counts)]
                    record.pop('file')
                    images.append(dict(record, folder=folder, sample=pos))
                    if bar is not None:
                        bar.update()
                    continue
                seg40 = luts[40][labels]
                _imwrite(osp.join(out, rel['image'][1:]), rgb[..., ::-1])
                _imwrite(osp.join(out, rel['seg40'][1:]), seg40)
                if 13 in luts:
                    _imwrite(osp.join(out, rel['seg13'][1:]), luts[13][labels])
                _imwrite(osp.join(out, rel['normal'][1:]),
                         encode_normal_png(normal)[..., ::-1])
                _imwrite(osp.join(out, rel['depth'][1:]),
                         encode_depth_png(depth))
                _imwrite(osp.join(out, rel['depth_raw'][1:]),
                         encode_depth_png(raw))
                _imwrite(osp.join(out, rel['mask'][1:]),
                         ((raw > 0) * 255).astype(np.uint8))
                for folder, task in _FOLDERS:
                    if task and (folder != 'seg13' or 13 in luts):
                        ls[task].append(f'{rel["image"]} {rel[folder]}')
                if scene_types:
                    ls['scene'].append(
                        f'{rel["image"]} '
                        f'{type_classes.index(scene_types[i])}')
                if split == 'train':
                    rgb_sum += rgb.reshape(-1, 3).sum(0, dtype=np.float64)
                st['pixels'] += h * w
                st['normal_valid'] += int(valid_normal.sum())
                st['raw_depth_valid'] += int((raw > 0).sum())
                counts = np.bincount(seg40[seg40 < 40].ravel(), minlength=40)
                st['seg40_pixels'] = [a + int(b) for a, b in
                                      zip(st['seg40_pixels'], counts)]
                images.append(record)
                if bar is not None:
                    bar.update()
            stats[split] = st
        if bar is not None:
            sys.stderr.write('\n')
        num_train = len(splits.get('train', []))

    if libmtl:
        removed = _remove_stale_libmtl(
            out, {LIBMTL_SPLIT_FOLDERS[k]: len(v) for k, v in splits.items()})
        if removed:
            say(f'removed {removed} files of an earlier conversion beyond '
                'the last sample of a split')
    else:
        for split, ls in lines.items():
            for task, entries in ls.items():
                if entries:
                    _write_lines(
                        osp.join(out, 'list',
                                 f'{_SPLIT_LIST[split]}_{task}.txt'),
                        entries)
        mean = rgb_sum / max(num_train * h * w, 1)
        np.save(osp.join(out, 'nyu_v2_mean.npy'), mean)

    def source(path: Optional[str]) -> Optional[dict]:
        if path is None:
            return None
        info = dict(path=osp.abspath(path), bytes=osp.getsize(path))
        if checksums:
            info['sha256'] = sha256_file(path)
        return info

    say('recording checksums' if checksums else 'writing the manifest')
    labels = {str(c): dict(
        folder='seg40' if c == 40 else 'seg13',
        ids='0-based class ids, 255 = unlabeled (source id 0)',
        class_names=m['class_names'], mapping_file=m['file'],
        mapping_sha256=m['sha256'], source=m.get('source'),
        reference=m.get('reference')) for c, m in maps.items()}
    normal = dict(
        folder='normal', method=normal_method, params=normal_params,
        depth=normal_depth, intrinsics=intrinsics.as_dict(),
        intrinsics_source='camera_params.m of the NYU Depth v2 toolbox '
        '(RGB camera; the labeled depth maps are registered to it)'
        if intrinsics == NYU_RGB_INTRINSICS else 'given by the user',
        frame='camera frame: x right, y up, z towards the viewer; '
        'normals face the camera',
        png='RGB, round((n + 1) / 2 * 255), invalid = (255, 255, 255)')
    manifest = dict(
        tool=TOOL,
        created=time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        sources=dict(labeled_mat=source(mat_path),
                     splits=source(splits_path) or dict(
                         packaged=osp.relpath(SPLITS_FILE, DATA_DIR),
                         note='official split shipped with mtlnas_mm')),
        limit=limit,
        layout=layout,
        image_size=[h, w],
        border=dict(top_bottom_left_right=list(border),
                    note='rows [top, bottom) and columns [left, right), '
                    '0-based; outside: depth, depth_raw, normal and mask '
                    'invalid, labels as released'))
    if libmtl:
        manifest.update(_libmtl_manifest(labels, normal, size, crop,
                                         libmtl_depth, (h, w)))
    else:
        manifest.update(
            labels=labels,
            depth=dict(folder='depth', source='depths (the release\'s '
                       'filled depth)', png='uint16, millimetres (value / '
                       '1000 = m), 0 = invalid'),
            depth_raw=dict(folder='depth_raw', source='rawDepths',
                           png='uint16, millimetres, 0 = missing'),
            mask=dict(folder='mask', png='uint8, 255 = inside the border '
                      'and raw depth measured, 0 otherwise'),
            normal=normal,
            image_label=dict(list='scene', classes=type_classes,
                             note='sceneTypes of the release, index into '
                             'classes (sorted)'),
            mean=dict(file='nyu_v2_mean.npy', rgb=[float(v) for v in mean],
                      note='per-channel RGB mean (0..255) of the train '
                      'images'))
    manifest.update(counts=stats, images=images,
                    seconds=time.perf_counter() - start)
    with open(osp.join(out, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=2)
        f.write('\n')
    say(f'wrote {len(images)} images to {out} in '
        f'{manifest["seconds"]:.1f} s')
    return manifest
