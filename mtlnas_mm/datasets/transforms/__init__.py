"""Data transforms for multi-task NYUv2 (registered in mmseg's TRANSFORMS)."""
from .formatting import PackMultiTaskInputs
from .geometric import (MultiTaskPad, NormalAwareRandomFlip, NormalAwareResize,
                        resize_normal_map)
from .loading import (DEPTH_PNG_SCALE, NORMAL_PNG_INVALID, NORMAL_PNG_MAX,
                      NPY_SEG_INVALID, LoadDepthMap, LoadMultiTaskImage,
                      LoadNormalMap, LoadSegMap, decode_normal_png,
                      encode_normal_png, valid_normals)
from .photometric import TorchvisionColorJitter

__all__ = [
    'LoadMultiTaskImage', 'LoadSegMap', 'LoadNormalMap', 'LoadDepthMap',
    'NormalAwareRandomFlip', 'NormalAwareResize', 'MultiTaskPad',
    'PackMultiTaskInputs', 'TorchvisionColorJitter', 'encode_normal_png', 'decode_normal_png',
    'valid_normals', 'resize_normal_map',
    'NORMAL_PNG_MAX', 'NORMAL_PNG_INVALID', 'DEPTH_PNG_SCALE',
    'NPY_SEG_INVALID'
]
