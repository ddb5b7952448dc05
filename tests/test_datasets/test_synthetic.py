"""Procedural scene generator: determinism, geometry, mirror, file layouts."""
import filecmp
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mtlnas_mm.datasets.synthetic import (DOMINANT_OBJECT_CLASSES,
                                          SYNTHETIC_CLASSES,
                                          dominant_object_label,
                                          generate_dataset, render_sample,
                                          seg40_to_seg13)
from mtlnas_mm.datasets.synthetic import scene as S
from mtlnas_mm.datasets.transforms import (NormalAwareRandomFlip,
                                           decode_normal_png)

H, W = 60, 80


def _rays(cam):
    dx = (np.arange(cam.width) + 0.5 - cam.cx) / cam.fx
    dy = -(np.arange(cam.height) + 0.5 - cam.cy) / cam.fy
    return np.broadcast_to(dx[None], (cam.height, cam.width)), \
        np.broadcast_to(dy[:, None], (cam.height, cam.width))


def test_deterministic_per_image():
    a = render_sample(3, 'train', 5, H, W)
    b = render_sample(3, 'train', 5, H, W)
    for key in ('image', 'seg40', 'normal', 'depth'):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    c = render_sample(3, 'train', 6, H, W)
    d = render_sample(3, 'test', 5, H, W)
    assert not np.array_equal(a.image, c.image)
    assert not np.array_equal(a.image, d.image)


@pytest.mark.parametrize('index', range(4))
def test_value_ranges(index):
    s = render_sample(11, 'train', index, H, W)
    assert s.image.shape == (H, W, 3) and s.image.dtype == np.uint8
    assert s.seg40.dtype == np.uint8
    assert set(np.unique(s.seg40)) <= set(SYNTHETIC_CLASSES) | {255}
    assert s.normal.dtype == np.float32 and s.depth.dtype == np.float32
    valid = np.any(s.normal != 0, axis=-1)
    # normals and depth share the invalid mask
    np.testing.assert_array_equal(valid, s.depth > 0)
    np.testing.assert_allclose(np.linalg.norm(s.normal[valid], axis=-1), 1,
                               atol=1e-5)
    assert valid.mean() > 0.5
    assert s.depth.max() < s.scene.sensor.max_range + 1e-6
    # normals face the camera: n . ray < 0
    dx, dy = _rays(s.scene.camera)
    facing = s.normal[..., 0] * dx + s.normal[..., 1] * dy - s.normal[..., 2]
    assert (facing[valid] < 1e-6).all()
    # windows carry no depth (glass), like the Kinect
    assert (s.depth[s.seg40 == S.WINDOW] == 0).all()


def test_floor_normal_is_world_up_in_camera_frame():
    for index in range(6):
        s = render_sample(2, 'train', index, H, W)
        floor = (s.seg40 == S.FLOOR) & (s.depth > 0)
        if floor.sum() < 20:
            continue
        up_cam = s.scene.camera.rotation.T @ np.array([0., 1., 0.])
        np.testing.assert_allclose(s.normal[floor],
                                   np.broadcast_to(up_cam,
                                                   (floor.sum(), 3)),
                                   atol=1e-5)
        return
    pytest.fail('no image with visible floor')


def test_planar_normals_match_depth_finite_differences():
    """On planar faces, the cross product of back-projected neighbours
    (from depth alone) is the rendered normal."""
    checked = 0
    for index in range(3):
        s = render_sample(4, 'test', index, 120, 160)
        dx, dy = _rays(s.scene.camera)
        pts = np.stack([dx * s.depth, dy * s.depth, -s.depth], axis=-1)
        n = s.normal
        same = (np.abs(n[:-1, :-1] - n[:-1, 1:]).max(-1) < 1e-6) & \
            (np.abs(n[:-1, :-1] - n[1:, :-1]).max(-1) < 1e-6)
        planar = np.isin(s.seg40[:-1, :-1],
                         [S.WALL, S.FLOOR, S.CEILING, S.CABINET, S.BED])
        ok = same & planar & (s.depth[:-1, :-1] > 0) & \
            (s.depth[:-1, 1:] > 0) & (s.depth[1:, :-1] > 0)
        right = (pts[:-1, 1:] - pts[:-1, :-1])[ok]
        down = (pts[1:, :-1] - pts[:-1, :-1])[ok]
        fd = np.cross(down, right)
        fd /= np.linalg.norm(fd, axis=-1, keepdims=True)
        cos = (fd * n[:-1, :-1][ok]).sum(-1)
        assert (cos > np.cos(np.deg2rad(0.5))).all()
        checked += ok.sum()
    assert checked > 1000


@pytest.mark.parametrize('index', range(3))
def test_flipped_sample_equals_mirrored_scene(index):
    s = render_sample(9, 'train', index, H, W)
    m = render_sample(9, 'train', index, H, W, mirror=True)
    results = dict(img=s.image[..., ::-1].copy(), gt_seg_map=s.seg40.copy(),
                   gt_normal_map=s.normal.copy(), gt_depth_map=s.depth.copy(),
                   seg_fields=['gt_seg_map', 'gt_normal_map', 'gt_depth_map'])
    out = NormalAwareRandomFlip(prob=1.0, direction='horizontal')(results)
    np.testing.assert_array_equal(out['img'], m.image[..., ::-1])
    np.testing.assert_array_equal(out['gt_seg_map'], m.seg40)
    np.testing.assert_array_equal(out['gt_depth_map'], m.depth)
    np.testing.assert_allclose(out['gt_normal_map'], m.normal, atol=1e-6)
    # the mirror really changed the normals (x negated), not just moved them
    valid = np.any(m.normal != 0, axis=-1)
    assert np.abs(m.normal[..., 0][valid]).max() > 0.1
    np.testing.assert_allclose(m.normal[..., 0],
                               -s.normal[:, ::-1, 0], atol=1e-6)


