"""Multi-task pictures through mmseg's visualiser.

:class:`MultiTaskVisualizer` extends mmseg's ``SegLocalVisualizer`` so that
``SegVisualizationHook`` (``tools/test.py --show-dir``) and
:func:`draw_predictions` (``tools/demo.py``) draw every task of a data
sample: the image, then per task its ground truth and prediction side by
side (left ground truth, right prediction, as in mmseg), in one row.
Segmentation is drawn by mmseg's ``_draw_sem_seg``, depth by mmseg's
``_draw_depth_map``, surface normals by :meth:`_draw_normal_map` here;
image-level labels become a caption.  Field names and invalid values come
from :mod:`mtlnas_mm.structures.task_fields`.
"""
from typing import List, Optional, Sequence, Tuple

import cv2
import mmcv
import numpy as np
import torch
from mmengine.dist import master_only
from mmengine.structures import BaseDataElement, PixelData
from torch import Tensor

from mmseg.models.utils import resize
from mmseg.registry import VISUALIZERS
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer
from mtlnas_mm.structures.task_fields import (TASK_KINDS, TaskKind,
                                              prediction_fields)

#: a task of a data sample: ``(kind, task)``; ``task`` is ``None`` for the
#: first task of a kind (unsuffixed fields), else the field suffix
SampleTask = Tuple[str, Optional[str]]
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _decision_field(kind: TaskKind, task: Optional[str]) -> str:
    """The prediction field that is drawn: the kind's last prediction field
    (``pred_sem_seg`` / ``pred_label``, not the scores)."""
    return prediction_fields(kind.name, task or kind.name,
                             first=task is None)[-1]


def _gt_field(sample: BaseDataElement, kind: TaskKind,
              task: Optional[str]) -> Optional[str]:
    """Ground-truth field of a task: ``<gt>_<task>`` if the sample has it,
    else the kind's field (shared by the tasks of a kind); ``None`` if
    absent."""
    if task is not None and f'{kind.gt_field}_{task}' in sample:
        return f'{kind.gt_field}_{task}'
    return kind.gt_field if kind.gt_field in sample else None


def sample_tasks(sample: BaseDataElement) -> List[SampleTask]:
    """The tasks whose ground truth or prediction ``sample`` carries.

    The first task of a kind writes the kind's prediction fields; a later
    one the same names suffixed with ``_<task>``
    (:func:`~mtlnas_mm.structures.task_fields.prediction_fields`), so the
    suffixed tasks are read off the field names.

    Args:
        sample: a data sample.

    Returns:
        ``(kind, task)`` pairs in :data:`TASK_KINDS` order, the first task
        of a kind (``task=None``) before the suffixed ones (sorted).
    """
    keys = set(sample.keys())
    tasks: List[SampleTask] = []
    for kind in TASK_KINDS.values():
        if kind.gt_field in keys or _decision_field(kind, None) in keys:
            tasks.append((kind.name, None))
        suffixes = set()
        for base in (_decision_field(kind, None), kind.gt_field):
            suffixes.update(k[len(base) + 1:] for k in keys
                            if k.startswith(base + '_'))
        tasks.extend((kind.name, s) for s in sorted(suffixes) if s)
    return tasks


def normals_to_rgb(normals: np.ndarray) -> np.ndarray:
    """Surface normals as colours.

    Normals are unit vectors (x right, y up, z towards the camera); a pixel
    is coloured ``(n + 1) / 2 * 255`` (RGB = xyz), so a normal facing the
    camera is ``(128, 128, 255)``; invalid pixels (every component equal
    to the normal kind's invalid value, ``0``) are black.

    Args:
        normals: ``3xHxW`` normal map.

    Returns:
        ``HxWx3`` uint8 RGB image.
    """
    n = np.moveaxis(np.asarray(normals, dtype=np.float32), 0, -1)
    rgb = np.rint((n + 1.0) * 127.5).clip(0, 255).astype(np.uint8)
    rgb[(n == TASK_KINDS['normal'].invalid).all(-1)] = 0
    return np.ascontiguousarray(rgb)


def _label_name(value, classes: Optional[Sequence[str]]) -> str:
    idx = int(torch.as_tensor(value).reshape(-1)[0])
    if classes and 0 <= idx < len(classes):
        return str(classes[idx])
    return str(idx)


