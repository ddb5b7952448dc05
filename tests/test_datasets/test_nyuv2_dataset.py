"""NYUv2MultiTaskDataset on generated files of both layouts, and its errors."""
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch

from mmseg.registry import DATASETS

import mtlnas_mm.datasets  # noqa: F401  (registers dataset + transforms)
from mtlnas_mm.datasets import (NYU13_CLASSES, NYU40_CLASSES,
                                NYUv2MultiTaskDataset)
from mtlnas_mm.datasets.synthetic import render_sample

PIPELINE = [
    dict(type='LoadMultiTaskImage'),
    dict(type='LoadSegMap'),
    dict(type='LoadNormalMap'),
    dict(type='LoadDepthMap'),
    dict(type='PackMultiTaskInputs'),
]

pytestmark = pytest.mark.usefixtures('mmseg_scope')
LISTS = dict(seg_list='list/training_seg.txt',
             normal_list='list/training_normal_mask.txt')


@pytest.fixture
def data_root_copy(data_synth_root, tmp_path):
    """A writable copy of the synthetic data (both layouts)."""
    root = tmp_path / 'nyu'
    shutil.copytree(data_synth_root, root)
    return str(root)


def nddr(root, **kwargs):
    # configs run under default_scope='mmseg'; the pipeline is built there
    cfg = dict(type='NYUv2MultiTaskDataset', data_root=root,
               pipeline=PIPELINE, with_depth=True, split='train')
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_nddr_layout(data_synth_root):
    ds = nddr(data_synth_root)
    assert len(ds) == 3
    assert ds.metainfo['classes'] == list(NYU40_CLASSES)
    assert len(ds.metainfo['palette']) == 40
    info = ds.get_data_info(1)
    assert info['img_path'] == osp.join(data_synth_root, 'image/train/'
                                        '000001.png')
    assert info['seg_map_path'].endswith('seg40/train/000001.png')
    assert info['normal_path'].endswith('normal/train/000001.png')
    assert info['depth_map_path'].endswith('depth/train/000001.png')
    assert info['seg_fields'] == [] and info['reduce_zero_label'] is False
    assert info['label_map'] is None and info['num_classes'] == 40

    item = ds[1]
    s = render_sample(7, 'train', 1, 48, 64)
    sample = item['data_samples']
    np.testing.assert_array_equal(item['inputs'].numpy().transpose(1, 2, 0),
                                  s.image[..., ::-1])  # BGR like mmcv
    np.testing.assert_array_equal(sample.gt_sem_seg.data[0].numpy(), s.seg40)
    n = sample.gt_normal_map.data.numpy().transpose(1, 2, 0)
    valid = np.any(n != 0, axis=-1)
    np.testing.assert_array_equal(valid, s.depth > 0)
    assert (n[valid] * s.normal[valid]).sum(-1).min() > np.cos(
        np.deg2rad(0.5))
    np.testing.assert_allclose(sample.gt_depth_map.data[0].numpy(), s.depth,
                               atol=5e-4)

    sub = nddr(data_synth_root, indices=[2])
    assert len(sub) == 1
    assert sub.get_data_info(0)['img_path'].endswith('000002.png')
    test = nddr(data_synth_root, split='test', with_depth=False)
    assert len(test) == 2 and 'depth_map_path' not in test.get_data_info(0)


def test_npy_layout(data_synth_root):
    ds = nddr(data_synth_root, layout='npy', split='val')
    assert len(ds) == 2
    assert ds.metainfo['classes'] == list(NYU13_CLASSES)
    assert len(ds.metainfo['palette']) == 13
    info = ds.get_data_info(1)
    assert info['img_path'].endswith(osp.join('val', 'image', '1.npy'))
    assert info['num_classes'] == 13
    sample = ds[1]['data_samples']
    ref = nddr(data_synth_root, split='test')[1]['data_samples']
    np.testing.assert_array_equal(ds[1]['inputs'].numpy(),
                                  nddr(data_synth_root,
                                       split='test')[1]['inputs'].numpy())
    seg13 = sample.gt_sem_seg.data[0].numpy()
    seg40 = ref.gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(seg13 == 255, seg40 == 255)
    assert (seg13[seg40 == 1] == 4).all()  # floor -> 13-class floor
    assert torch.allclose(sample.gt_normal_map.data, ref.gt_normal_map.data,
                          atol=0.01)
    assert torch.allclose(sample.gt_depth_map.data, ref.gt_depth_map.data,
                          atol=5e-4)