def test_nddr_layout_files(data_synth_root):
    root = data_synth_root
    for split, n in (('train', 3), ('test', 2)):
        prefix = 'training' if split == 'train' else 'testing'
        for task, folder in (('seg', 'seg40'), ('normal_mask', 'normal'),
                             ('depth', 'depth')):
            with open(osp.join(root, 'list', f'{prefix}_{task}.txt')) as f:
                lines = f.read().splitlines()
            assert lines == [
                f'/image/{split}/{i:06d}.png /{folder}/{split}/{i:06d}.png'
                for i in range(n)
            ]
    s = render_sample(7, 'train', 1, 48, 64)
    name = osp.join(root, '{}', 'train', '000001.png')
    rgb = cv2.imread(name.format('image'), cv2.IMREAD_UNCHANGED)[..., ::-1]
    np.testing.assert_array_equal(rgb, s.image)
    seg = cv2.imread(name.format('seg40'), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(seg, s.seg40)
    depth = cv2.imread(name.format('depth'), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16
    np.testing.assert_allclose(depth / 1000.0, s.depth, atol=5e-4)
    enc = cv2.imread(name.format('normal'), cv2.IMREAD_UNCHANGED)[..., ::-1]
    vec, valid = decode_normal_png(enc)
    np.testing.assert_array_equal(valid, s.depth > 0)
    vec = vec[valid] / np.linalg.norm(vec[valid], axis=-1, keepdims=True)
    cos = (vec * s.normal[valid]).sum(-1)
    assert np.rad2deg(np.arccos(np.clip(cos, -1, 1))).max() < 0.5
    for split, n in (('train', 3), ('test', 2)):
        prefix = 'training' if split == 'train' else 'testing'
        with open(osp.join(root, 'list', f'{prefix}_scene.txt')) as f:
            lines = f.read().splitlines()
        labels = [
            dominant_object_label(render_sample(7, split, i, 48, 64).seg40)
            for i in range(n)
        ]
        assert lines == [
            f'/image/{split}/{i:06d}.png {label}'
            for i, label in enumerate(labels)
        ]
    mean = np.load(osp.join(root, 'nyu_v2_mean.npy'))
    imgs = [
        cv2.imread(osp.join(root, 'image', 'train', f'{i:06d}.png'))[..., ::-1]
        for i in range(3)
    ]
    np.testing.assert_allclose(mean, np.mean(imgs, axis=(0, 1, 2)), rtol=1e-9)


def test_npy_layout_files(data_synth_root):
    s = render_sample(7, 'test', 1, 48, 64)
    folder = osp.join(data_synth_root, 'val')
    img = np.load(osp.join(folder, 'image', '1.npy'))
    assert img.dtype == np.float32 and img.shape == (48, 64, 3)
    np.testing.assert_allclose(img * 255, s.image, atol=1e-3)
    label = np.load(osp.join(folder, 'label', '1.npy'))
    np.testing.assert_array_equal(label, seg40_to_seg13(s.seg40))
    assert set(np.unique(label)) <= set(range(-1, 13))
    assert (label[s.seg40 == 255] == -1).all()
    assert (label[s.seg40 == S.WALL] == 11).all()  # 13-class 'wall'
    depth = np.load(osp.join(folder, 'depth', '1.npy'))
    assert depth.shape == (48, 64, 1)
    np.testing.assert_array_equal(depth[..., 0], s.depth)
    np.testing.assert_array_equal(np.load(osp.join(folder, 'normal', '1.npy')),
                                  s.normal)


def test_workers_give_identical_files(tmp_path):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    generate_dataset(a, 3, 1, 32, 40, seed=1, layout='nddr', workers=1)
    generate_dataset(b, 3, 1, 32, 40, seed=1, layout='nddr', workers=2)
    for dirpath, _, files in os.walk(a):
        for f in files:
            other = osp.join(b, osp.relpath(osp.join(dirpath, f), a))
            assert filecmp.cmp(osp.join(dirpath, f), other, shallow=False), f


def test_dominant_object_label_by_hand():
    seg = np.full((10, 10), S.WALL, np.uint8)
    assert DOMINANT_OBJECT_CLASSES[dominant_object_label(seg)] == 'none'
    seg[0, :5] = S.CHAIR  # 5 of 100 labelled pixels are objects
    seg[1, :3] = S.BED
    seg[9, :] = 255  # unlabeled pixels do not count
    assert DOMINANT_OBJECT_CLASSES[dominant_object_label(seg)] == 'chair'
    seg[2, :4] = S.BED  # bed 7 > chair 5
    assert DOMINANT_OBJECT_CLASSES[dominant_object_label(seg)] == 'bed'
    seg[:] = S.WALL
    seg[0, 0] = S.LAMP  # 1 % of the pixels: below MIN_OBJECT_FRACTION
    assert dominant_object_label(seg) == 0
    assert dominant_object_label(np.full((4, 4), 255, np.uint8)) == 0


def test_dominant_object_labels_vary():
    """The image-level task is not degenerate on generated scenes."""
    labels = [dominant_object_label(render_sample(0, 'train', i, 48, 64)
                                    .seg40) for i in range(24)]
    assert len(set(labels)) >= 4
