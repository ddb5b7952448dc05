"""MultiTaskVisualizer: one picture per data sample through mmseg's
visualiser and SegVisualizationHook (``tools/test.py --show-dir``)."""
import argparse
import glob
import os.path as osp
import time

import mmcv
import numpy as np
import pytest
import torch
from mmengine.runner import Runner
from mmengine.structures import PixelData

import mtlnas_mm  # noqa: F401
from mmseg.registry import VISUALIZERS
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer
from mtlnas_mm.visualization import (MultiTaskVisualizer, draw_predictions,
                                     image_caption, normals_to_rgb,
                                     sample_tasks)
from runner_utils import ROOT

H, W = 48, 64
CLASSES = ('wall', 'floor', 'bed')
PALETTE = [[120, 120, 120], [6, 230, 230], [200, 20, 20]]
# inside every panel, below the title box and above the caption
ROWS, COLS = slice(20, 32), slice(36, 60)


def _name(tag):
    return f'{tag}_{time.time_ns()}'


def _visualizer(**kwargs):
    vis = MultiTaskVisualizer(name=_name('vis'), **kwargs)
    vis.dataset_meta = dict(classes=CLASSES, palette=PALETTE,
                            img_classes=('none', 'cabinet', 'bed'))
    return vis


def _sample(parts=True, label=True):
    seg = torch.zeros(1, H, W, dtype=torch.long)
    seg[:, :, W // 2:] = 1
    seg[:, :4] = 255
    normal = torch.zeros(3, H, W)
    normal[2, :, W // 2:] = 1  # facing the camera: right half
    depth = torch.linspace(1, 5, W).repeat(1, H, 1)
    depth[:, :, :W // 2] = 0  # invalid: left half
    s = SegDataSample(metainfo=dict(img_shape=(H, W), ori_shape=(H, W)))
    s.gt_sem_seg = PixelData(data=seg)
    s.pred_sem_seg = PixelData(data=seg.clone())
    s.gt_normal_map = PixelData(data=normal)
    s.pred_normal_map = PixelData(data=normal.clone())
    s.gt_depth_map = PixelData(data=depth)
    s.pred_depth_map = PixelData(data=depth.clone())
    if parts:
        s.pred_sem_seg_parts = PixelData(data=2 - seg.clamp(max=2))
        s.seg_logits_parts = PixelData(data=torch.zeros(3, H, W))
    if label:
        s.gt_label = torch.tensor([2])
        s.pred_label = torch.tensor([0])
    return s


def _image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


def _panel(img, i):
    return img[:, i * W:(i + 1) * W]


def test_normals_to_rgb():
    n = np.zeros((3, 1, 4), np.float32)
    n[:, 0, 0] = (0, 0, 1)
    n[:, 0, 1] = (1, 0, 0)
    n[:, 0, 2] = (0, -1, 0)
    rgb = normals_to_rgb(n)
    assert rgb.shape == (1, 4, 3) and rgb.dtype == np.uint8
    assert rgb[0].tolist() == [[128, 128, 255], [255, 128, 128],
                               [128, 0, 128], [0, 0, 0]]


def test_built_from_the_registry_and_the_runtime_config():
    vis = VISUALIZERS.build(
        dict(type='MultiTaskVisualizer', name=_name('reg'),
             vis_backends=[dict(type='LocalVisBackend')], draw_titles=False))
    assert isinstance(vis, MultiTaskVisualizer)
    assert isinstance(vis, SegLocalVisualizer)
    assert not vis.draw_titles
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/default_runtime.py'))
    assert cfg.visualizer.type == 'MultiTaskVisualizer'


def test_sample_tasks_finds_suffixed_tasks():
    assert sample_tasks(_sample()) == [('seg', None), ('seg', 'parts'),
                                       ('normal', None), ('depth', None),
                                       ('label', None)]
    s = SegDataSample()
    s.pred_depth_map_far = PixelData(data=torch.ones(1, 2, 2))
    s.pred_label_scene = torch.tensor([1])
    assert sample_tasks(s) == [('depth', 'far'), ('label', 'scene')]


def test_image_caption_of_later_label_tasks():
    s = _sample()
    s.pred_label_scene = torch.tensor([1])
    names = ['none', 'cabinet', 'bed']
    assert image_caption(s, names) == \
        'gt bed | pred none | pred cabinet (scene)'


def test_add_datasample_draws_every_task(tmp_path):
    vis = _visualizer()
    out = str(tmp_path / 'sample.png')
    vis.add_datasample('sample', _image(), _sample(), out_file=out)
    img = mmcv.imread(out, channel_order='rgb')
    # image | gt, pred seg | gt, pred seg (parts) | normal pair | depth pair
    assert img.shape == (H, 9 * W, 3)
    assert np.array_equal(vis.get_image(), img)
    assert np.array_equal(_panel(img, 0)[ROWS], _image()[ROWS])
    for i in (5, 6):  # gt / pred normals: n = (0, 0, 1) right, invalid left
        right = _panel(img, i)[ROWS, COLS].reshape(-1, 3)
        assert (right == (128, 128, 255)).all()
        assert (_panel(img, i)[ROWS, 8:W // 2 - 2] == 0).all()
    gt_d, pred_d = _panel(img, 7), _panel(img, 8)
    assert (gt_d[ROWS, 8:W // 2 - 2] == 0).all()  # invalid depth: black
    assert gt_d[ROWS, COLS].std() > 0  # a colour ramp
    # one colour scale: equal maps are drawn equally
    assert np.array_equal(gt_d[ROWS, COLS], pred_d[ROWS, COLS])
    # segmentation: mmseg's overlay of the palette colour (alpha 0.8)
    seg = _panel(img, 1)[ROWS, COLS].astype(int)
    expected = (_image()[ROWS, COLS] * 0.2 + np.array(PALETTE[1]) * 0.8)
    assert np.abs(seg - expected).max() < 1.5
    assert not np.array_equal(_panel(img, 2)[ROWS, 8:28],
                              _panel(img, 4)[ROWS, 8:28])  # parts differ


def test_add_datasample_draw_gt_false_and_resized_maps(tmp_path):
    vis = _visualizer(draw_titles=False)
    s = _sample(parts=False, label=False)
    # a half-size image: the maps are fitted to it
    small = _image()[::2, ::2]
    out = str(tmp_path / 'pred.png')
    vis.add_datasample('pred', small, s, draw_gt=False, out_file=out)
    img = mmcv.imread(out, channel_order='rgb')
    assert img.shape == (H // 2, 4 * (W // 2), 3)
    normal = img[:, 2 * (W // 2):3 * (W // 2)]
    assert (normal[:, W // 4 + 1:] == (128, 128, 255)).all()
    assert (normal[:, :W // 4 - 1] == 0).all()


def test_draw_predictions_stacks_rows(tmp_path):
    samples = []
    for i in range(2):
        path = str(tmp_path / f'img{i}.png')
        mmcv.imwrite(_image(), path)
        s = _sample(parts=i == 1)
        s.set_metainfo(dict(img_path=path))
        samples.append(s)
    # the call tools/demo.py makes
    out = draw_predictions(samples, PALETTE, str(tmp_path / 'p.png'),
                           'title', ['none', 'cabinet', 'bed'])
    img = mmcv.imread(out)
    assert img.shape[1] == 9 * W  # the wider row; the other padded
    assert 2 * H < img.shape[0] < 3 * H  # two rows + the title strip
    out = draw_predictions(
        samples[:1], out=str(tmp_path / 'q.png'),
        dataset_meta=dict(classes=CLASSES, palette=PALETTE))
    assert mmcv.imread(out).shape == (H, 7 * W, 3)
    with pytest.raises(TypeError, match='out'):
        draw_predictions(samples)


def _load_test_tool():
    from runner_utils import load_tool
    return load_tool('tools/test.py')


@pytest.mark.timeout(300)
def test_show_dir_writes_normal_panels(data_synth_root, tmp_path):
    """``tools/test.py --show-dir``: SegVisualizationHook draws every test
    image with the MultiTaskVisualizer, normals included."""
    ckpt = tmp_path / 'unused.pth'
    ckpt.write_bytes(b'')
    show_dir = str(tmp_path / 'show')
    args = argparse.Namespace(
        config=osp.join(ROOT,
                        'configs/baselines/single-task_vgg-tiny_synthetic.py'),
        checkpoint=str(ckpt), arch=None, work_dir=str(tmp_path / 'work'),
        out=None, show_dir=show_dir, launcher='none', local_rank=0,
        cfg_options={
            **{f'{split}_dataloader.dataset.data_root': data_synth_root
               for split in ('train', 'val', 'test')},
            'visualizer.name': _name('show'),
            'experiment_name': _name('show'),
            'log_level': 'WARNING',
        })
    cfg = _load_test_tool().build_cfg(args)
    assert cfg.visualizer.type == 'MultiTaskVisualizer'
    cfg.load_from = None  # a random model: the pictures are checked
    runner = Runner.from_cfg(cfg)
    runner.test()
    files = sorted(glob.glob(osp.join(show_dir, '**', '*.png'),
                             recursive=True))
    dataset = runner.test_dataloader.dataset
    assert len(files) == len(dataset) == 2
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        name = osp.basename(sample.img_path)
        found = [f for f in files if osp.basename(f).startswith(
            f'test_{name}_')]
        assert len(found) == 1, (name, files)
        img = mmcv.imread(found[0], channel_order='rgb')
        h, w = sample.ori_shape
        # image | gt, pred seg | gt, pred normal
        assert img.shape == (h, 5 * w, 3)
        gt_normal = img[:, 3 * w:4 * w]
        expected = normals_to_rgb(sample.gt_normal_map.data.numpy())
        assert np.array_equal(gt_normal[16:], expected[16:])
        pred = img[16:, 4 * w:5 * w].reshape(-1, 3).astype(int)
        # unit predictions: never black, colours spread around (n+1)/2
        assert (pred.sum(-1) > 0).all()
