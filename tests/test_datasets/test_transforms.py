"""Loading, geometric and packing transforms for multi-task samples."""
import copy

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from mmseg.registry import TRANSFORMS

import mtlnas_mm.datasets  # noqa: F401  (registers the transforms)
from mtlnas_mm.structures.task_fields import results_invalid_values
from mtlnas_mm.datasets.transforms import (LoadDepthMap, LoadMultiTaskImage,
                                           LoadNormalMap, LoadSegMap,
                                           MultiTaskPad, NormalAwareRandomFlip,
                                           NormalAwareResize,
                                           PackMultiTaskInputs,
                                           decode_normal_png,
                                           encode_normal_png, valid_normals)

FIELDS = ['gt_seg_map', 'gt_normal_map', 'gt_depth_map']


def _unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v)


def make_results(h=24, w=32, seed=0):
    """A sample with a known invalid pattern in every map."""
    rng = np.random.default_rng(seed)
    normal = rng.normal(size=(h, w, 3)).astype(np.float32)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    normal[2:6, 3:9] = 0  # invalid block
    seg = rng.integers(0, 5, size=(h, w)).astype(np.uint8)
    seg[10:14, 20:26] = 255
    depth = rng.uniform(0.5, 5, size=(h, w)).astype(np.float32)
    depth[2:6, 3:9] = 0
    img = rng.integers(0, 256, size=(h, w, 3)).astype(np.uint8)
    return dict(img=img, img_shape=(h, w), ori_shape=(h, w),
                gt_seg_map=seg, gt_normal_map=normal, gt_depth_map=depth,
                seg_fields=list(FIELDS))


# ------------------------------------------------------------------ flip
@pytest.mark.parametrize('direction', ['horizontal', 'vertical', 'diagonal'])
def test_flip_twice_is_identity(direction):
    res = make_results()
    ref = copy.deepcopy(res)
    flip = NormalAwareRandomFlip(prob=1.0, direction=direction)
    once = flip(copy.deepcopy(res))
    assert not np.array_equal(once['gt_normal_map'], ref['gt_normal_map'])
    twice = flip(once)
    for key in FIELDS + ['img']:
        np.testing.assert_array_equal(twice[key], ref[key])


def test_flip_negates_the_right_component():
    res = make_results()
    n = res['gt_normal_map'].copy()
    h = NormalAwareRandomFlip(prob=1.0, direction='horizontal')(
        copy.deepcopy(res))['gt_normal_map']
    np.testing.assert_array_equal(h[..., 0], -n[:, ::-1, 0] + 0.0)
    np.testing.assert_array_equal(h[..., 1:], n[:, ::-1, 1:])
    v = NormalAwareRandomFlip(prob=1.0, direction='vertical')(
        copy.deepcopy(res))['gt_normal_map']
    np.testing.assert_array_equal(v[..., 1], -n[::-1, :, 1] + 0.0)
    np.testing.assert_array_equal(v[..., [0, 2]], n[::-1][..., [0, 2]])
    # invalid pixels stay exactly +0 (no -0.0 sign bit)
    block = h[2:6, w_slice(32, 3, 9)]
    assert not np.signbit(block).any() and not block.any()


def test_official_flip_mirrors_without_negating():
    """negate_components=False (the official pipeline): every map is
    mirrored, no normal component changes sign."""
    res = make_results()
    n = res['gt_normal_map'].copy()
    flip = NormalAwareRandomFlip(prob=1.0, direction='horizontal',
                                 negate_components=False)
    out = flip(copy.deepcopy(res))
    np.testing.assert_array_equal(out['gt_normal_map'], n[:, ::-1])
    np.testing.assert_array_equal(out['gt_seg_map'],
                                  res['gt_seg_map'][:, ::-1])
    assert 'negate_components=False' in repr(flip)


def w_slice(w, a, b):
    """Columns a:b after a horizontal flip of width w."""
    return slice(w - b, w - a)


def test_flip_prob_zero_keeps_everything():
    res = make_results()
    out = NormalAwareRandomFlip(prob=0.0)(copy.deepcopy(res))
    assert out['flip'] is False
    np.testing.assert_array_equal(out['gt_normal_map'], res['gt_normal_map'])


