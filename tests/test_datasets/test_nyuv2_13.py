"""The mtan / LibMTL NYUv2-13 layout: writer, dataset, augmentation, and
the three-task MTL-NAS search config of that protocol on generated data."""
import os
import os.path as osp
import time

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from mmseg.registry import DATASETS, TRANSFORMS

import mtlnas_mm  # noqa: F401  (registers datasets, transforms, models)
from mtlnas_mm.datasets import (NYU13_CLASSES, read_libmtl_sample,
                                write_libmtl_sample)
from mtlnas_mm.datasets.libmtl_layout import (libmtl_indices,
                                              libmtl_sample_paths)
from mtlnas_mm.structures import Architecture
from runner_utils import ROOT, tiny_cfg

pytestmark = pytest.mark.usefixtures('mmseg_scope')

PIPELINE = [
    dict(type='LoadMultiTaskImage'),
    dict(type='LoadSegMap'),
    dict(type='LoadDepthMap'),
    dict(type='LoadNormalMap'),
    dict(type='PackMultiTaskInputs'),
]
SEARCH = 'configs/libmtl_nyuv2/mtlnas_r50-d8_1xb8-200e_nyuv2-13_3task.py'


def random_sample(rng: np.random.Generator, h: int, w: int) -> dict:
    """One sample in the writer's input format: labels with -1 holes,
    depth with 0 holes, unit normals with the zero vector where depth is
    invalid."""
    seg = rng.integers(0, 13, (h, w))
    seg[rng.random((h, w)) < 0.1] = -1
    depth = rng.uniform(0.5, 10.0, (h, w)).astype(np.float32)
    invalid = rng.random((h, w)) < 0.1
    depth[invalid] = 0
    normal = rng.normal(size=(h, w, 3)).astype(np.float32)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    normal[invalid] = 0
    return dict(image=rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
                seg13=seg, depth=depth, normal=normal)


def make_libmtl_root(root: str, num_train: int, num_val: int, h: int = 24,
                     w: int = 32, seed: int = 0) -> dict:
    """Write a random data set in the LibMTL layout; returns the samples
    written, ``{(split, index): sample}``."""
    rng = np.random.default_rng(seed)
    written = {}
    for split, n in (('train', num_train), ('val', num_val)):
        for i in range(n):
            s = random_sample(rng, h, w)
            write_libmtl_sample(root, split, i, **s)
            written[(split, i)] = s
    return written


def build(root: str, **kwargs):
    cfg = dict(type='NYUv2LibMTLDataset', data_root=root, pipeline=PIPELINE)
    cfg.update(kwargs)
    return DATASETS.build(cfg)


@pytest.fixture(scope='module')
def libmtl_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('nyuv2_libmtl'))
    return root, make_libmtl_root(root, num_train=3, num_val=2)


# ------------------------------------------------------------------ layout
def test_writer_writes_the_layout_encoding(tmp_path):
    s = random_sample(np.random.default_rng(1), 6, 8)
    seg = s['seg13'].copy()
    seg[0, 0] = 255  # the project's ignore index is written as -1 too
    paths = write_libmtl_sample(str(tmp_path), 'test', 4, s['image'], seg,
                                s['depth'], s['normal'])
    assert paths == libmtl_sample_paths(str(tmp_path), 'val', 4)
    assert paths['label'] == osp.join(str(tmp_path), 'val', 'label', '4.npy')
    back = read_libmtl_sample(str(tmp_path), 'val', 4)
    assert {k: v.shape for k, v in back.items()} == dict(
        image=(6, 8, 3), label=(6, 8), depth=(6, 8, 1), normal=(6, 8, 3))
    assert all(v.dtype == np.float32 for v in back.values())
    np.testing.assert_array_equal(back['image'] * 255, s['image'])
    assert back['label'][0, 0] == -1
    np.testing.assert_array_equal(back['label'][1:], s['seg13'][1:])
    np.testing.assert_array_equal(back['depth'][..., 0], s['depth'])
    np.testing.assert_array_equal(back['normal'], s['normal'])
    assert 0 <= back['image'].min() and back['image'].max() <= 1


@pytest.mark.parametrize('field, value, match', [
    ('image', np.zeros((6, 8)), 'image must be HxWx3'),
    ('image', np.full((6, 8, 3), 2.0), r'image.*\[0, 1\]'),
    ('seg13', np.full((6, 8), 13), r'seg13 has ids \[13\]'),
    ('seg13', np.zeros((5, 8)), 'seg13 must be HxW'),
    ('seg13', np.full((6, 8), 0.5), 'integer class ids'),
    ('depth', np.full((6, 8), -1.0), 'depth has negative'),
    ('depth', np.full((6, 8), np.nan), 'depth has NaN'),
    ('normal', np.full((6, 8, 3), 0.2), 'not unit length'),
    ('normal', np.zeros((6, 8, 2)), 'normal must be HxWx3'),
])
def test_writer_rejects_bad_arrays(tmp_path, field, value, match):
    s = random_sample(np.random.default_rng(2), 6, 8)
    s[field] = value
    with pytest.raises(ValueError, match=match):
        write_libmtl_sample(str(tmp_path), 'train', 0, **s)
    with pytest.raises(ValueError, match='split'):
        write_libmtl_sample(str(tmp_path), 'training', 0,
                            **random_sample(np.random.default_rng(2), 6, 8))