def test_class_subset_builds_label_map(data_synth_root):
    ds = nddr(data_synth_root, metainfo=dict(classes=('floor', 'wall')))
    assert ds.label_map[0] == 1 and ds.label_map[1] == 0
    assert ds.label_map[2] == 255
    seg = ds[0]['data_samples'].gt_sem_seg.data
    assert set(seg.unique().tolist()) <= {0, 1, 255}


# ------------------------------------------------------------------ errors
def _rewrite(path, fn):
    with open(path) as f:
        lines = f.read().splitlines()
    with open(path, 'w') as f:
        f.write('\n'.join(fn(lines)) + '\n')


def test_missing_file_names_list_and_line(data_root_copy):
    import os
    os.remove(osp.join(data_root_copy, 'normal', 'train', '000002.png'))
    with pytest.raises(FileNotFoundError,
                       match=r'training_normal_mask\.txt:3.*normal/train/'
                       r'000002\.png'):
        nddr(data_root_copy)


def test_mismatched_lists(data_root_copy):
    lst = osp.join(data_root_copy, 'list', 'training_normal_mask.txt')
    _rewrite(lst, lambda ls: [ls[0], ls[2], ls[1]])
    with pytest.raises(ValueError) as e:
        nddr(data_root_copy)
    msg = str(e.value)
    assert 'training_seg.txt:2' in msg and 'training_normal_mask.txt:2' in msg
    _rewrite(lst, lambda ls: ls[:2])
    with pytest.raises(ValueError, match='lists 2 samples'):
        nddr(data_root_copy)


def test_empty_and_malformed_lists(data_root_copy):
    lst = osp.join(data_root_copy, 'list', 'training_seg.txt')
    with open(lst, 'w') as f:
        f.write('\n')
    with pytest.raises(ValueError, match='training_seg.txt lists no samples'):
        nddr(data_root_copy)
    with open(lst, 'w') as f:
        f.write('/image/train/000000.png\n')
    with pytest.raises(ValueError, match=r'training_seg\.txt:1'):
        nddr(data_root_copy)
    with pytest.raises(FileNotFoundError, match='nothere.txt'):
        nddr(data_root_copy, seg_list='list/nothere.txt')
    shutil.rmtree(osp.join(data_root_copy, 'val', 'image'))
    import os
    os.makedirs(osp.join(data_root_copy, 'val', 'image'))
    with pytest.raises(ValueError, match='no .npy images'):
        nddr(data_root_copy, layout='npy', split='val')


def test_label_out_of_range(data_root_copy):
    path = osp.join(data_root_copy, 'seg40', 'train', '000001.png')
    seg = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    seg[0, 0] = 45
    cv2.imwrite(path, seg)
    ds = nddr(data_root_copy)
    ds[0]
    with pytest.raises(ValueError, match=r'000001\.png.*\[45\]'):
        ds[1]


def test_size_mismatch(data_root_copy):
    path = osp.join(data_root_copy, 'normal', 'train', '000000.png')
    cv2.imwrite(path, cv2.imread(path)[:40])
    with pytest.raises(ValueError,
                       match=r'normal/train/000000\.png is 40x64.*'
                       r'image/train/000000\.png is 48x64'):
        nddr(data_root_copy)[0]


def test_corrupt_image(data_root_copy):
    path = osp.join(data_root_copy, 'image', 'train', '000000.png')
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r'image/train/000000\.png'):
        nddr(data_root_copy)[0]


def test_nan_normal(data_root_copy):
    path = osp.join(data_root_copy, 'val', 'normal', '0.npy')
    n = np.load(path)
    n[3, 4, 1] = np.nan
    np.save(path, n)
    with pytest.raises(ValueError, match=r'0\.npy has 1 NaN/inf'):
        nddr(data_root_copy, layout='npy', split='val')[0]


def test_bad_arguments(data_synth_root):
    with pytest.raises(ValueError, match='layout'):
        NYUv2MultiTaskDataset(layout='h5', data_root=data_synth_root)
    with pytest.raises(ValueError, match='num_classes'):
        NYUv2MultiTaskDataset(num_classes=20, data_root=data_synth_root,
                              split='train')
    with pytest.raises(ValueError, match='seg_list'):
        NYUv2MultiTaskDataset(data_root=data_synth_root)


