"""structures.flips: one table of flip axes for numpy and torch fields."""
import numpy as np
import pytest
import torch

from mtlnas_mm.structures.flips import (FLIP_AXES, flip_axes, flip_map,
                                        flip_vector_array, flip_vector_field,
                                        negate_flipped_components)

# A hand-made 2x2 field of 3-vectors, HxWxC: FIELD[row, col] = (x, y, z).
FIELD = np.array([[[1., 2., 3.], [4., 5., 6.]],
                  [[7., 8., 9.], [0., 0., 0.]]], np.float32)

# Expected flips, written out by hand: the pixels move, then x (horizontal),
# y (vertical) or both (diagonal) change sign; the zero vector stays +0.
EXPECTED = {
    'horizontal': [[[-4., 5., 6.], [-1., 2., 3.]],
                   [[0., 0., 0.], [-7., 8., 9.]]],
    'vertical': [[[7., -8., 9.], [0., 0., 0.]],
                 [[1., -2., 3.], [4., -5., 6.]]],
    'diagonal': [[[0., 0., 0.], [-7., -8., 9.]],
                 [[-4., -5., 6.], [-1., -2., 3.]]],
}
# Pixels only, no component negated.
MIRRORED = {
    'horizontal': FIELD[:, ::-1],
    'vertical': FIELD[::-1, :],
    'diagonal': FIELD[::-1, ::-1],
}


def test_flip_axes_table():
    assert set(FLIP_AXES) == {'horizontal', 'vertical', 'diagonal'}
    assert flip_axes('horizontal') == ((1, ), (0, ))
    assert flip_axes('vertical').spatial == (0, )
    assert flip_axes('vertical').components == (1, )
    assert flip_axes('diagonal') == ((0, 1), (0, 1))
    with pytest.raises(ValueError, match=r"'sideways'.*\['diagonal', "):
        flip_axes('sideways')


@pytest.mark.parametrize('direction', sorted(EXPECTED))
def test_numpy_flip(direction):
    ref = FIELD.copy()
    out = flip_vector_array(FIELD, direction)
    np.testing.assert_array_equal(out, EXPECTED[direction])
    assert out.dtype == np.float32
    assert not np.signbit(out[out == 0]).any()  # +0, never -0
    np.testing.assert_array_equal(FIELD, ref)  # input untouched
    np.testing.assert_array_equal(flip_vector_array(out, direction), FIELD)
    # a map already mirrored (as mmseg's RandomFlip leaves it)
    neg = negate_flipped_components(MIRRORED[direction], direction)
    np.testing.assert_array_equal(neg, EXPECTED[direction])
    assert not np.signbit(neg[neg == 0]).any()


@pytest.mark.parametrize('direction', sorted(EXPECTED))
def test_torch_flip(direction):
    chw = torch.from_numpy(FIELD.transpose(2, 0, 1).copy())
    want = torch.tensor(EXPECTED[direction]).permute(2, 0, 1)
    nchw = chw[None]
    out = flip_vector_field(nchw, direction)
    assert out.shape == (1, 3, 2, 2)
    assert torch.equal(out[0], want)
    assert not torch.signbit(out[out == 0]).any()
    assert torch.equal(nchw[0], chw)  # input untouched
    assert torch.equal(flip_vector_field(chw, direction,
                                         spatial_dims_offset=1), want)
    mirrored = torch.from_numpy(
        MIRRORED[direction].transpose(2, 0, 1).copy())
    assert torch.equal(flip_map(nchw, direction)[0], mirrored)
    assert torch.equal(flip_map(chw, direction, spatial_dims_offset=1),
                       mirrored)


def test_torch_and_numpy_agree_and_errors():
    rng = np.random.default_rng(0)
    field = rng.normal(size=(5, 7, 3)).astype(np.float32)
    t = torch.from_numpy(field.transpose(2, 0, 1).copy())[None]
    for direction in FLIP_AXES:
        np.testing.assert_array_equal(
            flip_vector_field(t, direction)[0].numpy().transpose(1, 2, 0),
            flip_vector_array(field, direction))
    with pytest.raises(ValueError, match='unknown flip direction'):
        flip_vector_field(t, 'up')
    with pytest.raises(ValueError, match='spatial_dims_offset=0'):
        flip_vector_field(t[0, 0], 'horizontal', spatial_dims_offset=0)