def image_caption(sample: BaseDataElement,
                  img_classes: Optional[Sequence[str]] = None) -> str:
    """The image-level labels of ``sample`` as text.

    Args:
        sample: a data sample with ``gt_label`` / ``pred_label`` (and
            ``pred_label_<task>`` of later classification tasks).
        img_classes: names of the image-level classes (indices if
            ``None``).

    Returns:
        e.g. ``'gt bed | pred none'``, a later task's prediction as
        ``'pred bed (scene)'``; ``''`` without image-level labels.
    """
    kind = TASK_KINDS['label']
    parts = []
    for _, task in (t for t in sample_tasks(sample) if t[0] == kind.name):
        tag = f' ({task})' if task is not None else ''
        gt = _gt_field(sample, kind, task)
        if gt is not None and (task is None or gt != kind.gt_field):
            parts.append(f'gt {_label_name(sample.get(gt), img_classes)}'
                         f'{tag}')
        pred = _decision_field(kind, task)
        if pred in sample:
            parts.append(f'pred {_label_name(sample.get(pred), img_classes)}'
                         f'{tag}')
    return ' | '.join(parts)


def _fit(data, shape: Tuple[int, int]) -> Tensor:
    """A ``CxHxW`` (or ``HxW``) map as a float tensor of spatial size
    ``shape`` (nearest neighbour, so labels and invalid values survive)."""
    data = torch.as_tensor(data).detach().cpu().float()
    if data.ndim == 2:
        data = data[None]
    if tuple(data.shape[-2:]) != tuple(shape):
        data = resize(data[None], size=tuple(shape), mode='nearest')[0]
    return data