# ---------------------------------------------------------------- resize
def test_resize_renormalises_and_keeps_invalid():
    h, w = 20, 30
    normal = np.zeros((h, w, 3), np.float32)
    normal[:, :10] = _unit([1, 0, 1])
    normal[:, 10:20] = _unit([0, 1, 1])
    # columns 20: invalid
    res = dict(img=np.zeros((h, w, 3), np.uint8), gt_normal_map=normal,
               gt_seg_map=np.zeros((h, w), np.uint8),
               gt_depth_map=np.where(normal[..., 2] > 0, 2.0, 0.0).astype(
                   np.float32), seg_fields=list(FIELDS))
    res['gt_seg_map'][:, 20:] = 255
    out = NormalAwareResize(scale=(45, 30), keep_ratio=False)(res)
    n = out['gt_normal_map']
    assert n.shape == (30, 45, 3) and out['img'].shape[:2] == (30, 45)
    valid = np.any(n != 0, axis=-1)
    np.testing.assert_allclose(np.linalg.norm(n[valid], axis=-1), 1,
                               atol=1e-6)
    # blend at the 10 | 20 boundary is a unit vector between the two
    mid = n[5, 14:16]
    assert (mid[:, 0] > 0).all() and (mid[:, 1] > 0).all()
    # the invalid columns stay invalid, as the nearest-resized mask says
    mask = cv2.resize((normal[..., 2] > 0).astype(np.uint8), (45, 30),
                      interpolation=cv2.INTER_NEAREST).astype(bool)
    np.testing.assert_array_equal(valid, mask)
    # next to invalid pixels the direction is that of the valid side only
    edge = valid & ~np.roll(valid, -1, axis=1)
    np.testing.assert_allclose(n[edge], np.broadcast_to(
        _unit([0, 1, 1]), (edge.sum(), 3)), atol=1e-6)
    # labels and depth: nearest, no blended values, invalid kept
    assert set(np.unique(out['gt_seg_map'])) == {0, 255}
    assert set(np.unique(out['gt_depth_map'])) == {0.0, 2.0}
    np.testing.assert_array_equal(out['gt_depth_map'] > 0, mask)


def test_pillow_resize_of_a_depth_map():
    """backend='pillow': float maps other than normals (depth) resize
    with PIL's 'F' mode (mmcv's pillow path takes uint8 only), as PIL's
    nearest resize of the same values; other dtypes are refused."""
    h, w = 12, 16
    depth = np.linspace(0.5, 9.5, h * w, dtype=np.float32).reshape(h, w)
    depth[:, :3] = 0.0  # invalid
    res = dict(img=np.zeros((h, w, 3), np.uint8), gt_depth_map=depth,
               gt_seg_map=np.zeros((h, w), np.uint8),
               seg_fields=['gt_seg_map', 'gt_depth_map'])
    resize = NormalAwareResize(scale=(24, 18), keep_ratio=False,
                               backend='pillow')
    out = resize(copy.deepcopy(res))
    d = out['gt_depth_map']
    assert d.shape == (18, 24) and d.dtype == np.float32
    expected = np.asarray(Image.fromarray(depth).resize(
        (24, 18), Image.NEAREST))
    np.testing.assert_array_equal(d, expected)
    assert set(np.unique(d)) <= set(np.unique(depth))
    res['gt_depth_map'] = (depth * 1000).astype(np.uint16)
    with pytest.raises(TypeError, match="'gt_depth_map' is uint16"):
        resize(res)


def test_random_resize_builds_normal_aware_resize(mmseg_scope):
    rr = TRANSFORMS.build(
        dict(type='RandomResize', scale=(64, 48), ratio_range=(0.5, 1.5),
             resize_type='NormalAwareResize', keep_ratio=True))
    assert type(rr.resize).__name__ == 'NormalAwareResize'
    out = rr(make_results(h=24, w=32))
    h, w = out['img'].shape[:2]
    for key in FIELDS:
        assert out[key].shape[:2] == (h, w)
    n = out['gt_normal_map']
    valid = np.any(n != 0, axis=-1)
    np.testing.assert_allclose(np.linalg.norm(n[valid], axis=-1), 1,
                               atol=1e-5)
    assert (~valid).any()


# ------------------------------------------------------------ crop / pad
def test_mmseg_random_crop_keeps_invalid_markers(mmseg_scope):
    res = make_results(h=24, w=32)
    ref = copy.deepcopy(res)
    np.random.seed(3)
    crop = TRANSFORMS.build(dict(type='RandomCrop', crop_size=(16, 20)))
    bbox = crop.crop_bbox(res)  # cached randomness is not used here
    np.random.seed(3)
    out = crop(res)
    y1, y2, x1, x2 = bbox
    for key in FIELDS:
        np.testing.assert_array_equal(out[key], ref[key][y1:y2, x1:x2])
    # a crop that covers the invalid block keeps it invalid
    full = TRANSFORMS.build(dict(type='RandomCrop', crop_size=(24, 32)))(
        copy.deepcopy(ref))
    assert not full['gt_normal_map'][2:6, 3:9].any()
    assert (full['gt_depth_map'][2:6, 3:9] == 0).all()
    assert (full['gt_seg_map'][10:14, 20:26] == 255).all()


