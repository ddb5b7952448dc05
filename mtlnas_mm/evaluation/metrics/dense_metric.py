"""The part the dense-map metrics share: fields, resizing, the loop."""
from typing import Any, Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric

from mtlnas_mm.structures.task_fields import TaskKind, task_kind
from .utils import get_pixel_data, resize_to


class BaseDenseMetric(BaseMetric):
    """A metric of one dense task kind, from per-image sufficient statistics.

    Field names and the invalid value come from the task kind's entry of
    :data:`mtlnas_mm.structures.task_fields.TASK_KINDS`. For every sample
    :meth:`process` reads the prediction and the ground truth as CxHxW
    float tensors (a HxW map gets C = 1), resizes the prediction
    bilinearly to the ground truth if needed and appends
    :meth:`image_statistics` to ``self.results``.

    Args:
        pred_key: prediction field. Defaults to the kind's main prediction
            field (``TaskKind.pred_fields[0]``).
        gt_key: ground-truth field. Defaults to ``TaskKind.gt_field``.
        align_corners: used when resizing predictions.
        collect_device: see mmengine's ``BaseMetric``.
        prefix: see mmengine's ``BaseMetric``.
        collect_dir: see mmengine's ``BaseMetric``.
    """
    #: the task kind measured (a key of ``TASK_KINDS``)
    kind: str

    def __init__(self,
                 pred_key: Optional[str] = None,
                 gt_key: Optional[str] = None,
                 align_corners: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix,
                         collect_dir=collect_dir)
        self.task_kind: TaskKind = task_kind(self.kind)
        self.pred_key = pred_key or self.task_kind.pred_fields[0]
        self.gt_key = gt_key or self.task_kind.gt_field
        self.invalid = self.task_kind.invalid
        self.align_corners = align_corners

    def image_statistics(self, pred: torch.Tensor,
                         gt: torch.Tensor) -> Dict[str, Any]:
        """Sufficient statistics of one image.

        Args:
            pred: CxHxW prediction, resized to the ground truth.
            gt: CxHxW ground truth.

        Returns:
            What :meth:`compute_metrics` pools over the images.
        """
        raise NotImplementedError

    def valid_count(self, results: List[Dict[str, Any]]) -> int:
        """Number of valid pixels over all images.

        Args:
            results: the statistics of every image (with a ``count``).

        Returns:
            The pooled pixel count; an error naming the metric if it is 0.
        """
        n = sum(r['count'] for r in results)
        if n == 0:
            raise ValueError(f'{type(self).__name__}: no valid ground-truth '
                             f'{self.kind} in the evaluated samples')
        return n

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Append the statistics of every sample to ``self.results``.

        Args:
            data_batch: the batch from the dataloader (unused).
            data_samples: data samples (or their dicts) holding the
                prediction and ground-truth fields.
        """
        for sample in data_samples:
            gt = get_pixel_data(sample, self.gt_key).float()
            pred = get_pixel_data(sample, self.pred_key).float()
            if gt.dim() == 2:
                gt = gt[None]
            if pred.dim() == 2:
                pred = pred[None]
            pred = resize_to(pred, gt.shape[-2:], self.align_corners)
            self.results.append(self.image_statistics(pred, gt))
