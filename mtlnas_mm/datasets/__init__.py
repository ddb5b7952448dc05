"""Datasets and transforms (registered in mmseg's DATASETS / TRANSFORMS).

The procedural scene generator lives in :mod:`.synthetic` and the
converters of official releases (NYU Depth v2 ``.mat`` files, normals from
depth) in :mod:`.converters`; both are imported on demand (they need no
registry).
"""
from .nyuv2 import (NYU13_CLASSES, NYU13_PALETTE, NYU40_CLASSES,
                    NYU40_PALETTE, NYU40_TO_NYU13, NYUv2MultiTaskDataset)
from .libmtl_layout import read_libmtl_sample, write_libmtl_sample
from .nyuv2_13 import LibMTLRandomScaleCrop, NYUv2LibMTLDataset
from .transforms import *  # noqa: F401,F403

__all__ = [
    'NYUv2MultiTaskDataset', 'NYU40_CLASSES', 'NYU40_PALETTE',
    'NYU13_CLASSES', 'NYU13_PALETTE', 'NYU40_TO_NYU13',
    'NYUv2LibMTLDataset', 'LibMTLRandomScaleCrop', 'write_libmtl_sample',
    'read_libmtl_sample'
]
