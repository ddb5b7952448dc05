"""MultiTaskDataPreProcessor: per-map padding values and metainfo."""
import pytest
import torch
from mmengine.structures import PixelData

from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mtlnas_mm.models.data_preprocessor import MultiTaskDataPreProcessor
from mtlnas_mm.structures.task_fields import invalid_values


def make_sample(h, w, with_depth=True, gt_hw=None):
    gh, gw = gt_hw or (h, w)
    s = SegDataSample()
    s.gt_sem_seg = PixelData(data=torch.ones(1, gh, gw, dtype=torch.int64))
    normal = torch.zeros(3, gh, gw)
    normal[2] = 1
    s.set_data(dict(gt_normal_map=PixelData(data=normal)))
    if with_depth:
        s.set_data(dict(gt_depth_map=PixelData(data=torch.full((1, gh, gw),
                                                               2.0))))
    s.set_metainfo(dict(img_path=f'{h}x{w}.png', ori_shape=(gh, gw)))
    return s


def batch(shapes, **kw):
    inputs = [torch.full((3, h, w), 10, dtype=torch.uint8)
              for h, w in shapes]
    for x in inputs:
        x[0] = 30  # B channel of a BGR image
    return dict(inputs=inputs,
                data_samples=[make_sample(h, w, **kw) for h, w in shapes])


def test_training_pads_each_map_with_its_invalid_value():
    pre = MODELS.build(dict(type='MultiTaskDataPreProcessor',
                            mean=[1., 2., 3.], std=[2., 2., 2.],
                            bgr_to_rgb=True, size_divisor=8))
    out = pre(batch([(20, 30), (22, 26)]), training=True)
    x = out['inputs']
    assert x.shape == (2, 3, 24, 32)
    # bgr -> rgb then (x - mean) / std; padding is pad_val=0 after that
    assert x[0, 2, 0, 0] == (30 - 3) / 2 and x[0, 0, 0, 0] == (10 - 1) / 2
    assert (x[0, :, 20:] == 0).all() and (x[1, :, :, 26:] == 0).all()
    s0, s1 = out['data_samples']
    for s, (h, w) in ((s0, (20, 30)), (s1, (22, 26))):
        seg, n, d = (s.gt_sem_seg.data, s.gt_normal_map.data,
                     s.gt_depth_map.data)
        assert seg.shape == (1, 24, 32) and n.shape == (3, 24, 32)
        assert d.shape == (1, 24, 32)
        assert (seg[:, :h, :w] == 1).all() and (seg[:, h:] == 255).all()
        assert (seg[:, :, w:] == 255).all()
        assert (n[2, :h, :w] == 1).all()
        assert not n[:, h:].any() and not n[:, :, w:].any()
        assert (d[:, :h, :w] == 2).all()
        assert not d[:, h:].any() and not d[:, :, w:].any()
        assert tuple(s.metainfo['img_shape']) == (h, w)
        assert tuple(s.metainfo['pad_shape']) == (24, 32)
        assert tuple(s.metainfo['padding_size']) == (0, 32 - w, 0, 24 - h)


def test_fixed_size_and_errors():
    pre = MultiTaskDataPreProcessor(size=(24, 24), normal_pad_val=0,
                                    depth_pad_val=0)
    out = pre(batch([(20, 24)], with_depth=False), training=True)
    assert out['inputs'].shape == (1, 3, 24, 24)
    assert 'gt_depth_map' not in out['data_samples'][0]
    bad = batch([(20, 24)], gt_hw=(10, 12))
    with pytest.raises(ValueError,
                       match=r'gt_\w+ is \(10, 12\) but the image'):
        pre(bad, training=True)
    with pytest.raises(ValueError, match='only one of size and size_div'):
        MultiTaskDataPreProcessor(size=(8, 8), size_divisor=8)


def test_test_mode_pads_aligned_maps_and_keeps_original_resolution_gt():
    pre = MultiTaskDataPreProcessor(test_cfg=dict(size_divisor=16))
    data = batch([(20, 30), (20, 30)])
    data['data_samples'][1] = make_sample(20, 30, gt_hw=(40, 60))
    out = pre(data, training=False)
    assert out['inputs'].shape == (2, 3, 32, 32)
    s0, s1 = out['data_samples']
    assert s0.gt_normal_map.data.shape == (3, 32, 32)
    assert not s0.gt_normal_map.data[:, 20:].any()
    assert (s0.gt_sem_seg.data[:, 20:] == 255).all()
    # ground truth at the original resolution is left alone
    assert s1.gt_normal_map.data.shape == (3, 40, 60)
    assert tuple(s1.metainfo['img_padding_size']) == (0, 2, 0, 12)
    assert tuple(s1.metainfo['pad_shape']) == (32, 32)
    # without test_cfg nothing is padded
    out = MultiTaskDataPreProcessor()(batch([(20, 30)]), training=False)
    assert out['inputs'].shape == (1, 3, 20, 30)


def test_pad_values_come_from_task_fields_and_stay_settable():
    pre = MultiTaskDataPreProcessor()
    assert pre.seg_pad_val == 255
    assert pre.map_pad_vals == dict(invalid_values(), gt_edge_map=255)
    assert pre.map_pad_vals == dict(gt_sem_seg=255, gt_edge_map=255,
                                    gt_normal_map=0, gt_depth_map=0)
    pre = MultiTaskDataPreProcessor(seg_pad_val=7, normal_pad_val=-1,
                                    depth_pad_val=-2, size=(24, 32))
    assert pre.seg_pad_val == 7
    s = pre(batch([(20, 30)]), training=True)['data_samples'][0]
    assert (s.gt_sem_seg.data[:, 20:] == 7).all()
    assert (s.gt_normal_map.data[:, 20:] == -1).all()
    assert (s.gt_depth_map.data[:, :, 30:] == -2).all()
