"""Photometric transforms of the official MTL-NAS pipeline."""
from typing import Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image

from mmseg.registry import TRANSFORMS

Range = Union[float, Sequence[float]]


@TRANSFORMS.register_module()
class TorchvisionColorJitter(BaseTransform):
    """torchvision's ``ColorJitter`` on the pipeline's BGR uint8 image.

    The official MTL-NAS loader applies
    ``torchvision.transforms.ColorJitter(hue=0.05, saturation=0.05)`` to
    the PIL RGB image (first, before scaling) and nothing else
    photometric; this transform runs that very function on
    ``results['img']`` (converted BGR -> RGB PIL and back), so the
    factors, their random order and the PIL colour arithmetic are
    torchvision's.  Random numbers come from torch's generator, as in
    torchvision.

    Why not ``mmpretrain.ColorJitter``: its semantics are torchvision's,
    but its hue step (mmcv 2.1's ``adjust_hue``) computes
    ``np.uint8(hue_factor * 255)``, which raises ``OverflowError`` under
    numpy 2 for every negative hue factor, i.e. on half the images.  The
    project's default pipelines use mmseg's ``PhotoMetricDistortion``
    (brightness and contrast as well), which is not the official
    augmentation.

    Required keys: ``img``. Modified keys: ``img``.

    Args:
        brightness, contrast, saturation, hue: as torchvision's
            ``ColorJitter`` (official: ``saturation=0.05, hue=0.05``).
    """

    def __init__(self,
                 brightness: Range = 0.,
                 contrast: Range = 0.,
                 saturation: Range = 0.,
                 hue: Range = 0.) -> None:
        from torchvision.transforms import ColorJitter
        self.jitter = ColorJitter(
            brightness=brightness,
            contrast=contrast,
            saturation=saturation,
            hue=hue)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise TypeError('TorchvisionColorJitter needs an HxWx3 uint8 BGR '
                            f'image, got {img.dtype} {img.shape}')
        rgb = Image.fromarray(np.ascontiguousarray(img[..., ::-1]))
        out = np.asarray(self.jitter(rgb))
        results['img'] = np.ascontiguousarray(out[..., ::-1])
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.jitter!r})'