# ----------------------------------------------------------------- dataset
def test_dataset_loads_the_layout(libmtl_root):
    root, written = libmtl_root
    ds = build(root, split='train')
    assert len(ds) == 3
    assert ds.metainfo['classes'] == list(NYU13_CLASSES)
    info = ds.get_data_info(2)
    assert info['img_path'] == osp.join(root, 'train', 'image', '2.npy')
    assert info['depth_map_path'].endswith(osp.join('train', 'depth',
                                                    '2.npy'))
    assert info['num_classes'] == 13

    item = ds[2]
    s = written[('train', 2)]
    sample = item['data_samples']
    # uint8 BGR like every image of the project
    assert item['inputs'].shape == (3, 24, 32)
    assert item['inputs'].dtype == torch.uint8
    np.testing.assert_array_equal(item['inputs'].numpy().transpose(1, 2, 0),
                                  s['image'][..., ::-1])
    seg = sample.gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(seg == 255, s['seg13'] == -1)
    np.testing.assert_array_equal(seg[seg != 255],
                                  s['seg13'][s['seg13'] != -1])
    assert set(np.unique(seg)) <= set(range(13)) | {255}
    depth = sample.gt_depth_map.data
    assert depth.shape == (1, 24, 32) and depth.min() >= 0
    np.testing.assert_array_equal(depth[0].numpy(), s['depth'])
    normal = sample.gt_normal_map.data.numpy()
    assert normal.shape == (3, 24, 32)
    valid = np.any(normal != 0, axis=0)
    np.testing.assert_array_equal(valid, s['depth'] > 0)
    np.testing.assert_allclose(np.linalg.norm(normal[:, valid], axis=0), 1,
                               atol=1e-5)
    np.testing.assert_allclose(normal.transpose(1, 2, 0), s['normal'],
                               atol=1e-6)

    # LibMTL's mode='test' reads the val folder
    test = build(root, split='test', test_mode=True)
    assert len(test) == 2
    assert test.get_data_info(1)['img_path'].endswith(
        osp.join('val', 'image', '1.npy'))
    assert libmtl_indices(root, 'val') == [0, 1]
    no_depth = build(root, split='val', with_depth=False,
                     pipeline=PIPELINE[:2] + PIPELINE[3:])
    assert 'depth_map_path' not in no_depth.get_data_info(0)


def test_dataset_requires_indices_0_to_n(tmp_path):
    root = str(tmp_path)
    make_libmtl_root(root, num_train=3, num_val=1, h=8, w=8)
    for path in libmtl_sample_paths(root, 'train', 1).values():
        os.remove(path)
    img_dir = osp.join(root, 'train', 'image')
    with pytest.raises(ValueError, match=f'{img_dir}.*found 2.npy'):
        build(root, split='train')
    with pytest.raises(ValueError, match=r'missing \[1\]'):
        libmtl_indices(root, 'train')
    ds = build(root, split='train', require_contiguous=False)
    assert [osp.basename(ds.get_data_info(i)['img_path'])
            for i in range(len(ds))] == ['0.npy', '2.npy']
    with pytest.raises(FileNotFoundError, match='image folder not found'):
        libmtl_indices(str(tmp_path / 'none'), 'train')


def test_dataset_refuses_other_layouts(libmtl_root):
    root, _ = libmtl_root
    with pytest.raises(ValueError, match=r"\['layout'\] cannot be set"):
        build(root, split='train', layout='nddr')
    with pytest.raises(ValueError, match='split'):
        build(root, split='training')


# ------------------------------------------------------------ augmentation
def _scale_crop_input(rng):
    s = random_sample(rng, 12, 16)
    return dict(img=s['image'][..., ::-1].copy(),
                gt_seg_map=np.where(s['seg13'] < 0, 255,
                                    s['seg13']).astype(np.uint8),
                gt_depth_map=s['depth'],
                gt_normal_map=s['normal'],
                seg_fields=['gt_seg_map', 'gt_depth_map', 'gt_normal_map'])


def test_random_scale_crop_at_scale_1_is_the_identity():
    results = _scale_crop_input(np.random.default_rng(3))
    ref = {k: v.copy() for k, v in results.items() if k != 'seg_fields'}
    out = TRANSFORMS.build(dict(type='LibMTLRandomScaleCrop',
                                scales=(1.0, ))).transform(results)
    assert out['scale_crop'] == (1.0, 0, 0, 12, 16)
    for key, value in ref.items():
        np.testing.assert_allclose(out[key], value, atol=1e-5, err_msg=key)
        assert out[key].dtype == value.dtype