def test_train_pipeline_through_preprocessor(data_synth_root):
    """MTL-NAS-style augmentation, then batching with padding."""
    from mmengine.dataset import pseudo_collate

    from mtlnas_mm.models.data_preprocessor import MultiTaskDataPreProcessor
    pipeline = PIPELINE[:-1] + [
        dict(type='RandomResize', scale=(64, 48), ratio_range=(0.5, 1.5),
             resize_type='NormalAwareResize', keep_ratio=True),
        dict(type='MultiTaskPad', size=(40, 40)),
        dict(type='RandomCrop', crop_size=(40, 40)),
        dict(type='NormalAwareRandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion'),
        dict(type='PackMultiTaskInputs'),
    ]
    ds = nddr(data_synth_root, pipeline=pipeline)
    mean = np.load(osp.join(data_synth_root, 'nyu_v2_mean.npy')).tolist()
    pre = MultiTaskDataPreProcessor(mean=mean, std=[1., 1., 1.],
                                    bgr_to_rgb=True, size=(40, 40))
    out = pre(pseudo_collate([ds[i] for i in range(3)]), training=True)
    assert out['inputs'].shape == (3, 3, 40, 40)
    for s in out['data_samples']:
        n = s.gt_normal_map.data
        assert n.shape == (3, 40, 40)
        norm = n.norm(dim=0)
        valid = norm > 0
        assert torch.allclose(norm[valid], torch.ones(()), atol=1e-5)
        assert set(s.gt_sem_seg.data.unique().tolist()) <= set(range(40)) | {
            255}
        d = s.gt_depth_map.data
        assert ((d > 0) == valid).all()  # one invalid mask for both


IMG_CLASSES = ('none', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'box',
               'lamp', 'otherprop')


def test_image_labels(data_synth_root):
    from mtlnas_mm.datasets.synthetic import dominant_object_label
    ds = nddr(data_synth_root, with_img_label=True, img_classes=IMG_CLASSES)
    assert ds.metainfo['img_classes'] == list(IMG_CLASSES)
    for i in range(3):
        want = dominant_object_label(render_sample(7, 'train', i, 48,
                                                   64).seg40)
        assert ds.get_data_info(i)['gt_label'] == want
        label = ds[i]['data_samples'].gt_label
        assert label.dtype == torch.long and label.tolist() == [want]
    test = nddr(data_synth_root, split='test', with_img_label=True,
                img_classes=IMG_CLASSES)
    assert test.get_data_info(1)['gt_label'] == dominant_object_label(
        render_sample(7, 'test', 1, 48, 64).seg40)
    # without the option nothing image-level is read or packed
    assert 'gt_label' not in nddr(data_synth_root)[0]['data_samples']


def test_bad_image_labels(data_root_copy):
    lst = osp.join(data_root_copy, 'list', 'training_scene.txt')
    with open(lst) as f:
        lines = f.read().splitlines()
    for bad in ('9', '-1', 'bed'):
        with open(lst, 'w') as f:
            f.write('\n'.join(lines[:1] + [lines[1].split()[0] + ' ' + bad] +
                              lines[2:]) + '\n')
        with pytest.raises(ValueError,
                           match=r'training_scene\.txt:2: image label '
                           rf"'{bad}' is not a class index in \[0, 9\)"):
            nddr(data_root_copy, with_img_label=True,
                 img_classes=IMG_CLASSES)
    with open(lst, 'w') as f:
        f.write('\n'.join(lines[:2]) + '\n')
    with pytest.raises(ValueError, match='training_scene.txt lists 2 '
                       'samples but .*training_seg.txt lists 3'):
        nddr(data_root_copy, with_img_label=True, img_classes=IMG_CLASSES)
    with pytest.raises(ValueError, match='needs img_classes'):
        nddr(data_root_copy, with_img_label=True)
    with pytest.raises(ValueError, match='layout="nddr"'):
        NYUv2MultiTaskDataset(layout='npy', split='val', with_img_label=True,
                              img_classes=IMG_CLASSES,
                              data_root=data_root_copy)
    with pytest.raises(ValueError, match='only used with with_img_label'):
        nddr(data_root_copy, img_classes=IMG_CLASSES)
