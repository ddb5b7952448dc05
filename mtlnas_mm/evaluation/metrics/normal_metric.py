"""Surface-normal angle metric, pooled over every valid pixel of the set."""
import math
from typing import Any, Dict, List, Sequence

import numpy as np
import torch

from mmseg.registry import METRICS
from mtlnas_mm.structures.task_fields import TASK_KINDS
from .dense_metric import BaseDenseMetric


def normal_angles(pred: torch.Tensor, gt: torch.Tensor) -> np.ndarray:
    """Angles between predicted and true normals at the valid pixels.

    A pixel is valid where ``gt`` is not the invalid vector (every
    component ``TASK_KINDS['normal'].invalid``, i.e. the zero vector).
    ``angle = arccos(clip(cos(pred, gt), -1, 1))``; like
    ``F.cosine_similarity`` both vectors are normalised (norms clamped at
    1e-8), so a zero prediction gives 90 degrees.

    Args:
        pred: 3xHxW predicted normals.
        gt: 3xHxW ground-truth normals.

    Returns:
        The angles (degrees, float64) of the valid pixels.
    """
    if pred.shape[0] != 3 or gt.shape[0] != 3:
        raise ValueError(f'normal maps must be 3xHxW, got {tuple(pred.shape)}'
                         f' and {tuple(gt.shape)}')
    valid = (gt != TASK_KINDS['normal'].invalid).any(dim=0)
    p = pred[:, valid].double()
    g = gt[:, valid].double()
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

    Args:
        thresholds: angle thresholds in degrees.
        bin_width: histogram bin width in degrees.
        **kwargs: ``pred_key`` (default ``'pred_normal_map'``), ``gt_key``
            (default ``'gt_normal_map'``), ``align_corners`` and mmengine's
            ``BaseMetric`` arguments: see :class:`BaseDenseMetric`.
    """
    kind = 'normal'

    def __init__(self,
                 thresholds: Sequence[float] = (11.25, 22.5, 30, 45),
                 bin_width: float = 0.01,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if bin_width <= 0:
            raise ValueError(f'bin_width must be > 0, got {bin_width}')
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
        return self.summarise(normal_angles(pred, gt))

    def _quantile_rank(self, hist: np.ndarray, cum: np.ndarray,
                       k: int) -> float:
        """Value of the k-th smallest angle (0-based) from the histogram."""
        b = int(np.searchsorted(cum, k, side='right'))
        before = cum[b - 1] if b > 0 else 0
        frac = (k - before + 0.5) / hist[b]
        return (b + frac) * self.bin_width

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str,
                                                                     float]:
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
