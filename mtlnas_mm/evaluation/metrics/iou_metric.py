"""mmseg's ``IoUMetric`` plus the MTL-NAS paper's counting of mIoU."""
from typing import Dict

import torch

from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class AllClassIoUMetric(IoUMetric):
    """``IoUMetric`` that also reports ``mIoU_all``: the plain mean IoU over
    *all* classes, a class absent from both ground truth and prediction
    counting 0, as the official MTL-NAS evaluation does.

    mmseg's ``mIoU`` (kept unchanged) is the ``nanmean`` over the classes
    that occur; the two agree when every class occurs (the NYUv2 test set)
    and ``mIoU_all`` is lower on small sets where some classes never occur.
    Arguments are ``IoUMetric``'s.
    """

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics = super().compute_metrics(results)
        if not results:
            return metrics
        intersect = sum(r[0] for r in results).double()
        union = sum(r[1] for r in results).double()
        iou = torch.where(union > 0, intersect / union.clamp(min=1),
                          torch.zeros_like(union))
        metrics['mIoU_all'] = round(float(iou.mean()) * 100, 2)
        return metrics
