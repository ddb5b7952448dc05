"""Image-level labels of the generated scenes: the dominant object.

An image-level classification task for the procedural data: which piece of
furniture or object covers the most pixels of the view (or ``'none'`` when
objects cover less than :data:`MIN_OBJECT_FRACTION` of the valid pixels).
It is a function of the exact semantic labels, so it is as reproducible as
they are and genuinely related to the dense tasks (a classifier must find
and compare the objects that segmentation delineates).
"""
from typing import Tuple

import numpy as np

from .scene import BED, BOX, CABINET, CHAIR, LAMP, OTHERPROP, SOFA, TABLE

#: NYUv2-40 ids of the object classes that can be dominant, in label order
#: (label 0 is ``'none'``).
DOMINANT_OBJECT_IDS: Tuple[int, ...] = (CABINET, BED, CHAIR, SOFA, TABLE,
                                        BOX, LAMP, OTHERPROP)

#: Names of the image-level classes (``img_classes`` of the data set).
DOMINANT_OBJECT_CLASSES: Tuple[str, ...] = (
    'none', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'box', 'lamp',
    'otherprop')

#: Below this fraction of labelled pixels covered by objects: ``'none'``.
MIN_OBJECT_FRACTION = 0.02


def dominant_object_label(seg40: np.ndarray) -> int:
    """Image-level label of a NYUv2-40 label map (255 = unlabeled).

    Returns the index into :data:`DOMINANT_OBJECT_CLASSES`: ``1 + k`` for
    the object class ``DOMINANT_OBJECT_IDS[k]`` with the most pixels (ties
    go to the lower index), ``0`` if all objects together cover less than
    :data:`MIN_OBJECT_FRACTION` of the labelled pixels.
    """
    counts = np.bincount(seg40.reshape(-1), minlength=256)
    labelled = int(counts[:255].sum())
    objects = counts[list(DOMINANT_OBJECT_IDS)]
    if labelled == 0 or objects.sum() < MIN_OBJECT_FRACTION * labelled:
        return 0
    return 1 + int(np.argmax(objects))
