"""The one home of what each flip direction mirrors.

A flip mirrors a map spatially. A field of vectors in the image frame
(surface normals: channel 0 = x right, 1 = y up, 2 = z towards the camera,
``docs/design.md#data-sample-contract-mmsegstructuressegdatasample``) also
has the components along the mirrored axes negated: x for a horizontal
flip, y for a vertical one, both for a diagonal flip (a rotation by 180
degrees). The training pipeline negates the components of numpy HxWxC
maps that mmseg has already mirrored (:func:`negate_flipped_components`;
:func:`flip_vector_array` does both); the test-time undo of a flip works on torch tensors (:func:`flip_map`,
:func:`flip_vector_field`). All of them read :data:`FLIP_AXES`.

Negated zeros stay ``+0``, so an invalid (zero) normal is the same before
and after a flip, bit for bit.
"""
from typing import Dict, NamedTuple, Tuple

import numpy as np
from torch import Tensor


class FlipAxes(NamedTuple):
    """What one flip direction mirrors.

    Attributes:
        spatial: the mirrored spatial axes, 0 = rows (height),
            1 = columns (width).
        components: the negated vector components, 0 = x, 1 = y.
    """

    spatial: Tuple[int, ...]
    components: Tuple[int, ...]


#: flip direction (mmcv / mmseg names) -> what it mirrors
FLIP_AXES: Dict[str, FlipAxes] = {
    'horizontal': FlipAxes(spatial=(1, ), components=(0, )),
    'vertical': FlipAxes(spatial=(0, ), components=(1, )),
    'diagonal': FlipAxes(spatial=(0, 1), components=(0, 1)),
}


def flip_axes(direction: str) -> FlipAxes:
    """The :class:`FlipAxes` of ``direction``.

    Args:
        direction: ``'horizontal'``, ``'vertical'`` or ``'diagonal'``.

    Returns:
        FlipAxes: the mirrored spatial axes and negated components.

    Raises:
        ValueError: for an unknown direction (the message lists the known
            ones).
    """
    if direction not in FLIP_AXES:
        raise ValueError(f'unknown flip direction {direction!r}; expected '
                         f'one of {sorted(FLIP_AXES)}')
    return FLIP_AXES[direction]


# ------------------------------------------------------------------ numpy
def negate_flipped_components(field: np.ndarray,
                              direction: str) -> np.ndarray:
    """Negate the flipped components of an HxWxC vector field.

    For a map that is already mirrored spatially (as mmseg's
    ``RandomFlip`` mirrors every ``seg_fields`` entry).

    Args:
        field: HxWxC vectors, channel 0 = x, 1 = y.
        direction: the flip direction.

    Returns:
        np.ndarray: a copy (float32 unless ``field`` is another float
        type) with the components of :func:`flip_axes` negated.
    """
    components = flip_axes(direction).components
    dtype = field.dtype if np.issubdtype(field.dtype, np.floating) \
        else np.float32
    out = np.array(field, dtype=dtype, copy=True)
    for c in components:
        out[..., c] = 0.0 - out[..., c]
    return out


def flip_vector_array(field: np.ndarray, direction: str) -> np.ndarray:
    """Flip an HxWxC vector field: mirror it spatially and negate the
    flipped components.

    Args:
        field: HxWxC vectors, channel 0 = x, 1 = y.
        direction: the flip direction.

    Returns:
        np.ndarray: the flipped field, a new array.
    """
    mirrored = np.flip(field, axis=flip_axes(direction).spatial)
    return negate_flipped_components(mirrored, direction)


# ------------------------------------------------------------------ torch
def flip_map(t: Tensor, direction: str, spatial_dims_offset: int = 2
             ) -> Tensor:
    """Mirror a map tensor spatially (no component is negated).

    Args:
        t: a tensor whose height and width are the dims
            ``spatial_dims_offset`` and ``spatial_dims_offset + 1``.
        direction: the flip direction.
        spatial_dims_offset: the height dim: 2 for NCHW, 1 for CHW.

    Returns:
        Tensor: the mirrored map, a new tensor.
    """
    dims = tuple(spatial_dims_offset + a
                 for a in flip_axes(direction).spatial)
    return t.flip(dims=dims)


def flip_vector_field(t: Tensor, direction: str,
                      spatial_dims_offset: int = 2) -> Tensor:
    """Flip a vector-field tensor: mirror it spatially and negate the
    flipped components.

    Args:
        t: vectors along the dim just before the spatial dims (C of NCHW
            or CHW), channel 0 = x, 1 = y.
        direction: the flip direction.
        spatial_dims_offset: the height dim: 2 for NCHW, 1 for CHW.

    Returns:
        Tensor: the flipped field, a new tensor.
    """
    if spatial_dims_offset < 1:
        raise ValueError('a vector field needs its channel dim before the '
                         f'spatial dims; got spatial_dims_offset='
                         f'{spatial_dims_offset}')
    out = flip_map(t, direction, spatial_dims_offset)
    index = [slice(None)] * out.dim()
    for c in flip_axes(direction).components:
        index[spatial_dims_offset - 1] = c
        out[tuple(index)] = 0.0 - out[tuple(index)]
    return out
