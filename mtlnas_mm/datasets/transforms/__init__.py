"""Data transforms for multi-task NYUv2 (registered in mmseg's TRANSFORMS)."""
from .formatting import PackMultiTaskInputs
from .geometric import (MultiTaskPad, NormalAwareRandomFlip, NormalAwareResize,
                        flip_normal_map, resize_normal_map)
from .loading import (LoadDepthMap, LoadMultiTaskImage, LoadNormalMap,
                      LoadSegMap, decode_normal_png, encode_normal_png)

__all__ = [
    'LoadMultiTaskImage', 'LoadSegMap', 'LoadNormalMap', 'LoadDepthMap',
    'NormalAwareRandomFlip', 'NormalAwareResize', 'MultiTaskPad',
    'PackMultiTaskInputs', 'encode_normal_png', 'decode_normal_png',
    'flip_normal_map', 'resize_normal_map'
]
