"""The official NYU Depth v2 converter on small files with the release's
HDF5 structure, the normals-from-depth estimators, and the converted data
through NYUv2MultiTaskDataset and a one-iteration search; the LibMTL layout
option through NYUv2LibMTLDataset."""
import hashlib
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.runner import Runner

import mtlnas_mm.datasets  # noqa: F401  (registers dataset + transforms)
from mmseg.registry import DATASETS
from mtlnas_mm.datasets import NYU40_CLASSES, NYU40_TO_NYU13
from mtlnas_mm.datasets.converters.normals_from_depth import (
    NYU_RGB_INTRINSICS, Intrinsics, angle_errors, backproject,
    normals_from_depth)
from mtlnas_mm.datasets.converters.nyuv2_official import (
    LabeledMat, load_mapping, mapping_lut, nearest_indices, read_splits,
    resize_for_libmtl, write_labeled_mat, write_splits_mat)
from mtlnas_mm.datasets.libmtl_layout import read_libmtl_sample
from mtlnas_mm.utils import OutputExistsError
from runner_utils import ROOT, TINY_SEARCH, load_tool, tiny_cfg

h5py = pytest.importorskip('h5py')
converter = load_tool('tools/dataset_converters/nyuv2.py')

H, W = 48, 64
BORDER = (3, 44, 4, 60)  # rows [3, 44), columns [4, 60)
#: 894-class ids of the hand-made label blocks (8 columns each) and the
#: 0-based 40 / 13 ids they become: unlabeled, wall, floor, cabinet, bed,
#: bookshelf, television, torah (otherprop / objects)
LABEL_CASES = {0: (255, 255), 21: (0, 11), 11: (1, 4), 3: (2, 5),
               157: (3, 0), 88: (9, 5), 172: (24, 10), 894: (39, 6)}
SCENE_TYPES = ['kitchen', 'bedroom', 'kitchen', 'office']
TRAIN, TEST = [1, 3, 4], [2]
#: output size of the LibMTL-layout tests (the border region is 41x56)
LIBMTL_SIZE = (24, 32)


def _plane_depth(normal, offset, intrinsics, h, w):
    """Depth (along the optical axis) of the plane ``n . P = -offset``."""
    x, y, z = backproject(np.ones((h, w), np.float32), intrinsics)
    rays = np.stack([x, y, z], -1).astype(np.float64)
    return (-offset / (rays @ np.asarray(normal))).astype(np.float32)


