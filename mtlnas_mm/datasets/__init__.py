"""Datasets and transforms (registered in mmseg's DATASETS / TRANSFORMS).

The procedural scene generator lives in :mod:`.synthetic` and is imported
on demand (it needs no registry).
"""
from .nyuv2 import (NYU13_CLASSES, NYU13_PALETTE, NYU40_CLASSES,
                    NYU40_PALETTE, NYU40_TO_NYU13, NYUv2MultiTaskDataset)
from .transforms import *  # noqa: F401,F403

__all__ = [
    'NYUv2MultiTaskDataset', 'NYU40_CLASSES', 'NYU40_PALETTE',
    'NYU13_CLASSES', 'NYU13_PALETTE', 'NYU40_TO_NYU13'
]
