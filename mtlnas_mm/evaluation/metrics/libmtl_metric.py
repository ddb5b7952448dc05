"""Depth and surface-normal metrics as LibMTL / mtan report them on NYUv2.

The NYUv2 benchmark of LibMTL (``examples/nyu/utils.py``) and of mtan
(``im2im_pred/utils.py``) reports, per task:

=============  ================================  ==============================
task           LibMTL name                       key here
=============  ================================  ==============================
segmentation   ``mIoU``, ``pixAcc``              ``mIoU``, ``aAcc`` (mmseg's
                                                 ``IoUMetric`` /
                                                 ``AllClassIoUMetric``)
depth          ``abs_err``, ``rel_err``          ``depth/abs_err``,
                                                 ``depth/abs_rel``
                                                 (:class:`LibMTLDepthMetric`)
normal         ``mean``, ``median``, ``<11.25``,  ``mean``, ``median``,
               ``<22.5``, ``<30``                ``within_11.25``, ...
                                                 (:class:`LibMTLNormalMetric`)
=============  ================================  ==============================

The keys are the project's, so :func:`~mtlnas_mm.evaluation.delta_m` and
:func:`~mtlnas_mm.evaluation.delta_p` know which are lower-is-better.
Percentages (mIoU, aAcc, within) are in percent, where LibMTL prints
fractions; relative gains do not depend on the unit.

How each number is pooled:

* **segmentation**: one confusion matrix accumulated over the whole set in
  both code bases, exactly mmseg's ``IoUMetric`` (``aAcc`` = correct /
  labelled pixels, ``mIoU`` = mean per-class IoU). The one difference: a
  class absent from both ground truth and prediction makes LibMTL's mIoU
  NaN, while mmseg leaves it out (``nanmean``); on the NYUv2 val set all 13
  classes occur and the two agree.
* **depth**: LibMTL averages per-batch pixel means weighted by each batch's
  valid-pixel count, which is the mean over every valid pixel of the set
  (``reduction='pixel'``, the default). mtan averages the per-batch pixel
  means with equal weight per batch (``reduction='batch'``).
* **normals**: LibMTL concatenates the angles of every valid pixel of the
  set (``reduction='pixel'``); mtan computes mean, median and the
  within-threshold fractions per batch and averages them over batches
  (``reduction='batch'``).

``reduction='batch'`` depends on the evaluation batch size (8 in mtan and
LibMTL) and on how the loader forms batches on each process.
"""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from mmseg.registry import METRICS
from mtlnas_mm.structures.choices import check_choice
from .dense_metric import BaseDenseMetric
from .normal_metric import SurfaceNormalMetric, normal_angles
from .utils import get_pixel_data, resize_to

#: the ways of pooling pixels into one number
REDUCTIONS = ('pixel', 'batch')


def _batch_pairs(metric: BaseDenseMetric, data_samples: Sequence[Any]):
    """``(pred, gt)`` of every sample as CxHxW float tensors, the prediction
    resized to the ground truth (as :meth:`BaseDenseMetric.process`)."""
    for sample in data_samples:
        gt = get_pixel_data(sample, metric.gt_key).float()
        pred = get_pixel_data(sample, metric.pred_key).float()
        if gt.dim() == 2:
            gt = gt[None]
        if pred.dim() == 2:
            pred = pred[None]
        yield resize_to(pred, gt.shape[-2:], metric.align_corners), gt


