"""NYUv2 multi-task dataset: semantic segmentation + surface normals [+ depth]
[+ an image-level label].

Two on-disk layouts are read:

``layout='nddr'`` (NDDR-CNN / MTL-NAS release, 40 classes)
    List files with lines ``'<image> <annotation>'`` whose paths start with
    ``/`` and are appended to ``data_root`` (``training_seg.txt``,
    ``training_normal_mask.txt``, optionally ``training_depth.txt``; the
    ``testing_*`` lists for the test split). The image column of every list
    must agree line by line with the segmentation list. Image-level labels
    (e.g. NYUv2's scene types, or the generator's dominant object) come from
    a list with lines ``'<image> <class index>'`` (``training_scene.txt`` /
    ``testing_scene.txt`` by default).

``layout='npy'`` (mtan / LibMTL preprocessed, 13 classes)
    ``<split>/{image,label,normal,depth}/<idx>.npy`` under ``data_root``.

The data infos carry ``img_path``, ``seg_map_path``, ``normal_path`` (when
``with_normal``), ``depth_map_path`` (when ``with_depth``), ``label_map``,
``reduce_zero_label``, ``num_classes`` (the number of classes *in the files*,
40 or 13, read by ``LoadSegMap`` to validate ids before ``label_map`` is
applied), an empty ``seg_fields`` list and, with ``with_img_label``, the
image-level class index ``gt_label`` (an int; ``PackMultiTaskInputs`` packs
it). Every problem found while indexing (missing list, malformed line, lists
that disagree, a listed file that does not exist, an image label that is not
a class index, an empty set) raises an error that names the file and, for
list files, the line number.
"""
import colorsys
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS
from mtlnas_mm.structures.choices import check_choice
from mtlnas_mm.structures.task_fields import IGNORE_INDEX, TASK_KINDS

#: data-info key of the image-level class index
_IMG_LABEL_KEY = TASK_KINDS['label'].results_key

#: The 40 NYUv2 classes of Gupta et al.; seg40 PNG value ``i`` is
#: ``NYU40_CLASSES[i]`` (``IGNORE_INDEX``, 255 = unlabeled).
NYU40_CLASSES: Tuple[str, ...] = (
    'wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door',
    'window', 'bookshelf', 'picture', 'counter', 'blinds', 'desk', 'shelves',
    'curtain', 'dresser', 'pillow', 'mirror', 'floor mat', 'clothes',
    'ceiling', 'books', 'refridgerator', 'television', 'paper', 'towel',
    'shower curtain', 'box', 'whiteboard', 'person', 'night stand', 'toilet',
    'sink', 'lamp', 'bathtub', 'bag', 'otherstructure', 'otherfurniture',
    'otherprop')

#: The 13 classes of the mtan / LibMTL preprocessed NYUv2 (-1 = unlabeled).
NYU13_CLASSES: Tuple[str, ...] = ('bed', 'books', 'ceiling', 'chair',
                                  'floor', 'furniture', 'objects', 'painting',
                                  'sofa', 'table', 'tv', 'wall', 'window')

#: 13-class id of each 40-class id (both 0-based), the usual NYUv2 mapping.
NYU40_TO_NYU13: Tuple[int, ...] = (11, 4, 5, 0, 3, 8, 9, 11, 12, 5, 7, 5, 12,
                                   9, 5, 12, 5, 6, 6, 4, 6, 2, 1, 5, 10, 6, 6,
                                   6, 6, 6, 6, 5, 6, 6, 6, 6, 6, 6, 5, 6)

NYU13_PALETTE: List[Tuple[int, int, int]] = [
    (220, 60, 60), (240, 160, 40), (200, 200, 230), (40, 160, 70),
    (130, 90, 50), (150, 110, 200), (240, 220, 60), (230, 90, 190),
    (60, 200, 210), (110, 60, 30), (30, 30, 110), (170, 170, 140),
    (90, 150, 250)
]