def _make_release(path):
    """4 images at 48x64: a known pixel, label blocks, planar depth with a
    hole in the raw depth, the packaged 894 class names."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, H, W, 3), dtype=np.uint8)
    images[0, 5, 7] = (11, 22, 33)  # MATLAB images(6, 8, :, 1)
    n = np.array([0.2, 0.4, 0.9]) / np.linalg.norm([0.2, 0.4, 0.9])
    depth = _plane_depth(n, 2.0, NYU_RGB_INTRINSICS, H, W)
    depths = np.repeat(depth[None], 4, 0)
    raw = depths.copy()
    raw[:, 20:26, 30:40] = 0  # missing Kinect depth
    labels = np.zeros((4, H, W), np.int64)
    for k, src in enumerate(LABEL_CASES):
        labels[:, :, 8 * k:8 * k + 8] = src
    names = load_mapping(40)['source_class_names']
    write_labeled_mat(path, images, depths, raw, labels, names,
                      [f'{t}_{i:04d}' for i, t in enumerate(SCENE_TYPES)],
                      SCENE_TYPES)
    return dict(images=images, depths=depths, raw=raw, labels=labels,
                normal=n)


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp('nyu_release')
    mat = str(root / 'nyu_depth_v2_labeled.mat')
    arrays = _make_release(mat)
    splits = str(root / 'splits.mat')
    write_splits_mat(splits, TRAIN, TEST)
    return dict(mat=mat, splits=splits, root=root, **arrays)


@pytest.fixture(scope='module')
def converted(release, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('nyu_out') / 'nyu_v2')
    manifest = converter.main([
        release['mat'], '--splits', release['splits'], '--out', out,
        '--border', *map(str, BORDER), '--no-progress'
    ])
    return out, manifest


@pytest.fixture(scope='module')
def converted_libmtl(release, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('nyu_out') / 'nyuv2_libmtl')
    manifest = converter.main([
        release['mat'], '--splits', release['splits'], '--out', out,
        '--border', *map(str, BORDER), '--layout', 'libmtl', '--size',
        *map(str, LIBMTL_SIZE), '--no-progress', '--no-checksum'
    ])
    return out, manifest


def _read(path, flag=cv2.IMREAD_UNCHANGED):
    arr = cv2.imread(path, flag)
    assert arr is not None, path
    return arr


# ------------------------------------------------------------ the .mat file
def test_mat_structure_and_axis_order(release):
    with h5py.File(release['mat'], 'r') as f:
        assert f['images'].shape == (4, 3, W, H)  # MATLAB HxWx3xN reversed
        assert f['labels'].shape == (4, W, H)
        # MATLAB images(6, 8, 2, 1) is HDF5 [0, 1, 7, 5]
        assert f['images'][0, 1, 7, 5] == 22
    with open(release['mat'], 'rb') as f:
        assert f.read(10) == b'MATLAB 7.3'
    with LabeledMat(release['mat']) as mat:
        assert (mat.num_images, mat.height, mat.width) == (4, H, W)
        assert mat.image(0).shape == (H, W, 3)
        assert tuple(mat.image(0)[5, 7]) == (11, 22, 33)
        np.testing.assert_array_equal(mat.labels(2), release['labels'][2])
        np.testing.assert_array_equal(mat.raw_depth(1), release['raw'][1])
        assert mat.strings('sceneTypes') == SCENE_TYPES
        assert len(mat.strings('names')) == 894


def test_splits_are_one_based(release, tmp_path):
    assert read_splits(release['splits'], 4) == dict(train=TRAIN, test=TEST)
    v73 = str(tmp_path / 'splits73.mat')
    write_splits_mat(v73, TRAIN, TEST, v73=True)
    assert h5py.is_hdf5(v73)
    assert read_splits(v73, 4) == dict(train=TRAIN, test=TEST)
    official = read_splits(None, 1449)
    assert len(official['train']) == 795 and len(official['test']) == 654
    assert sorted(official['train'] + official['test']) == list(
        range(1, 1450))
    zero = str(tmp_path / 'zero.mat')
    write_splits_mat(zero, [0, 1], [2])
    with pytest.raises(ValueError, match=r'zero\.mat.*1-based'):
        read_splits(zero, 4)
    both = str(tmp_path / 'both.mat')
    write_splits_mat(both, [1, 2], [2])
    with pytest.raises(ValueError, match='both splits'):
        read_splits(both, 4)


def test_packaged_mappings():
    m40, m13 = load_mapping(40), load_mapping(13)
    assert len(m40['mapping']) == len(m13['mapping']) == 894
    assert tuple(m40['class_names']) == NYU40_CLASSES
    assert [v - 1 for v in m13['mapping_40_to_13']] == list(NYU40_TO_NYU13)
    # 13 = 40 -> 13 composed; every 40-class is the target of some id
    assert m13['mapping'] == [m13['mapping_40_to_13'][c - 1]
                              for c in m40['mapping']]
    assert sorted(set(m40['mapping'])) == list(range(1, 41))
    assert m40['source']['repository'] == 'ankurhanda/nyuv2-meta-data'
    names = m40['source_class_names']
    assert (names[0], names[10], names[20], names[893]) == (
        'book', 'floor', 'wall', 'torah')


# ---------------------------------------------------------------- outputs
def test_outputs(release, converted):
    out, manifest = converted
    assert sorted(os.listdir(osp.join(out, 'image', 'train'))) == [
        '0001.png', '0003.png', '0004.png']
    img = _read(osp.join(out, 'image', 'train', '0001.png'))
    np.testing.assert_array_equal(img[..., ::-1], release['images'][0])
    seg40 = _read(osp.join(out, 'seg40', 'test', '0002.png'))
    seg13 = _read(osp.join(out, 'seg13', 'test', '0002.png'))
    assert seg40.shape == (H, W) and seg40.dtype == np.uint8
    for k, (c40, c13) in enumerate(LABEL_CASES.values()):
        assert (seg40[:, 8 * k:8 * k + 8] == c40).all(), k
        assert (seg13[:, 8 * k:8 * k + 8] == c13).all(), k

    inside = np.zeros((H, W), bool)
    inside[3:44, 4:60] = True
    measured = inside.copy()
    measured[20:26, 30:40] = False
    mask = _read(osp.join(out, 'mask', 'train', '0003.png'))
    np.testing.assert_array_equal(mask == 255, measured)
    depth = _read(osp.join(out, 'depth', 'train', '0003.png'))
    raw = _read(osp.join(out, 'depth_raw', 'train', '0003.png'))
    assert depth.dtype == np.uint16
    np.testing.assert_array_equal(depth > 0, inside)  # filled in the hole
    np.testing.assert_array_equal(raw > 0, measured)
    np.testing.assert_allclose(depth[inside] / 1000.0,
                               release['depths'][2][inside], atol=5e-4)
    rgb = _read(osp.join(out, 'normal', 'train', '0003.png'))[..., ::-1]
    valid = ~np.all(rgb == 255, axis=-1)
    assert not valid[~measured].any()
    assert valid[measured].mean() > 0.8  # edges of the region may lack one
    decoded = rgb[valid].astype(np.float64) / 255 * 2 - 1
    decoded /= np.linalg.norm(decoded, axis=-1, keepdims=True)
    assert angle_errors(decoded, release['normal']).max() < 1.0

    with open(osp.join(out, 'list', 'training_seg.txt')) as f:
        assert f.read().splitlines() == [
            f'/image/train/{i:04d}.png /seg40/train/{i:04d}.png'
            for i in TRAIN]
    with open(osp.join(out, 'list', 'testing_normal_mask.txt')) as f:
        assert f.read().splitlines() == [
            '/image/test/0002.png /normal/test/0002.png']
    with open(osp.join(out, 'list', 'training_scene.txt')) as f:
        # scene types sorted: bedroom 0, kitchen 1, office 2
        assert [ln.split()[1] for ln in f.read().splitlines()] == [
            '1', '1', '2']
    mean = np.load(osp.join(out, 'nyu_v2_mean.npy'))
    np.testing.assert_allclose(
        mean, release['images'][[0, 2, 3]].reshape(-1, 3).mean(0))


def test_manifest(release, converted):
    out, manifest = converted
    with open(osp.join(out, 'manifest.json')) as f:
        assert json.load(f) == json.loads(json.dumps(manifest))
    with open(release['mat'], 'rb') as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    src = manifest['sources']
    assert src['labeled_mat']['sha256'] == digest
    assert src['splits']['path'] == osp.abspath(release['splits'])
    assert manifest['labels']['40']['source']['path'] == 'classMapping40.mat'
    assert manifest['labels']['13']['class_names'][0] == 'bed'
    assert manifest['normal']['intrinsics']['fx'] == pytest.approx(518.8579,
                                                                   abs=1e-3)
    assert manifest['normal']['depth'] == 'raw'
    assert manifest['border']['top_bottom_left_right'] == list(BORDER)
    assert manifest['counts']['train']['images'] == 3
    assert manifest['counts']['test']['images'] == 1
    seg = manifest['counts']['test']['seg40_pixels']
    assert seg[0] == 8 * H and seg[39] == 8 * H and seg[4] == 0
    assert manifest['image_label']['classes'] == ['bedroom', 'kitchen',
                                                  'office']
    assert [im['index'] for im in manifest['images']] == TRAIN + TEST
    assert manifest['images'][0]['scene'] == 'kitchen_0000'


def test_refuses_user_directory(release, tmp_path):
    user = tmp_path / 'mine'
    user.mkdir()
    (user / 'notes.txt').write_text('keep')
    with pytest.raises(OutputExistsError, match='mine'):
        converter.main([release['mat'], '--out', str(user), '--splits',
                        release['splits'], '--border', *map(str, BORDER),
                        '--no-progress'])
    assert os.listdir(user) == ['notes.txt']
    assert (user / 'notes.txt').read_text() == 'keep'


def test_input_errors(release, tmp_path):
    out = str(tmp_path / 'out')
    with pytest.raises(FileNotFoundError, match='missing.mat'):
        converter.main([str(tmp_path / 'missing.mat'), '--out', out])
    not_h5 = tmp_path / 'v5.mat'
    write_splits_mat(str(not_h5), [1], [2])
    with pytest.raises(ValueError, match=r'v5\.mat.*HDF5'):
        converter.main([str(not_h5), '--out', out])
    with pytest.raises(ValueError, match='border'):  # 48x64 needs --border
        converter.main([release['mat'], '--out', out, '--splits',
                        release['splits']])
    names = ['x'] * 894
    bad = str(tmp_path / 'renamed.mat')
    write_labeled_mat(bad, release['images'], release['depths'],
                      release['raw'], release['labels'], names, ['s'] * 4,
                      SCENE_TYPES)
    with pytest.raises(ValueError, match=r'renamed\.mat.*class 1.*book'):
        converter.main([bad, '--out', out, '--splits', release['splits'],
                        '--border', *map(str, BORDER)])
    assert not osp.exists(out)  # refused before anything was written


# ------------------------------------------------------------ LibMTL layout
def test_libmtl_layout_outputs(release, converted_libmtl, tmp_path):
    out, manifest = converted_libmtl
    assert sorted(os.listdir(out)) == ['.mtlnas_mm_output', 'manifest.json',
                                       'train', 'val']
    for folder, num in (('train', 3), ('val', 1)):
        for kind in ('image', 'label', 'depth', 'normal'):
            assert sorted(os.listdir(osp.join(out, folder, kind))) == [
                f'{i}.npy' for i in range(num)]
    top, bottom, left, right = BORDER
    rows = top + nearest_indices(bottom - top, LIBMTL_SIZE[0])
    cols = left + nearest_indices(right - left, LIBMTL_SIZE[1])
    pick = np.ix_(rows, cols)
    seg13 = mapping_lut(load_mapping(13))[release['labels'][0]][pick]
    seg13 = np.where(seg13 == 255, -1, seg13.astype(np.int64))
    hole = np.zeros((H, W), bool)
    hole[20:26, 30:40] = True
    # sample k of a split is the k-th image of the split
    for folder, k, ndx in (('train', 0, 1), ('train', 2, 4), ('val', 0, 2)):
        s = read_libmtl_sample(out, folder, k)
        image, label, depth, normal = (s[key] for key in (
            'image', 'label', 'depth', 'normal'))
        assert image.shape == LIBMTL_SIZE + (3, )
        assert label.shape == LIBMTL_SIZE
        assert depth.shape == LIBMTL_SIZE + (1, )
        assert normal.shape == LIBMTL_SIZE + (3, )
        assert all(a.dtype == np.float32 for a in s.values())
        assert 0 <= image.min() and image.max() <= 1
        crop = release['images'][ndx - 1][top:bottom, left:right]
        np.testing.assert_allclose(
            image, cv2.resize(crop.astype(np.float32) / 255,
                              LIBMTL_SIZE[::-1], interpolation=cv2.INTER_AREA),
            atol=1e-6)
        # 13-class ids, -1 where the release has label 0 (unlabeled)
        np.testing.assert_array_equal(label, seg13)
        assert set(np.unique(label)) <= set(range(-1, 13))
        assert (label == -1).any() and (label >= 0).any()
        # the filled depth, dense inside the border, in metres
        assert depth.min() > 0
        np.testing.assert_array_equal(depth[..., 0],
                                      release['depths'][ndx - 1][pick])
        length = np.linalg.norm(normal, axis=-1)
        valid = length > 0
        np.testing.assert_allclose(length[valid], 1, atol=1e-5)
        assert not valid[hole[pick]].any()  # raw depth missing: no normal
        assert valid.mean() > 0.7
        assert angle_errors(normal[valid], release['normal']).max() < 1.0

    assert manifest['layout'] == 'libmtl'
    assert manifest['image_size'] == list(LIBMTL_SIZE)
    assert manifest['source_size'] == [H, W]
    assert list(manifest['labels']) == ['13']
    assert manifest['splits']['test'] == 'val'
    assert [(im['folder'], im['sample'], im['index'])
            for im in manifest['images']] == [
                ('train', 0, 1), ('train', 1, 3), ('train', 2, 4),
                ('val', 0, 2)]
    assert manifest['counts']['train']['pixels'] == 3 * 24 * 32
    assert manifest['counts']['test']['depth_valid'] == 24 * 32
    with open(osp.join(out, 'manifest.json')) as f:
        assert json.load(f) == json.loads(json.dumps(manifest))

    # a smaller conversion into the same folder leaves no stale samples
    again = str(tmp_path / 'again')
    for limit in ('3', '1'):
        converter.main([
            release['mat'], '--splits', release['splits'], '--out', again,
            '--border', *map(str, BORDER), '--layout', 'libmtl', '--size',
            '6', '8', '--limit', limit, '--no-progress', '--no-checksum'
        ])
    assert os.listdir(osp.join(again, 'train', 'normal')) == ['0.npy']
    assert read_libmtl_sample(again, 'train', 0)['image'].shape == (6, 8, 3)
    # and a folder of the user's is refused
    user = tmp_path / 'mine'
    user.mkdir()
    (user / 'notes.txt').write_text('keep')
    with pytest.raises(OutputExistsError, match='mine'):
        converter.main([release['mat'], '--out', str(user), '--splits',
                        release['splits'], '--border', *map(str, BORDER),
                        '--layout', 'libmtl', '--no-progress'])
    assert os.listdir(user) == ['notes.txt']


def test_resize_for_libmtl_keeps_invalid_pixels():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    seg = rng.integers(0, 13, (10, 12)).astype(np.uint8)
    seg[:, :3] = 255
    depth = rng.uniform(1, 5, (10, 12)).astype(np.float32)
    depth[:4] = 0
    normal = rng.normal(size=(10, 12, 3)).astype(np.float32)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    normal[:4] = 0
    image, seg_o, depth_o, normal_o = resize_for_libmtl(
        rgb, seg, depth, normal, size=(5, 6))
    assert image.shape == (5, 6, 3) and image.dtype == np.float32
    # area averaging of 2x2 blocks, nearest for the rest (the lower-right
    # pixel of each block: centres (2j + 1) round down to index 2j + 1)
    np.testing.assert_allclose(
        image, rgb.reshape(5, 2, 6, 2, 3).mean((1, 3)) / 255, atol=1e-6)
    np.testing.assert_array_equal(seg_o, seg[1::2, 1::2])
    np.testing.assert_array_equal(depth_o, depth[1::2, 1::2])
    np.testing.assert_allclose(normal_o, normal[1::2, 1::2], atol=1e-6)
    assert (seg_o[:, :1] == 255).all() and (depth_o[:2] == 0).all()
    assert (normal_o[:2] == 0).all()
    # enlarging and cropping: still only source values
    image, seg_o, depth_o, _ = resize_for_libmtl(
        rgb, seg, depth, normal, size=(16, 16), crop=(2, 10, 0, 12))
    assert image.shape == (16, 16, 3)
    assert 0 <= image.min() and image.max() <= 1
    assert set(np.unique(depth_o)) <= set(np.unique(depth[2:10]))
    with pytest.raises(ValueError, match='size'):
        resize_for_libmtl(rgb, seg, depth, normal, size=(0, 4))


@pytest.mark.usefixtures('mmseg_scope')
def test_libmtl_layout_loads_in_dataset(converted_libmtl):
    out, _ = converted_libmtl
    pipeline = [dict(type='LoadMultiTaskImage'), dict(type='LoadSegMap'),
                dict(type='LoadDepthMap'), dict(type='LoadNormalMap'),
                dict(type='PackMultiTaskInputs')]
    for split, count in (('train', 3), ('test', 1)):
        ds = DATASETS.build(dict(type='NYUv2LibMTLDataset', data_root=out,
                                 split=split, pipeline=pipeline))
        assert len(ds) == count
        item = ds[0]
        sample = item['data_samples']
        assert item['inputs'].shape == (3, ) + LIBMTL_SIZE
        seg = sample.gt_sem_seg.data
        assert seg.shape == (1, ) + LIBMTL_SIZE
        assert set(np.unique(seg.numpy())) <= set(range(13)) | {255}
        assert (seg == 255).any()
        assert sample.gt_depth_map.data.shape == (1, ) + LIBMTL_SIZE
        assert sample.gt_depth_map.data.min() > 0
        normal = sample.gt_normal_map.data.numpy()
        assert normal.shape == (3, ) + LIBMTL_SIZE
        valid = np.any(normal != 0, axis=0)
        np.testing.assert_allclose(np.linalg.norm(normal[:, valid], axis=0),
                                   1, atol=1e-5)


# ----------------------------------------------------------------- normals
@pytest.mark.parametrize('method', ['plane_fit', 'cross'])
@pytest.mark.parametrize('intrinsics', [
    NYU_RGB_INTRINSICS,
    Intrinsics(100.0, 110.0, 30.0, 25.0, pixel_offset=0.5)
])
def test_plane_gives_exact_normal(method, intrinsics):
    n = np.array([-0.3, 0.5, 0.7])
    n /= np.linalg.norm(n)
    depth = _plane_depth(n, 1.5, intrinsics, 60, 80)
    assert (depth > 0).all()
    pred = normals_from_depth(depth, intrinsics, method)
    valid = np.any(pred != 0, axis=-1)
    # the wide-angle camera sees the plane at grazing angles where depth
    # changes by more than max_rel_jump over the default step / window
    assert valid.mean() > (0.99 if intrinsics is NYU_RGB_INTRINSICS else 0.6)
    assert angle_errors(pred[valid], n).max() < 0.05
    # oriented towards the camera, never the opposite vector
    assert angle_errors(pred[valid], -n).min() > 179
    # a small step / window keeps every pixel
    small = dict(step=1, smooth=1) if method == 'cross' else dict(
        window=3, stride=1, min_points=3)
    pred = normals_from_depth(depth, intrinsics, method, **small)
    assert np.any(pred != 0, axis=-1).all()
    assert angle_errors(pred, n).max() < 0.05


def test_normals_respect_discontinuities_and_holes():
    intr = Intrinsics(60.0, 60.0, 32.0, 24.0, pixel_offset=0.5)
    depth = np.full((48, 64), 2.0, np.float32)  # fronto-parallel wall
    depth[:, 32:] = 1.0  # a nearer wall: the edge must not tilt normals
    depth[10:14, 5:9] = 0  # a hole
    for method in ('plane_fit', 'cross'):
        pred = normals_from_depth(depth, intr, method, max_rel_jump=0.05)
        valid = np.any(pred != 0, axis=-1)
        assert not valid[10:14, 5:9].any()
        assert angle_errors(pred[valid], np.array([0, 0, 1.0])).max() < 1e-3
    with pytest.raises(TypeError, match='unknown parameters'):
        normals_from_depth(depth, intr, 'cross', window=3)
    with pytest.raises(ValueError, match='window 9 with stride 5'):
        normals_from_depth(depth, intr, 'plane_fit', window=9)


# ---------------------------------------------------------- end to end
@pytest.mark.usefixtures('mmseg_scope')
def test_dataset_config_loads_converted(converted):
    out, _ = converted
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/'
                                   'nyuv2_seg_normal.py'))
    for key, count in (('train_dataloader', 3), ('test_dataloader', 1)):
        ds_cfg = cfg[key].dataset
        ds_cfg.data_root = out
        if key == 'train_dataloader':
            ds_cfg.pipeline = cfg.test_pipeline
        ds = DATASETS.build(ds_cfg)
        assert len(ds) == count
        sample = ds[0]['data_samples']
        assert sample.gt_sem_seg.data.shape == (1, H, W)
        assert sample.gt_normal_map.data.shape == (3, H, W)
    ds13 = DATASETS.build(dict(
        type='NYUv2MultiTaskDataset', data_root=out, split='test',
        seg_list='list/testing_seg13.txt', num_classes=13,
        pipeline=cfg.test_pipeline))
    seg = ds13[0]['data_samples'].gt_sem_seg.data
    assert int(seg[seg != 255].max()) <= 12


@pytest.mark.slow
def test_tiny_search_runs_on_converted(converted, tmp_path):
    out, _ = converted
    cfg = tiny_cfg(TINY_SEARCH, str(tmp_path / 'work'), out, iters=1)
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1


def test_normals_benchmark_tool(tmp_path):
    bench = load_tool('tools/analysis_tools/normals_from_depth_benchmark.py')
    report = str(tmp_path / 'normals.json')
    result = bench.main(['--quick', '--out', report])
    with open(report) as f:
        assert json.load(f) == json.loads(json.dumps(result))
    assert [r['method'] for r in result['results']] == ['plane_fit', 'cross']
    for row in result['results']:
        assert 0 <= row['mean'] < 90 and 0 < row['coverage'] <= 100
        assert row['exact_depth']['median'] < row['median']  # noise hurts
    assert result['best']['method'] in ('plane_fit', 'cross')
    with pytest.raises(OutputExistsError, match='normals.json'):
        bench.main(['--quick', '--out', report])
