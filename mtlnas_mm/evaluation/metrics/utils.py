"""Helpers shared by the metrics."""
from typing import Any

import torch

from mmseg.models.utils import resize


def get_pixel_data(sample: Any, key: str) -> torch.Tensor:
    """Tensor of a ``PixelData`` field of a data sample.

    Works for ``SegDataSample`` objects and for the dicts mmengine's
    ``Evaluator`` passes to metrics (``sample[key]['data']``).
    """
    if isinstance(sample, dict):
        if key not in sample:
            raise KeyError(f'data sample has no {key!r} (has '
                           f'{sorted(sample)})')
        field = sample[key]
        data = field['data'] if isinstance(field, dict) else field.data
    else:
        if key not in sample:
            raise KeyError(f'data sample has no {key!r}')
        data = getattr(sample, key).data
    if not isinstance(data, torch.Tensor):
        data = torch.as_tensor(data)
    return data.detach().cpu()


def resize_to(pred: torch.Tensor, shape: torch.Size,
              align_corners: bool) -> torch.Tensor:
    """Bilinearly resize a CxHxW prediction to ``shape`` (H, W) if needed."""
    if tuple(pred.shape[-2:]) == tuple(shape):
        return pred
    return resize(pred[None].float(), size=tuple(shape), mode='bilinear',
                  align_corners=align_corners, warning=False)[0]
