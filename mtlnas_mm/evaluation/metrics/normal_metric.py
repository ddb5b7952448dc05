"""Surface-normal angle metric, pooled over every valid pixel of the set."""
import math
from typing import Any, Dict, List, Sequence

import numpy as np
import torch

from mmseg.registry import METRICS
from mtlnas_mm.structures.normal_space import (check_normal_space,
                                               unit_to_raw)
from mtlnas_mm.structures.task_fields import TASK_KINDS
from .dense_metric import BaseDenseMetric


def normal_angles(pred: torch.Tensor,
                  gt: torch.Tensor,
                  space: str = 'unit',
                  pred_space: str = 'unit') -> np.ndarray:
    """Angles between predicted and true normals at the valid pixels.

    A pixel is valid where ``gt`` is not the invalid vector (every
    component ``TASK_KINDS['normal'].invalid``, i.e. the zero vector).
    ``angle = arccos(clip(cos(p, g), -1, 1))``; like
    ``F.cosine_similarity`` both vectors are normalised (norms clamped at
    1e-8), so a zero prediction gives 90 degrees.

    The vectors compared depend on ``space``
    (:mod:`mtlnas_mm.structures.normal_space`): ``'unit'`` compares the
    normals; ``'raw'`` compares their 0..255 PNG vectors
    (``unit_to_raw``), as the official MTL-NAS evaluation does.  A
    prediction already in the raw space (``pred_space='raw'``, a network
    trained with ``CosineNormalLoss(space='raw')``) is compared as it is;
    it cannot be measured in the unit space: a raw direction does not
    determine a normal (two normals share each direction inside a 35 degree
    cone around (1, 1, 1) and none lies outside it).

    Args:
        pred: 3xHxW predicted normals (or raw-space directions).
        gt: 3xHxW ground-truth (decoded) normals.
        space: ``'unit'`` or ``'raw'``.
        pred_space: the space of ``pred``.

    Returns:
        The angles (degrees, float64) of the valid pixels.
    """
    check_normal_space(space, 'normal_angles')
    check_normal_space(pred_space, 'normal_angles')
    if pred.shape[0] != 3 or gt.shape[0] != 3:
        raise ValueError(f'normal maps must be 3xHxW, got {tuple(pred.shape)}'
                         f' and {tuple(gt.shape)}')
    if pred_space == 'raw' and space == 'unit':
        raise ValueError('normal_angles: a raw-space prediction has no '
                         'unit-space angle (a raw direction does not '
                         'determine a normal); measure it in the raw space')
    valid = (gt != TASK_KINDS['normal'].invalid).any(dim=0)
    p = pred[:, valid].double()
    g = gt[:, valid].double()
    if space == 'raw':
        g = unit_to_raw(g)
        if pred_space == 'unit':
            p = unit_to_raw(p)
    cos = (p * g).sum(0) / (p.norm(dim=0).clamp_min(1e-8) *
                            g.norm(dim=0).clamp_min(1e-8))
    return torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0))).numpy()