@METRICS.register_module()
class LibMTLDepthMetric(BaseDenseMetric):
    """Depth absolute and relative error as LibMTL / mtan compute them.

    A pixel is valid where the ground truth is not the invalid depth 0
    (LibMTL: ``sum(gt, dim=1) != 0`` over the one depth channel). With
    ``d`` the prediction and ``g`` the ground truth (metres), over valid
    pixels (``default_prefix='depth'``):

    * ``abs_err`` = mean |d - g| (m): LibMTL's ``abs_err``;
    * ``abs_rel`` = mean |d - g| / g: LibMTL's ``rel_err``.

    Unlike :class:`PooledDepthMetric`, predictions are used as they are (no
    clamp to a depth range), as LibMTL does.

    Args:
        reduction: ``'pixel'`` (LibMTL: every valid pixel of the set weighs
            the same) or ``'batch'`` (mtan: the mean over evaluation
            batches of each batch's pixel mean; batches without a valid
            pixel are left out, where mtan would divide by 0).
        **kwargs: ``pred_key`` (default ``'pred_depth_map'``), ``gt_key``
            (default ``'gt_depth_map'``), ``align_corners`` and mmengine's
            ``BaseMetric`` arguments: see :class:`BaseDenseMetric`.
    """
    default_prefix: Optional[str] = 'depth'
    kind = 'depth'

    def __init__(self, reduction: str = 'pixel', **kwargs) -> None:
        super().__init__(**kwargs)
        self.reduction = check_choice(reduction, REDUCTIONS,
                                      'LibMTLDepthMetric: reduction')

    def image_statistics(self, pred: torch.Tensor,
                         gt: torch.Tensor) -> Dict[str, Any]:
        """Valid-pixel count and the sums of |d - g| and |d - g| / g."""
        valid = gt != self.invalid
        g = gt[valid].double()
        err = (pred[valid].double() - g).abs()
        return dict(count=int(g.numel()), abs=float(err.sum()),
                    rel=float((err / g).sum()))

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Append the summed statistics of the batch to ``self.results``
        (one entry per batch, so both reductions can be computed)."""
        batch = dict(count=0, abs=0.0, rel=0.0)
        for pred, gt in _batch_pairs(self, data_samples):
            for k, v in self.image_statistics(pred, gt).items():
                batch[k] += v
        self.results.append(batch)

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str,
                                                                     float]:
        n = self.valid_count(results)
        if self.reduction == 'pixel':
            return dict(abs_err=sum(r['abs'] for r in results) / n,
                        abs_rel=sum(r['rel'] for r in results) / n)
        batches = [r for r in results if r['count'] > 0]
        return dict(
            abs_err=float(np.mean([r['abs'] / r['count'] for r in batches])),
            abs_rel=float(np.mean([r['rel'] / r['count'] for r in batches])))


@METRICS.register_module()
class LibMTLNormalMetric(SurfaceNormalMetric):
    """Surface-normal angle errors as LibMTL / mtan compute them.

    The angle between the (normalised) prediction and the ground-truth
    normal, in degrees, at every pixel whose ground truth is not the zero
    vector (:func:`normal_angles`); reported: ``mean``, ``median`` and
    ``within_<t>`` = % of pixels with angle **<** t (strictly, as LibMTL;
    :class:`SurfaceNormalMetric` counts ``<=``) for ``thresholds``
    (LibMTL's 11.25, 22.5 and 30 by default).

    ``reduction='pixel'`` (LibMTL) pools the angles of every valid pixel of
    the set. Its mean and percentages are exact; the median is read from
    :class:`SurfaceNormalMetric`'s pooled histogram and is accurate to
    ``bin_width`` (0.01 degrees; LibMTL takes ``np.median`` of all angles,
    which holds every angle of the set in memory). ``reduction='batch'``
    (mtan) computes mean, exact median and percentages per evaluation
    batch and averages each over the batches.

    Two details of LibMTL's code are not reproduced: its validity test is
    ``sum(gt) != 0`` (a valid normal whose components sum to exactly 0,
    such as (a, -a, 0), would be dropped there; real data has none),
    and it divides by the prediction's norm unclamped (a zero prediction
    gives NaN there, 90 degrees here).

    Args:
        thresholds: angle thresholds in degrees.
        reduction: ``'pixel'`` or ``'batch'`` (see above).
        **kwargs: :class:`SurfaceNormalMetric` arguments (``bin_width``,
            ``pred_key``, ``gt_key``, ``align_corners``, mmengine's
            ``BaseMetric`` arguments). ``spaces`` and ``pred_space`` are
            fixed to the unit space, where LibMTL measures.
    """

    def __init__(self,
                 thresholds: Sequence[float] = (11.25, 22.5, 30),
                 reduction: str = 'pixel',
                 **kwargs) -> None:
        fixed = sorted(k for k in ('spaces', 'pred_space') if k in kwargs)
        if fixed:
            raise ValueError(f'LibMTLNormalMetric: {fixed} cannot be set '
                             '(LibMTL measures unit normals)')
        super().__init__(thresholds=thresholds, **kwargs)
        self.reduction = check_choice(reduction, REDUCTIONS,
                                      'LibMTLNormalMetric: reduction')

    def summarise(self, angles: np.ndarray) -> Dict[str, Any]:
        """:class:`SurfaceNormalMetric`'s statistics with the
        within-threshold counts taken strictly (angle < t)."""
        stats = super().summarise(angles)
        stats['within'] = [int((angles < t).sum()) for t in self.thresholds]
        return stats

    def batch_metrics(self, angles: np.ndarray) -> Dict[str, float]:
        """mtan's per-batch numbers: mean, exact median and % below each
        threshold of one batch's angles."""
        out = dict(mean=float(angles.mean()),
                   median=float(np.median(angles)))
        for t in self.thresholds:
            out[self.threshold_name(t)] = 100.0 * float(np.mean(angles < t))
        return out

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """``'pixel'``: per-sample statistics (:class:`SurfaceNormalMetric`);
        ``'batch'``: one entry per batch with that batch's metrics."""
        if self.reduction == 'pixel':
            super().process(data_batch, data_samples)
            return
        angles = [
            normal_angles(pred, gt) for pred, gt in _batch_pairs(
                self, data_samples)
        ]
        angles = np.concatenate(angles) if angles else np.zeros(0)
        self.results.append(
            dict(count=int(angles.size),
                 batch=self.batch_metrics(angles) if angles.size else None))

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str,
                                                                     float]:
        if self.reduction == 'pixel':
            metrics = super().compute_metrics(results)
            metrics.pop('rmse')  # not one of LibMTL's numbers
            return metrics
        self.valid_count(results)
        batches = [r['batch'] for r in results if r['count'] > 0]
        return {
            k: float(np.mean([b[k] for b in batches]))
            for k in batches[0]
        }
