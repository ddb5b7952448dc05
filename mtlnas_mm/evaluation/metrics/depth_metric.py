"""Depth metrics pooled over every valid pixel of the data set."""
import math
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from mmseg.registry import METRICS
from .dense_metric import BaseDenseMetric

_SUMS = ('abs', 'abs_rel', 'sq_rel', 'sq', 'sq_log')


@METRICS.register_module()
class PooledDepthMetric(BaseDenseMetric):
    """Depth errors over the pixels of all images pooled together.

    Unlike per-image averaging (mmseg's ``DepthMetric``), every valid pixel
    of the set weighs the same. A pixel is valid when its ground truth is
    above the invalid depth (0, ``TASK_KINDS['depth'].invalid``) and, if
    given, within ``[min_depth, max_depth]``. Predictions are resized to
    the ground truth if needed and clamped to ``[min_depth, max_depth]``
    (``min_depth`` defaults to 1e-3 m for the clamp so ratios and logs stay
    finite). With ``d`` the prediction and ``g`` the ground truth (metres),
    keys (``default_prefix='depth'``, so ``depth/abs_rel`` etc.):

    * ``abs_err`` = mean |d - g| (m), ``abs_rel`` = mean |d - g| / g,
      ``sq_rel`` = mean (d - g)^2 / g, ``rmse`` = sqrt(mean (d - g)^2) (m),
      ``rmse_log`` = sqrt(mean (ln d - ln g)^2);
    * ``d1``, ``d2``, ``d3``: % of pixels with max(d/g, g/d) < 1.25^k.

    Args:
        min_depth: lower end of the evaluation depth range (m).
        max_depth: upper end of the evaluation depth range (m).
        **kwargs: ``pred_key`` (default ``'pred_depth_map'``), ``gt_key``
            (default ``'gt_depth_map'``), ``align_corners`` and mmengine's
            ``BaseMetric`` arguments: see :class:`BaseDenseMetric`.
    """
    default_prefix: Optional[str] = 'depth'
    kind = 'depth'

    def __init__(self,
                 min_depth: Optional[float] = None,
                 max_depth: Optional[float] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if min_depth is not None and max_depth is not None \
                and min_depth >= max_depth:
            raise ValueError(f'min_depth ({min_depth}) must be below '
                             f'max_depth ({max_depth})')
        self.min_depth = min_depth
        self.max_depth = max_depth

    def summarise(self, pred: np.ndarray, gt: np.ndarray) -> Dict[str, Any]:
        """Sufficient statistics of one image.

        Args:
            pred: predicted depth (m).
            gt: ground-truth depth (m), of the shape of ``pred``.

        Returns:
            Valid-pixel count, error sums and within-threshold counts.
        """
        valid = gt > self.invalid
        if self.min_depth is not None:
            valid &= gt >= self.min_depth
        if self.max_depth is not None:
            valid &= gt <= self.max_depth
        g = gt[valid].astype(np.float64)
        lo = self.min_depth if self.min_depth is not None else 1e-3
        hi = self.max_depth if self.max_depth is not None else np.inf
        d = np.clip(pred[valid].astype(np.float64), lo, hi)
        diff = d - g
        ratio = np.maximum(d / g, g / d)
        return dict(
            count=int(g.size),
            abs=float(np.abs(diff).sum()),
            abs_rel=float((np.abs(diff) / g).sum()),
            sq_rel=float((diff**2 / g).sum()),
            sq=float((diff**2).sum()),
            sq_log=float(((np.log(d) - np.log(g))**2).sum()),
            delta=[int((ratio < 1.25**k).sum()) for k in (1, 2, 3)])

    def image_statistics(self, pred: torch.Tensor,
                         gt: torch.Tensor) -> Dict[str, Any]:
        return self.summarise(pred[0].numpy(), gt[0].numpy())

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str,
                                                                     float]:
        n = self.valid_count(results)
        s = {k: sum(r[k] for r in results) for k in _SUMS}
        out = dict(abs_err=s['abs'] / n, abs_rel=s['abs_rel'] / n,
                   sq_rel=s['sq_rel'] / n, rmse=math.sqrt(s['sq'] / n),
                   rmse_log=math.sqrt(s['sq_log'] / n))
        for k in range(3):
            out[f'd{k + 1}'] = 100.0 * sum(r['delta'][k]
                                           for r in results) / n
        return out