@METRICS.register_module()
class SurfaceNormalMetric(BaseDenseMetric):
    """Angular error of surface normals, pooled over the whole data set.

    As in the MTL-NAS / NDDR-CNN evaluation, the angles of all valid pixels
    of all images form *one* population (no per-image averaging); a pixel
    is valid when its ground-truth normal is not the zero vector (the
    invalid value of ``TASK_KINDS['normal']``). Reported
    (degrees / percent):

    * ``mean``, ``median``, ``rmse`` (= sqrt(mean(angle^2))) of the angle;
    * ``within_11.25``, ``within_22.5``, ``within_30``, ``within_45``: % of
      pixels with ``angle <= t`` (names follow ``thresholds``).

    Memory does not grow with the pixel count: each image contributes its
    exact count, sum, sum of squares and threshold counts, plus a sparse
    histogram with ``bin_width``-degree bins over [0, 180]. ``mean``,
    ``rmse`` and the percentages are exact; ``median`` is read from the
    pooled histogram (linear interpolation inside the bin that holds the
    middle rank(s)) and is accurate to ``bin_width`` (0.01 degrees by
    default).

    Predictions of another size than the ground truth are resized
    bilinearly first.

    ``spaces`` names the normal spaces the angles are measured in
    (:func:`normal_angles`): the first gets the keys above, every further
    one the same keys under ``'<space>/'`` (``'raw/mean'``, ...; the last
    key component stays the metric name, so ``delta_m`` knows lower is
    better).  ``'unit'`` is the true angle between normals (the project's
    default); ``'raw'`` the angle between the 0..255 PNG vectors, which is
    what the official MTL-NAS evaluation and the paper's table report
    (about 2.5x smaller).  ``spaces=('unit', 'raw')`` reports both, to set
    a project model beside the paper; a network trained in the raw space
    (``pred_space='raw'``) has raw angles only.

    Args:
        thresholds: angle thresholds in degrees.
        bin_width: histogram bin width in degrees.
        spaces: normal spaces to measure in, main first.
        pred_space: the space of the predictions (``'raw'`` for a network
            trained with ``CosineNormalLoss(space='raw')``).
        **kwargs: ``pred_key`` (default ``'pred_normal_map'``), ``gt_key``
            (default ``'gt_normal_map'``), ``align_corners`` and mmengine's
            ``BaseMetric`` arguments: see :class:`BaseDenseMetric`.
    """
    kind = 'normal'

    def __init__(self,
                 thresholds: Sequence[float] = (11.25, 22.5, 30, 45),
                 bin_width: float = 0.01,
                 spaces: Sequence[str] = ('unit', ),
                 pred_space: str = 'unit',
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if bin_width <= 0:
            raise ValueError(f'bin_width must be > 0, got {bin_width}')
        self.spaces = tuple(
            check_normal_space(s, 'SurfaceNormalMetric.spaces')
            for s in spaces)
        if not self.spaces or len(set(self.spaces)) != len(self.spaces):
            raise ValueError('SurfaceNormalMetric.spaces must name distinct '
                             f'spaces, got {tuple(spaces)}')
        self.pred_space = check_normal_space(
            pred_space, 'SurfaceNormalMetric.pred_space')
        if self.pred_space == 'raw' and 'unit' in self.spaces:
            raise ValueError(
                "SurfaceNormalMetric: pred_space='raw' predictions have no "
                "unit-space angle (a raw direction does not determine a "
                "normal); use spaces=('raw',)")
        self.thresholds = tuple(float(t) for t in thresholds)
        self.bin_width = float(bin_width)
        self.num_bins = int(math.ceil(180.0 / self.bin_width))

    @staticmethod
    def threshold_name(t: float) -> str:
        """Metric key of a threshold: ``'within_11.25'``, ``'within_30'``."""
        return f'within_{t:g}'

    def summarise(self, angles: np.ndarray) -> Dict[str, Any]:
        """Sufficient statistics of one image's angles."""
        bins = np.minimum((angles / self.bin_width).astype(np.int64),
                          self.num_bins - 1)
        idx, cnt = np.unique(bins, return_counts=True)
        idx_dtype = np.uint16 if self.num_bins <= 65535 else np.uint32
        return dict(
            count=int(angles.size),
            sum=float(angles.sum()),
            sum_sq=float(np.square(angles).sum()),
            within=[int((angles <= t).sum()) for t in self.thresholds],
            hist_idx=idx.astype(idx_dtype),
            hist_cnt=cnt.astype(np.int64))

    def image_statistics(self, pred: torch.Tensor,
                         gt: torch.Tensor) -> Dict[str, Any]:
        per_space = {
            s: self.summarise(normal_angles(pred, gt, s, self.pred_space))
            for s in self.spaces
        }
        return dict(count=per_space[self.spaces[0]]['count'],
                    spaces=per_space)

    def _quantile_rank(self, hist: np.ndarray, cum: np.ndarray,
                       k: int) -> float:
        """Value of the k-th smallest angle (0-based) from the histogram."""
        b = int(np.searchsorted(cum, k, side='right'))
        before = cum[b - 1] if b > 0 else 0
        frac = (k - before + 0.5) / hist[b]
        return (b + frac) * self.bin_width

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str,
                                                                     float]:
        self.valid_count(results)
        metrics: Dict[str, float] = {}
        for i, space in enumerate(self.spaces):
            pooled = self._pooled([r['spaces'][space] for r in results])
            key = '{}' if i == 0 else f'{space}/{{}}'
            metrics.update({key.format(k): v for k, v in pooled.items()})
        return metrics

    def _pooled(self, results: List[Dict[str, Any]]) -> Dict[str, float]:
        """The statistics of the angles pooled over ``results`` (one
        space's :meth:`summarise` output per image)."""
        n = self.valid_count(results)
        hist = np.zeros(self.num_bins, dtype=np.int64)
        for r in results:
            np.add.at(hist, r['hist_idx'].astype(np.int64), r['hist_cnt'])
        cum = np.cumsum(hist)
        median = 0.5 * (self._quantile_rank(hist, cum, (n - 1) // 2) +
                        self._quantile_rank(hist, cum, n // 2))
        total = sum(r['sum'] for r in results)
        total_sq = sum(r['sum_sq'] for r in results)
        metrics = dict(mean=total / n, median=median,
                       rmse=math.sqrt(total_sq / n))
        for i, t in enumerate(self.thresholds):
            hits = sum(r['within'][i] for r in results)
            metrics[self.threshold_name(t)] = 100.0 * hits / n
        return metrics
