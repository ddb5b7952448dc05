"""The one home of the surface-normal PNG encoding and the two spaces in
which normals can be compared.

The NDDR-CNN / MTL-NAS release stores a normal ``n`` (unit vector, x
right, y up, z towards the camera) as an RGB PNG with
``v = round((n + 1) / 2 * NORMAL_PNG_MAX)`` per channel (R = x); a pixel
whose three channels are all ``NORMAL_PNG_INVALID`` is invalid.  The
project decodes ``v`` to ``n = v * 2 / NORMAL_PNG_MAX - 1``
(:func:`raw_to_unit`); :func:`unit_to_raw` is its exact inverse.

Spaces (:data:`NORMAL_SPACES`) in which a loss or metric compares vectors:

* ``'unit'``: the decoded normals (the project's default, and the
  physically meaningful angle between two normals);
* ``'raw'``: the 0..255 PNG vectors ``v`` themselves, as the official
  MTL-NAS / NDDR-CNN code does (its loader keeps the PNG values and its
  loss / metric take the cosine of them).  The offset ``+1`` makes angles
  in this space about 2.5x smaller than the true angles, and ``1 - cos``
  correspondingly smaller, so the paper's angles and loss weight (x20) are
  those of this space.

Both conversions are plain arithmetic and work on numpy arrays and torch
tensors alike (channels in any axis: they act element-wise).
"""
from typing import TypeVar

from .choices import check_choice

#: Largest channel value of a normal PNG.
NORMAL_PNG_MAX = 255
#: Value of every channel of an invalid pixel in a normal PNG.
NORMAL_PNG_INVALID = 255
#: The spaces a normal loss or metric can compare vectors in.
NORMAL_SPACES = ('unit', 'raw')

ArrayT = TypeVar('ArrayT')


def check_normal_space(space: str, owner: str) -> str:
    """``space`` if it is one of :data:`NORMAL_SPACES`, else an error
    naming ``owner``."""
    return check_choice(space, NORMAL_SPACES, f'{owner}: normal space')


def unit_to_raw(normal: ArrayT) -> ArrayT:
    """Decoded normals -> 0..255 PNG vectors: ``(n + 1) * MAX / 2``.

    The exact inverse of :func:`raw_to_unit` (no rounding), so a map loaded
    without renormalisation gives back the PNG's values (to float
    precision).
    """
    return (normal + 1.0) * (NORMAL_PNG_MAX / 2.0)


def raw_to_unit(raw: ArrayT) -> ArrayT:
    """0..255 PNG vectors -> decoded normals: ``v * 2 / MAX - 1`` (not
    renormalised)."""
    return raw * (2.0 / NORMAL_PNG_MAX) - 1.0