def test_pad_uses_each_maps_invalid_value():
    res = make_results(h=20, w=30)
    out = MultiTaskPad(size=(24, 33), pad_val=7)(res)
    assert out['img'].shape == (24, 33, 3)
    assert out['img_shape'] == (24, 33) and out['pad_shape'] == (24, 33)
    assert (out['img'][20:] == 7).all() and (out['img'][:, 30:] == 7).all()
    assert (out['gt_seg_map'][20:] == 255).all()
    assert (out['gt_seg_map'][:, 30:] == 255).all()
    assert not out['gt_normal_map'][20:].any()
    assert not out['gt_normal_map'][:, 30:].any()
    assert not out['gt_depth_map'][:, 30:].any()
    np.testing.assert_array_equal(out['gt_seg_map'][:20, :30],
                                  make_results(h=20, w=30)['gt_seg_map'])
    # larger images are not cropped; size_divisor rounds up
    out = MultiTaskPad(size_divisor=8)(make_results(h=20, w=30))
    assert out['img'].shape[:2] == (24, 32)


def test_pad_values_come_from_task_fields_and_stay_settable():
    assert MultiTaskPad(size=8).pad_vals == results_invalid_values()
    assert MultiTaskPad(size=8).pad_vals == dict(
        gt_seg_map=255, gt_normal_map=0, gt_depth_map=0)
    pad = MultiTaskPad(size=(22, 30), seg_pad_val=9, normal_pad_val=-2,
                       depth_pad_val=-1, pad_vals=dict(gt_other=4))
    res = make_results(h=20, w=30)
    res['gt_other'] = np.zeros((20, 30), np.float32)
    res['seg_fields'].append('gt_other')
    out = pad(res)
    assert (out['gt_seg_map'][20:] == 9).all()
    assert (out['gt_normal_map'][20:] == -2).all()
    assert (out['gt_depth_map'][20:] == -1).all()
    assert (out['gt_other'][20:] == 4).all()


# ------------------------------------------------------------------ pack
def test_pack_multi_task_inputs():
    res = make_results(h=20, w=30)
    res['img_path'] = 'x.png'
    out = PackMultiTaskInputs()(res)
    sample = out['data_samples']
    assert out['inputs'].shape == (3, 20, 30)
    assert sample.gt_sem_seg.data.shape == (1, 20, 30)
    assert sample.gt_sem_seg.data.dtype == torch.int64
    assert sample.gt_normal_map.data.shape == (3, 20, 30)
    assert sample.gt_normal_map.data.dtype == torch.float32
    np.testing.assert_array_equal(sample.gt_normal_map.data[0].numpy(),
                                  res['gt_normal_map'][..., 0])
    assert sample.gt_depth_map.data.shape == (1, 20, 30)
    assert sample.gt_depth_map.data.dtype == torch.float32
    assert sample.metainfo['img_path'] == 'x.png'


# --------------------------------------------------------------- loading
def test_normal_png_encoding_round_trip():
    n = np.array([[[0, 0, 1], [1, 0, 0]], [[0, -1, 0], [0, 0, 0]]],
                 np.float32)
    enc = encode_normal_png(n)
    np.testing.assert_array_equal(enc[0, 0], [128, 128, 255])
    np.testing.assert_array_equal(enc[0, 1], [255, 128, 128])
    np.testing.assert_array_equal(enc[1, 0], [128, 0, 128])
    np.testing.assert_array_equal(enc[1, 1], [255, 255, 255])
    vec, valid = decode_normal_png(enc)
    np.testing.assert_array_equal(valid, [[True, True], [True, False]])
    assert not vec[1, 1].any()
    np.testing.assert_array_equal(valid_normals(n), valid)