def _spread_palette(n: int) -> List[Tuple[int, int, int]]:
    """``n`` well separated colours (golden-ratio hue steps, three
    brightness levels); deterministic, so every run draws the same."""
    out = []
    for i in range(n):
        hue = (i * 0.6180339887) % 1.0
        sat = (0.55, 0.85, 0.7)[i % 3]
        val = (0.95, 0.7, 0.5)[(i // 3) % 3]
        r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
        out.append((int(r * 255), int(g * 255), int(b * 255)))
    return out


NYU40_PALETTE: List[Tuple[int, int, int]] = _spread_palette(40)

NYU40_METAINFO = dict(classes=NYU40_CLASSES, palette=NYU40_PALETTE)
NYU13_METAINFO = dict(classes=NYU13_CLASSES, palette=NYU13_PALETTE)

_NDDR_LISTS = {
    'train': dict(seg_list='list/training_seg.txt',
                  normal_list='list/training_normal_mask.txt',
                  depth_list='list/training_depth.txt',
                  img_label_list='list/training_scene.txt'),
    'test': dict(seg_list='list/testing_seg.txt',
                 normal_list='list/testing_normal_mask.txt',
                 depth_list='list/testing_depth.txt',
                 img_label_list='list/testing_scene.txt'),
}


@DATASETS.register_module()
class NYUv2MultiTaskDataset(BaseSegDataset):
    """NYUv2 for segmentation + surface normals (+ depth).

    Args:
        layout: ``'nddr'`` (PNG files indexed by list files) or ``'npy'``
            (per-split folders of ``.npy`` files).
        seg_list, normal_list, depth_list: nddr list files, relative to
            ``data_root`` unless absolute. ``split`` fills the ones left as
            None with the release names (``depth_list`` only when
            ``with_depth``).
        split: ``'train'`` or ``'test'`` for nddr (selects the default list
            files); the split folder for npy (e.g. ``'train'``, ``'val'``),
            which sets the default ``data_prefix`` ``<split>/image``,
            ``<split>/label``, ``<split>/normal``, ``<split>/depth``.
        data_prefix: npy only: folders (relative to ``data_root``) for the
            keys ``img_path``, ``seg_map_path``, ``normal_path`` and
            ``depth_map_path``.
        with_normal: index normal maps. Defaults to True.
        with_depth: index depth maps. Defaults to False.
        with_img_label: read an image-level class per image (nddr layout
            only). Defaults to False.
        img_label_list: its list file (lines ``'<image> <class index>'``);
            ``split`` gives ``list/<training|testing>_scene.txt``.
        img_classes: names of the image-level classes; required with
            ``with_img_label``, stored in ``metainfo['img_classes']`` (read
            by ``TaskCheckHook``).
        num_classes: 40 or 13; picks the class names and palette of
            ``metainfo``. Defaults to 40 for nddr, 13 for npy.
        check_files: verify that every indexed file exists. Defaults to
            True.
        **kwargs: forwarded to :class:`mmseg.datasets.BaseSegDataset`
            (``data_root``, ``pipeline``, ``indices``, ``test_mode``,
            ``metainfo``, ``reduce_zero_label``, ...).
    """
    METAINFO = NYU40_METAINFO

    def __init__(self,
                 layout: str = 'nddr',
                 seg_list: Optional[str] = None,
                 normal_list: Optional[str] = None,
                 depth_list: Optional[str] = None,
                 split: Optional[str] = None,
                 data_prefix: Optional[dict] = None,
                 with_normal: bool = True,
                 with_depth: bool = False,
                 with_img_label: bool = False,
                 img_label_list: Optional[str] = None,
                 img_classes: Optional[Sequence[str]] = None,
                 num_classes: Optional[int] = None,
                 check_files: bool = True,
                 **kwargs) -> None:
        if layout not in ('nddr', 'npy'):
            raise ValueError(f"layout must be 'nddr' or 'npy', got {layout!r}")
        if num_classes is None:
            num_classes = 40 if layout == 'nddr' else 13
        if num_classes not in (40, 13):
            raise ValueError(
                f'num_classes must be 40 or 13, got {num_classes}')
        self.layout = layout
        self.num_classes = num_classes
        self.with_normal = with_normal
        self.with_depth = with_depth
        self.with_img_label = with_img_label
        self.check_files = check_files
        self._base_metainfo = dict(NYU40_METAINFO
                                   if num_classes == 40 else NYU13_METAINFO)
        if with_img_label:
            if layout != 'nddr':
                raise ValueError('with_img_label=True needs layout="nddr" '
                                 '(an image-level label list)')
            if not img_classes or isinstance(img_classes, str):
                raise ValueError('with_img_label=True needs img_classes, the '
                                 'names of the image-level classes')
            self._base_metainfo['img_classes'] = tuple(img_classes)
        elif img_label_list is not None or img_classes is not None:
            raise ValueError('img_label_list / img_classes are only used '
                             'with with_img_label=True')

        if layout == 'nddr':
            if data_prefix:
                raise ValueError('data_prefix is not used by layout="nddr"; '
                                 'give seg_list / normal_list / depth_list')
            if split is not None:
                check_choice(split, _NDDR_LISTS,
                             'NYUv2MultiTaskDataset(layout="nddr"): split')
                defaults = _NDDR_LISTS[split]
                seg_list = seg_list or defaults['seg_list']
                normal_list = normal_list or defaults['normal_list']
                if with_depth:
                    depth_list = depth_list or defaults['depth_list']
                if with_img_label:
                    img_label_list = (img_label_list
                                      or defaults['img_label_list'])
            if seg_list is None:
                raise ValueError('layout="nddr" needs seg_list (or split)')
            if with_normal and normal_list is None:
                raise ValueError('with_normal=True needs normal_list '
                                 '(or split)')
            if with_depth and depth_list is None:
                raise ValueError('with_depth=True needs depth_list (or split)')
            if with_img_label and img_label_list is None:
                raise ValueError('with_img_label=True needs img_label_list '
                                 '(or split)')
            self.lists = dict(seg=seg_list,
                              normal=normal_list if with_normal else None,
                              depth=depth_list if with_depth else None,
                              img_label=img_label_list)
            data_prefix = dict()
        else:
            if seg_list or normal_list or depth_list:
                raise ValueError('seg_list / normal_list / depth_list are '
                                 'only used by layout="nddr"')
            if data_prefix is None:
                if split is None:
                    raise ValueError('layout="npy" needs split or '
                                     'data_prefix')
                data_prefix = dict(img_path=f'{split}/image',
                                   seg_map_path=f'{split}/label',
                                   normal_path=f'{split}/normal',
                                   depth_map_path=f'{split}/depth')
            data_prefix = dict(data_prefix)
            if not with_normal:
                data_prefix.pop('normal_path', None)
            if not with_depth:
                data_prefix.pop('depth_map_path', None)
            needed = ['img_path', 'seg_map_path'] + \
                (['normal_path'] if with_normal else []) + \
                (['depth_map_path'] if with_depth else [])
            missing = [k for k in needed if k not in data_prefix]
            if missing:
                raise ValueError(f'data_prefix lacks {missing}')
            self.lists = {}
        super().__init__(data_prefix=data_prefix, img_suffix='.png',
                         seg_map_suffix='.png', **kwargs)

    # The class set (40 or 13) is chosen per instance, so the metainfo and
    # the label map are derived from the instance's base metainfo.
    def _load_metainfo(self, metainfo: Optional[dict] = None) -> dict:
        base = {k: list(v) if isinstance(v, (list, tuple)) else v
                for k, v in self._base_metainfo.items()}
        if metainfo is not None:
            if not isinstance(metainfo, dict):
                raise TypeError(f'metainfo should be a dict, got '
                                f'{type(metainfo)}')
            base.update(metainfo)
        return base

    def get_label_map(self, new_classes: Optional[Sequence] = None
                      ) -> Optional[Dict[int, int]]:
        old = list(self._base_metainfo['classes'])
        if new_classes is None or list(new_classes) == old:
            return None
        unknown = [c for c in new_classes if c not in old]
        if unknown:
            raise ValueError(f'classes {unknown} are not NYUv2-'
                             f'{self.num_classes} classes')
        new_classes = list(new_classes)
        return {
            i: (new_classes.index(c) if c in new_classes else IGNORE_INDEX)
            for i, c in enumerate(old)
        }

    # ------------------------------------------------------------ indexing
    def _resolve(self, path: str) -> str:
        if osp.isabs(path) or not self.data_root:
            return path
        return osp.join(self.data_root, path)

    def _read_list(self, list_file: str) -> List[Tuple[int, str, str]]:
        """``(line number, image path, annotation path)`` of a list file.

        Paths in the file start with ``/`` and are appended to
        ``data_root`` like the official loader does.
        """
        path = self._resolve(list_file)
        if not osp.isfile(path):
            raise FileNotFoundError(f'list file not found: {path}')
        entries = []
        with open(path) as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                cols = line.split()
                if len(cols) != 2:
                    raise ValueError(
                        f'{path}:{lineno}: expected "<image> <annotation>", '
                        f'got {line.rstrip()!r}')
                entries.append((lineno, cols[0], cols[1]))
        if not entries:
            raise ValueError(f'list file {path} lists no samples')
        return entries

    def _data_path(self, rel: str) -> str:
        if self.data_root:
            return osp.join(self.data_root, rel.lstrip('/'))
        return rel

    def _check_exists(self, path: str, where: str) -> None:
        if self.check_files and not osp.isfile(path):
            raise FileNotFoundError(f'{where}: listed file does not exist: '
                                    f'{path}')

    def _load_nddr(self) -> List[dict]:
        seg_file = self._resolve(self.lists['seg'])
        seg = self._read_list(self.lists['seg'])
        others = {}
        for task in ('normal', 'depth', 'img_label'):
            if self.lists.get(task) is None:
                continue
            entries = self._read_list(self.lists[task])
            other_file = self._resolve(self.lists[task])
            if len(entries) != len(seg):
                raise ValueError(
                    f'{other_file} lists {len(entries)} samples but '
                    f'{seg_file} lists {len(seg)}')
            for (ls, img_s, _), (lo, img_o, _) in zip(seg, entries):
                if img_s != img_o:
                    raise ValueError(
                        f'image columns disagree: {seg_file}:{ls} has '
                        f'{img_s!r} but {other_file}:{lo} has {img_o!r}')
            others[task] = (other_file, entries)

        data_list = []
        for i, (lineno, img, ann) in enumerate(seg):
            info = dict(img_path=self._data_path(img),
                        seg_map_path=self._data_path(ann))
            self._check_exists(info['img_path'], f'{seg_file}:{lineno}')
            self._check_exists(info['seg_map_path'], f'{seg_file}:{lineno}')
            for task, key in (('normal', 'normal_path'),
                              ('depth', 'depth_map_path')):
                if task in others:
                    other_file, entries = others[task]
                    o_line, _, o_ann = entries[i]
                    info[key] = self._data_path(o_ann)
                    self._check_exists(info[key], f'{other_file}:{o_line}')
            if 'img_label' in others:
                other_file, entries = others['img_label']
                o_line, _, label = entries[i]
                info[_IMG_LABEL_KEY] = self._parse_img_label(
                    label, f'{other_file}:{o_line}')
            data_list.append(info)
        return data_list

    def _parse_img_label(self, text: str, where: str) -> int:
        """An image-level class index in ``[0, len(img_classes))``."""
        num = len(self._base_metainfo['img_classes'])
        try:
            label = int(text)
        except ValueError:
            label = None
        if label is None or not 0 <= label < num:
            raise ValueError(f'{where}: image label {text!r} is not a class '
                             f'index in [0, {num}) (img_classes)')
        return label

    def _load_npy(self) -> List[dict]:
        img_dir = self.data_prefix['img_path']
        if not osp.isdir(img_dir):
            raise FileNotFoundError(f'image folder not found: {img_dir}')
        names = [n for n in os.listdir(img_dir) if n.endswith('.npy')]

        def key(name: str):
            stem = name[:-4]
            return (0, int(stem), stem) if re.fullmatch(r'\d+', stem) \
                else (1, 0, stem)

        data_list = []
        for name in sorted(names, key=key):
            info = dict(img_path=osp.join(img_dir, name))
            for k in ('seg_map_path', 'normal_path', 'depth_map_path'):
                if k in self.data_prefix:
                    info[k] = osp.join(self.data_prefix[k], name)
                    self._check_exists(info[k], f'companion of '
                                       f'{info["img_path"]}')
            data_list.append(info)
        if not data_list:
            raise ValueError(f'no .npy images found in {img_dir}')
        return data_list

    def load_data_list(self) -> List[dict]:
        """Index the split; see the class docstring for the checks."""
        if self.layout == 'nddr':
            data_list = self._load_nddr()
        else:
            data_list = self._load_npy()
        if not data_list:
            raise ValueError('the data set is empty')
        for info in data_list:
            info.update(label_map=self.label_map,
                        reduce_zero_label=self.reduce_zero_label,
                        num_classes=self.num_classes,
                        seg_fields=[])
        return data_list