def _put_text(img: np.ndarray, text: str, bottom: bool = False) -> None:
    """White text on a black box at the top / bottom left of ``img``."""
    h, w = img.shape[:2]
    scale = max(0.3, min(h, w) / 500)
    thickness = 1 if min(h, w) < 300 else 2
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
    pad = max(1, th // 4)
    y0 = h - th - base - 2 * pad if bottom else 0
    cv2.rectangle(img, (0, y0), (min(w - 1, tw + 2 * pad),
                                 y0 + th + base + 2 * pad), (0, 0, 0), -1)
    cv2.putText(img, text, (pad, y0 + pad + th), _FONT, scale,
                (255, 255, 255), thickness, cv2.LINE_AA)


@VISUALIZERS.register_module()
class MultiTaskVisualizer(SegLocalVisualizer):
    """mmseg's ``SegLocalVisualizer`` for multi-task data samples.

    :meth:`add_datasample` composes one picture: the image, then per task
    (segmentation, surface normals, depth; a second task of a kind with its
    ``_<task>`` prediction fields after the first) its ground truth and
    prediction panels side by side, each the size of the image.  The
    image-level labels (``gt_label`` / ``pred_label``, named by
    ``dataset_meta['img_classes']`` if present) are written as a caption
    under the row.  Segmentation is mmseg's overlay, depth mmseg's heat map
    (ground truth and prediction on one colour scale), normals
    :func:`normals_to_rgb`; invalid normal / depth pixels are black.

    Args:
        name: name of the instance.
        image: the image to draw (RGB).
        vis_backends: visual backend configs.
        save_dir: save dir of the storage backends (nothing is stored if
            ``None``).
        classes: segmentation class names.
        palette: segmentation colours.
        dataset_name: mmseg data set name for default classes / palette.
        alpha: opacity of the segmentation mask.
        draw_titles: write each panel's name (``'gt seg'``,
            ``'pred normal (task)'``, ...) in its top left corner.
        **kwargs: passed to ``SegLocalVisualizer``.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[List[dict]] = None,
                 save_dir: Optional[str] = None,
                 classes: Optional[List] = None,
                 palette: Optional[List] = None,
                 dataset_name: Optional[str] = None,
                 alpha: float = 0.8,
                 draw_titles: bool = True,
                 **kwargs) -> None:
        super().__init__(name, image, vis_backends, save_dir, classes,
                         palette, dataset_name, alpha, **kwargs)
        self.draw_titles = draw_titles

    def _draw_normal_map(self, image: np.ndarray,
                         normal_map: PixelData) -> np.ndarray:
        """Draw a surface-normal map as a panel the size of ``image``.

        Args:
            image: the RGB image the map belongs to (``HxWx3``).
            normal_map: ``3xHxW`` unit normals (invalid pixels ``0``).

        Returns:
            ``HxWx3`` uint8 RGB panel (:func:`normals_to_rgb`).
        """
        data = _fit(normal_map.data, image.shape[:2])
        return normals_to_rgb(data.numpy())

    def _draw_depth_panels(
            self, image: np.ndarray,
            depth_maps: Sequence[PixelData]) -> List[np.ndarray]:
        """Draw depth maps on one colour scale with mmseg's
        ``_draw_depth_map``, one panel the size of ``image`` each.

        The maps are drawn side by side as one map, so ground truth and
        prediction share the colour scale; invalid pixels (the depth kind's
        invalid value) do not stretch the scale and are drawn black.

        Args:
            image: the RGB image the maps belong to (``HxWx3``).
            depth_maps: ``1xHxW`` depth maps.

        Returns:
            ``HxWx3`` uint8 RGB panels, in the order of ``depth_maps``.
        """
        h, w = image.shape[:2]
        joined = torch.cat([_fit(m.data, (h, w)) for m in depth_maps], -1)
        invalid = joined == TASK_KINDS['depth'].invalid
        if (~invalid).any():
            joined = joined.masked_fill(invalid, float(joined[~invalid].min()))
        canvas = np.concatenate([image] * len(depth_maps), axis=1)
        # mmseg stacks the image above the drawn map: keep the map
        drawn = self._draw_depth_map(canvas, PixelData(data=joined))[h:]
        drawn = np.ascontiguousarray(drawn)
        drawn[invalid[0].numpy()] = 0
        return [
            np.ascontiguousarray(p)
            for p in np.split(drawn, len(depth_maps), axis=1)
        ]

    def _task_panels(self, image: np.ndarray, sample: BaseDataElement,
                     kind: TaskKind, task: Optional[str], draw_gt: bool,
                     draw_pred: bool,
                     with_labels: bool) -> List[Tuple[str, np.ndarray]]:
        """``(title, panel)`` of a dense task's ground truth / prediction."""
        fields = []
        gt = _gt_field(sample, kind, task)
        if draw_gt and gt is not None:
            fields.append(('gt', gt))
        pred = _decision_field(kind, task)
        if draw_pred and pred in sample:
            fields.append(('pred', pred))
        if not fields:
            return []
        tag = f' ({task})' if task is not None else ''
        titles = [f'{which} {kind.name}{tag}' for which, _ in fields]
        maps = [sample.get(f) for _, f in fields]
        if kind.name == 'depth':
            return list(zip(titles, self._draw_depth_panels(image, maps)))
        panels = []
        for m in maps:
            if kind.name == 'normal':
                panels.append(self._draw_normal_map(image, m))
            else:
                classes = self.dataset_meta.get('classes', None)
                palette = self.dataset_meta.get('palette', None)
                assert classes is not None, 'class information is not ' \
                    'provided when visualizing semantic segmentation results.'
                seg = PixelData(data=_fit(m.data, image.shape[:2]).long())
                panels.append(
                    self._draw_sem_seg(image, seg, classes, palette,
                                       with_labels).copy())
        return list(zip(titles, panels))

    def draw_datasample(self,
                        image: np.ndarray,
                        data_sample: Optional[SegDataSample] = None,
                        draw_gt: bool = True,
                        draw_pred: bool = True,
                        with_labels: bool = True) -> np.ndarray:
        """Compose the picture of one data sample (see the class doc).

        Args:
            image: the RGB image (``HxWx3``; ``HxW`` is made grey RGB).
            data_sample: the data sample (only the image if ``None``).
            draw_gt: draw the ground truth.
            draw_pred: draw the predictions.
            with_labels: write class names on the segmentation panels.

        Returns:
            ``Hx(N*W)x3`` uint8 RGB picture of ``N`` panels.
        """
        image = np.asarray(image)
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        image = np.ascontiguousarray(image[..., :3].astype(np.uint8))
        panels = [('image', image.copy())]
        caption = ''
        if data_sample is not None:
            for name, task in sample_tasks(data_sample):
                kind = TASK_KINDS[name]
                if kind.dense:
                    panels.extend(
                        self._task_panels(image, data_sample, kind, task,
                                          draw_gt, draw_pred, with_labels))
            caption = image_caption(
                self._visible(data_sample, draw_gt, draw_pred),
                self.dataset_meta.get('img_classes', None))
        panels = [(t, np.ascontiguousarray(p)) for t, p in panels]
        if self.draw_titles:
            for title, panel in panels:
                _put_text(panel, title)
        drawn = np.ascontiguousarray(np.concatenate([p for _, p in panels],
                                                    axis=1))
        if caption:
            _put_text(drawn, caption, bottom=True)
        return drawn

    @staticmethod
    def _visible(sample: BaseDataElement, draw_gt: bool,
                 draw_pred: bool) -> BaseDataElement:
        """``sample`` without the fields ``draw_gt`` / ``draw_pred`` hide
        (for the caption)."""
        if draw_gt and draw_pred:
            return sample
        visible = sample.clone()
        for key in list(visible.keys()):
            if (not draw_gt and key.startswith('gt_')) or \
                    (not draw_pred and key.startswith('pred_')):
                delattr(visible, key)
        return visible

    @master_only
    def add_datasample(
            self,
            name: str,
            image: np.ndarray,
            data_sample: Optional[SegDataSample] = None,
            draw_gt: bool = True,
            draw_pred: bool = True,
            show: bool = False,
            wait_time: float = 0,
            # TODO: Supported in mmengine's Viusalizer.
            out_file: Optional[str] = None,
            step: int = 0,
            with_labels: Optional[bool] = True) -> None:
        """Draw a data sample and save it to ``out_file`` or the backends.

        As mmseg's: with ``show`` the picture is displayed, with
        ``out_file`` it is written there, else it goes to every storage
        backend (``LocalVisBackend``: ``<save_dir>/vis_data/vis_image/
        <name>_<step>.png``).

        Args:
            name: the image identifier.
            image: the RGB image to draw.
            data_sample: the data sample with ground truth / predictions.
            draw_gt: draw the ground truth.
            draw_pred: draw the predictions.
            show: display the picture.
            wait_time: display time (s).
            out_file: file to write the picture to.
            step: global step to record.
            with_labels: write class names on the segmentation panels.
        """
        drawn = self.draw_datasample(image, data_sample, draw_gt, draw_pred,
                                     bool(with_labels))
        self.set_image(drawn)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(mmcv.rgb2bgr(drawn), out_file)
        else:
            self.add_image(name, drawn, step)


def draw_predictions(samples: Sequence[SegDataSample],
                     palette: Optional[Sequence[Sequence[int]]] = None,
                     out: Optional[str] = None,
                     title: Optional[str] = None,
                     img_classes: Optional[Sequence[str]] = None,
                     *,
                     dataset_meta: Optional[dict] = None,
                     visualizer: Optional[MultiTaskVisualizer] = None,
                     with_labels: bool = False) -> str:
    """One picture of several data samples, one
    :meth:`MultiTaskVisualizer.draw_datasample` row each.

    The images are read from the samples' ``img_path``.  Rows of different
    widths are padded black; ``title`` is written above the rows.

    Args:
        samples: data samples with ground truth and predictions.
        palette: segmentation colours (ignored with ``dataset_meta``).
        out: the picture file to write.
        title: text above the rows.
        img_classes: names of the image-level classes (ignored with
            ``dataset_meta``).
        dataset_meta: the data set's ``metainfo`` (``classes``,
            ``palette``, ``img_classes``); replaces ``palette`` /
            ``img_classes``.
        visualizer: the visualizer to draw with (e.g. ``runner.visualizer``,
            its ``dataset_meta`` is set from the arguments when given); a
            private :class:`MultiTaskVisualizer` if ``None``.
        with_labels: write class names on the segmentation panels.

    Returns:
        ``out``.
    """
    if out is None:
        raise TypeError('draw_predictions() needs the picture file `out`')
    if not samples:
        raise ValueError('draw_predictions() needs at least one sample')
    if dataset_meta is None and palette is not None:
        dataset_meta = dict(
            classes=[str(i) for i in range(len(palette))],
            palette=[list(c) for c in palette],
            img_classes=img_classes)
    elif dataset_meta is None and img_classes is not None:
        dataset_meta = dict(img_classes=img_classes)
    if visualizer is None:
        # constructed directly: not registered as mmengine's current
        # visualizer, so a runner's hooks keep theirs
        visualizer = MultiTaskVisualizer(name='draw_predictions')
    if dataset_meta is not None:
        meta = dict(visualizer.dataset_meta)
        meta.update({k: v for k, v in dataset_meta.items() if v is not None})
        visualizer.dataset_meta = meta
    rows = [
        visualizer.draw_datasample(
            mmcv.imread(s.img_path, channel_order='rgb'), s,
            with_labels=with_labels) for s in samples
    ]
    width = max(r.shape[1] for r in rows)
    rows = [
        np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows
    ]
    if title:
        (_, th), base = cv2.getTextSize(title, _FONT, 0.5, 1)
        strip = np.zeros((th + base + 8, width, 3), np.uint8)
        cv2.putText(strip, title, (4, th + 4), _FONT, 0.5, (255, 255, 255),
                    1, cv2.LINE_AA)
        rows.insert(0, strip)
    mmcv.imwrite(mmcv.rgb2bgr(np.concatenate(rows, axis=0)), out)
    return out