def test_loaders_png_and_npy(tmp_path):
    h, w = 6, 8
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / 'img.png'), rgb[..., ::-1])
    np.save(tmp_path / 'img.npy', rgb.astype(np.float32) / 255)
    n = rng.normal(size=(h, w, 3)).astype(np.float32)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    n[0, 0] = 0
    cv2.imwrite(str(tmp_path / 'n.png'), encode_normal_png(n)[..., ::-1])
    np.save(tmp_path / 'n.npy', n * 0.9)  # not unit: renormalised
    depth = np.full((h, w), 1.234, np.float32)
    depth[1, 1] = 0
    cv2.imwrite(str(tmp_path / 'd.png'), np.rint(depth * 1000).astype(
        np.uint16))
    np.save(tmp_path / 'd.npy', depth[..., None])
    label = rng.integers(0, 13, (h, w)).astype(np.float32)
    label[2, 2] = -1
    np.save(tmp_path / 'l.npy', label)

    for ext in ('png', 'npy'):
        res = dict(img_path=str(tmp_path / f'img.{ext}'),
                   normal_path=str(tmp_path / f'n.{ext}'),
                   depth_map_path=str(tmp_path / f'd.{ext}'),
                   seg_map_path=str(tmp_path / 'l.npy'), num_classes=13,
                   seg_fields=[])
        res = LoadMultiTaskImage()(res)
        np.testing.assert_array_equal(res['img'], rgb[..., ::-1])  # BGR
        assert res['ori_shape'] == (h, w)
        res = LoadNormalMap()(res)
        out = res['gt_normal_map']
        pil = LoadNormalMap(imdecode_backend='pillow')(dict(
            normal_path=res['normal_path'], seg_fields=[]))
        np.testing.assert_array_equal(pil['gt_normal_map'], out)
        assert out.dtype == np.float32 and not out[0, 0].any()
        ok = np.any(out != 0, axis=-1)
        np.testing.assert_allclose(np.linalg.norm(out[ok], axis=-1), 1,
                                   atol=1e-6)
        assert (out[ok] * n[ok]).sum(-1).min() > np.cos(np.deg2rad(0.6))
        res = LoadDepthMap()(res)
        np.testing.assert_allclose(res['gt_depth_map'], depth, atol=1e-6)
        res = LoadSegMap()(res)
        assert res['gt_seg_map'][2, 2] == 255
        assert res['gt_seg_map'].dtype == np.uint8
        assert res['seg_fields'] == ['gt_normal_map', 'gt_depth_map',
                                     'gt_seg_map']


def test_seg_loader_label_map_and_reduce_zero(tmp_path):
    seg = np.array([[0, 1, 2], [3, 255, 1]], np.uint8)
    cv2.imwrite(str(tmp_path / 's.png'), seg)
    res = LoadSegMap(num_classes=4)(dict(
        seg_map_path=str(tmp_path / 's.png'), label_map={0: 255, 1: 0,
                                                         2: 1, 3: 255},
        seg_fields=[]))
    np.testing.assert_array_equal(res['gt_seg_map'],
                                  [[255, 0, 1], [255, 255, 0]])
    res = LoadSegMap(num_classes=3)(dict(
        seg_map_path=str(tmp_path / 's.png'), reduce_zero_label=True,
        seg_fields=[]))
    np.testing.assert_array_equal(res['gt_seg_map'],
                                  [[255, 0, 1], [2, 255, 0]])
    with pytest.raises(ValueError, match=r'class ids \[3\]'):
        LoadSegMap(num_classes=3)(dict(seg_map_path=str(tmp_path / 's.png'),
                                       seg_fields=[]))


def test_loader_errors_name_the_file(tmp_path):
    bad = np.zeros((4, 4, 3), np.float32)
    bad[1, 1] = [0.001, 0.0, 0.0]  # valid but (near) zero length
    np.save(tmp_path / 'short.npy', bad)
    with pytest.raises(ValueError, match='short.npy.*zero-length'):
        LoadNormalMap()(dict(normal_path=str(tmp_path / 'short.npy'),
                             seg_fields=[]))
    np.save(tmp_path / 'neg.npy', -np.ones((4, 4), np.float32))
    with pytest.raises(ValueError, match='neg.npy.*negative'):
        LoadDepthMap()(dict(depth_map_path=str(tmp_path / 'neg.npy'),
                            seg_fields=[]))
    cv2.imwrite(str(tmp_path / 'd8.png'), np.ones((4, 4), np.uint8))
    with pytest.raises(ValueError, match='d8.png.*16-bit'):
        LoadDepthMap()(dict(depth_map_path=str(tmp_path / 'd8.png'),
                            seg_fields=[]))
    np.save(tmp_path / 'img.npy', np.full((4, 4, 3), 2.0, np.float32))
    with pytest.raises(ValueError, match=r'img.npy.*\[0, 1\]'):
        LoadMultiTaskImage()(dict(img_path=str(tmp_path / 'img.npy')))
    with pytest.raises(FileNotFoundError, match='nope.png'):
        LoadMultiTaskImage()(dict(img_path=str(tmp_path / 'nope.png')))