def test_random_scale_crop_zooms_and_rescales_depth():
    results = _scale_crop_input(np.random.default_rng(4))
    ref = {k: v.copy() for k, v in results.items() if k != 'seg_fields'}
    out = TRANSFORMS.build(dict(type='LibMTLRandomScaleCrop',
                                scales=(2.0, ))).transform(results)
    scale, top, left, h, w = out['scale_crop']
    assert (scale, h, w) == (2.0, 6, 8)
    assert 0 <= top <= 6 and 0 <= left <= 8
    for key in ('img', 'gt_seg_map', 'gt_depth_map', 'gt_normal_map'):
        assert out[key].shape[:2] == (12, 16), key
    window = (slice(top, top + h), slice(left, left + w))
    # nearest neighbour x2: every source pixel of the window becomes a 2x2
    # block; depth is halved (the scene looks twice as close), 0 stays 0
    up = lambda a: a[window].repeat(2, axis=0).repeat(2, axis=1)  # noqa
    np.testing.assert_array_equal(out['gt_seg_map'], up(ref['gt_seg_map']))
    np.testing.assert_allclose(out['gt_depth_map'],
                               up(ref['gt_depth_map']) / 2)
    assert out['img'].dtype == np.uint8
    n = out['gt_normal_map']
    length = np.linalg.norm(n, axis=-1)
    assert np.allclose(length[length > 0], 1, atol=1e-5)
    # the corners of align_corners=True resizing are the window's corners
    np.testing.assert_array_equal(out['img'][0, 0], ref['img'][top, left])
    np.testing.assert_array_equal(out['img'][-1, -1],
                                  ref['img'][top + h - 1, left + w - 1])


def test_base_config_pipelines_load_generated_data(libmtl_root):
    root, _ = libmtl_root
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/_base_/datasets/nyuv2-13_libmtl.py'))
    for pipeline in (cfg.train_pipeline, cfg.aug_train_pipeline):
        ds_cfg = dict(cfg.train_dataloader.dataset, data_root=root,
                      pipeline=pipeline)
        item = DATASETS.build(ds_cfg)[0]
        sample = item['data_samples']
        assert item['inputs'].shape == (3, 24, 32)
        for field in ('gt_sem_seg', 'gt_depth_map', 'gt_normal_map'):
            assert getattr(sample, field).shape == (24, 32), field


# ------------------------------------------------------------------ search
@pytest.mark.slow
def test_three_task_search_config_runs_on_generated_data(tmp_path):
    """The NYUv2-13 MTL-NAS search config, shrunk (ResNet-18 at 1/16
    width, 24x32 images), searches 3 iterations and evaluates every
    LibMTL metric."""
    root = str(tmp_path / 'data')
    make_libmtl_root(root, num_train=8, num_val=4)
    cfg = tiny_cfg(SEARCH, str(tmp_path / 'work'), root, iters=3,
                   validate=True)
    net = cfg.model.network
    net.backbone.backbone.update(depth=18, stem_channels=8, base_channels=4,
                                 init_cfg=None)
    feat = 8 * 4  # the last BasicBlock stage
    for task in ('seg', 'depth', 'normal'):
        head = net.tasks[task].head
        aspp = head if task == 'seg' else head.decoder
        aspp.update(in_channels=feat, channels=8, dilations=(1, 2))
    cfg.val_dataloader.batch_size = 2
    start = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    seconds = time.perf_counter() - start

    search = runner.model.search_space
    assert runner.model.network.task_names == ['seg', 'normal', 'depth']
    arch = Architecture.load(
        osp.join(str(tmp_path / 'work'), 'arch', 'arch_final.json'))
    # ResNet-18: 2 layers per stage, 3 edges per stage and ordered task
    # pair (source <= target in the stage), 4 stages, 6 ordered pairs
    assert len(arch.edges) == search.gate_probs().numel() == 3 * 4 * 6
    assert {(e.source_task, e.target_task) for e in arch.edges} == {
        (s, t) for s in ('seg', 'normal', 'depth')
        for t in ('seg', 'normal', 'depth') if s != t}
    for key in ('mIoU', 'aAcc', 'depth/abs_err', 'depth/abs_rel', 'mean',
                'median', 'within_11.25', 'within_22.5', 'within_30'):
        assert key in metrics, sorted(metrics)
        assert np.isfinite(metrics[key]), key
    assert 0 <= metrics['mIoU'] <= 100 and 0 < metrics['mean'] <= 180
    assert metrics['depth/abs_err'] > 0
    assert seconds < 120, seconds
