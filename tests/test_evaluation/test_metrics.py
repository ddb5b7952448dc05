"""Metrics on hand-computed cases."""
import glob
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.runner import Runner
from mmengine.structures import PixelData

from mmseg.evaluation import IoUMetric
from mmseg.registry import EVALUATOR, METRICS
from mmseg.structures import SegDataSample

import mtlnas_mm.evaluation  # noqa: F401  (registers the metrics)
from mtlnas_mm.evaluation import (MultiTaskEvaluator, PooledDepthMetric,
                                  SurfaceNormalMetric, delta_m)
from mtlnas_mm.structures.task_fields import TASK_KINDS
from runner_utils import ROOT

pytestmark = pytest.mark.usefixtures('mmseg_scope')

# configs run with default_scope='mmseg'; Evaluator builds metrics there


def normals_at_angles(angles_deg, invalid=0):
    """gt (0,0,1) and pred at the given angles in the x-z plane, plus
    ``invalid`` pixels whose gt is the zero vector (pred is garbage)."""
    a = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    pred = np.stack([np.sin(a), np.zeros_like(a), np.cos(a)])
    gt = np.tile(np.array([[0.], [0.], [1.]]), (1, a.size))
    pred = np.concatenate([pred, np.ones((3, invalid))], axis=1)
    gt = np.concatenate([gt, np.zeros((3, invalid))], axis=1)
    as_map = lambda x: torch.tensor(x, dtype=torch.float32)[:, None, :]  # noqa
    return as_map(pred), as_map(gt)


def sample_dict(**fields):
    return {k: dict(data=v) for k, v in fields.items()}


def test_surface_normal_metric_pools_pixels_not_images():
    metric = SurfaceNormalMetric()
    p1, g1 = normals_at_angles([0, 10, 10], invalid=2)
    p2, g2 = normals_at_angles([20, 90], invalid=1)
    metric.process({}, [sample_dict(pred_normal_map=p1, gt_normal_map=g1)])
    metric.process({}, [sample_dict(pred_normal_map=p2, gt_normal_map=g2)])
    res = metric.evaluate(size=2)
    # pooled angles: 0, 10, 10, 20, 90 (per-image mean would be 30.83)
    assert res['mean'] == pytest.approx(26.0, abs=1e-4)
    assert res['median'] == pytest.approx(10.0, abs=0.01)
    assert res['rmse'] == pytest.approx(math.sqrt(8700 / 5), abs=1e-4)
    assert res['within_11.25'] == pytest.approx(60.0)
    assert res['within_22.5'] == pytest.approx(80.0)
    assert res['within_30'] == pytest.approx(80.0)
    assert res['within_45'] == pytest.approx(80.0)


def test_threshold_uses_less_or_equal_and_median_resolution():
    metric = SurfaceNormalMetric(thresholds=(90, 89.99))
    pred = torch.tensor([[1.], [0.], [0.]])[:, None]  # exactly 90 degrees
    gt = torch.tensor([[0.], [1.], [0.]])[:, None]
    metric.process({}, [sample_dict(pred_normal_map=pred, gt_normal_map=gt)])
    res = metric.evaluate(1)
    assert res['within_90'] == 100.0 and res['within_89.99'] == 0.0
    # median from the 0.01-degree histogram vs numpy on many angles
    rng = np.random.default_rng(0)
    angles = rng.uniform(0, 60, size=2001)
    metric = SurfaceNormalMetric()
    p, g = normals_at_angles(angles)
    metric.process({}, [sample_dict(pred_normal_map=p, gt_normal_map=g)])
    assert metric.evaluate(1)['median'] == pytest.approx(np.median(angles),
                                                         abs=0.01)


def test_surface_normal_metric_resizes_prediction_and_uses_evaluator():
    gt = torch.zeros(3, 4, 6)
    gt[2] = 1
    gt[:, 0, 0] = 0  # one invalid pixel
    pred = torch.zeros(3, 2, 3)
    pred[0] = math.sin(math.radians(40))  # 40 degrees everywhere
    pred[2] = math.cos(math.radians(40))
    s = SegDataSample()
    s.set_data(dict(pred_normal_map=PixelData(data=pred),
                    gt_normal_map=PixelData(data=gt)))
    ev = Evaluator([dict(type='SurfaceNormalMetric')])
    ev.process([s])
    res = ev.evaluate(1)
    assert res['mean'] == pytest.approx(40.0, abs=1e-4)
    assert res['within_45'] == 100.0 and res['within_30'] == 0.0


def test_pooled_depth_metric():
    metric = PooledDepthMetric()
    gt1 = torch.tensor([[[1., 2.], [4., 0.]]])
    pred1 = torch.tensor([[[1.5, 2.], [2., 9.]]])
    metric.process({}, [sample_dict(pred_depth_map=pred1, gt_depth_map=gt1)])
    metric.process({}, [sample_dict(pred_depth_map=torch.tensor([[[2.]]]),
                                    gt_depth_map=torch.tensor([[[2.]]]))])
    res = metric.evaluate(2)
    # pooled over 4 valid pixels: d - g = 0.5, 0, -2, 0
    assert res['depth/abs_err'] == pytest.approx(2.5 / 4)
    assert res['depth/abs_rel'] == pytest.approx((0.5 / 1 + 2 / 4) / 4)
    assert res['depth/sq_rel'] == pytest.approx((0.25 / 1 + 4 / 4) / 4)
    assert res['depth/rmse'] == pytest.approx(math.sqrt(4.25 / 4))
    assert res['depth/rmse_log'] == pytest.approx(
        math.sqrt((math.log(1.5)**2 + math.log(0.5)**2) / 4))
    # ratios 1.5, 1, 2, 1
    assert res['depth/d1'] == pytest.approx(50.0)
    assert res['depth/d2'] == pytest.approx(75.0)
    assert res['depth/d3'] == pytest.approx(75.0)
    # evaluation range: ground truth beyond max_depth is ignored
    metric = PooledDepthMetric(max_depth=3.0, prefix='d')
    metric.process({}, [sample_dict(pred_depth_map=pred1, gt_depth_map=gt1)])
    assert metric.evaluate(1)['d/abs_err'] == pytest.approx(0.25)


def test_iou_metric_on_hand_confusion_matrix():
    gt = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 255]).view(1, 3, 3)
    pred = torch.tensor([0, 0, 1, 1, 2, 2, 2, 0, 1]).view(1, 3, 3)
    # confusion (gt rows): [[2,1,0],[0,1,1],[1,0,2]]
    metric = IoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    metric.process({}, [sample_dict(pred_sem_seg=pred, gt_sem_seg=gt)])
    res = metric.evaluate(1)
    assert res['mIoU'] == pytest.approx(round((0.5 + 1 / 3 + 0.5) / 3 * 100,
                                              2))
    assert res['aAcc'] == pytest.approx(62.5)
    assert res['mAcc'] == pytest.approx(round((2 / 3 + 1 / 2 + 2 / 3) / 3 *
                                              100, 2))


def test_dense_metrics_read_fields_from_task_kinds():
    for metric, kind in ((SurfaceNormalMetric(), 'normal'),
                         (PooledDepthMetric(), 'depth')):
        assert metric.gt_key == TASK_KINDS[kind].gt_field
        assert metric.pred_key == TASK_KINDS[kind].pred_fields[0]
        assert metric.invalid == TASK_KINDS[kind].invalid
    metric = PooledDepthMetric(pred_key='p', gt_key='g', align_corners=True,
                               prefix='x')
    assert (metric.pred_key, metric.gt_key, metric.align_corners,
            metric.prefix) == ('p', 'g', True, 'x')
    # only invalid pixels: an error naming the metric and the kind
    for metric, key in ((SurfaceNormalMetric(), 'normal_map'),
                        (PooledDepthMetric(), 'depth_map')):
        c = 3 if key == 'normal_map' else 1
        metric.process({}, [sample_dict(**{
            f'pred_{key}': torch.ones(c, 2, 2),
            f'gt_{key}': torch.zeros(c, 2, 2)
        })])
        with pytest.raises(ValueError, match=f'{type(metric).__name__}: no '
                           f'valid ground-truth {metric.kind}'):
            metric.evaluate(1)


def test_delta_m_hand_case():
    m = MultiTaskEvaluator([dict(type='SurfaceNormalMetric')],
                           baseline={'mIoU': 32.0, 'mean': 15.0,
                                     'within_11.25': 40.0})
    # +25 % mIoU, mean angle 15 -> 12 is +20 % (lower is better), +25 %
    got = m.delta_m({'mIoU': 40.0, 'mean': 12.0, 'within_11.25': 50.0,
                     'x': 1})
    assert got == pytest.approx((25 + 20 + 25) / 3)
    assert m.delta_m({'mIoU': 32.0, 'mean': 18.0,
                      'within_11.25': 40.0}) == pytest.approx(-20 / 3)
    with pytest.raises(KeyError, match="'mIoU'"):
        m.delta_m({'mean': 12.0, 'within_11.25': 50.0})
    assert m.is_lower_better('depth/rmse') and not m.is_lower_better('d1')
    # a flat baseline gives delta_m alone
    assert m.gain_keys == {'delta_m': ['mIoU', 'mean', 'within_11.25']}
    # a baseline value of 0 has no relative change: nan, not an error
    assert math.isnan(delta_m({'mIoU': 40.0, 'within_11.25': 3.0},
                              {'mIoU': 32.0, 'within_11.25': 0.0}))


class FixedMetric(BaseMetric):
    """Reports ``values`` whatever it is fed."""

    def __init__(self, values, **kwargs):
        super().__init__(**kwargs)
        self.values = values

    def process(self, data_batch, data_samples):
        self.results.extend(data_samples)

    def compute_metrics(self, results):
        return dict(self.values)


def test_delta_m_per_task_from_two_metric_dicts():
    seg = {'mIoU': 40.0, 'aAcc': 70.0}
    normal = {'mean': 12.0, 'within_11.25': 50.0}
    ev = MultiTaskEvaluator(
        [FixedMetric(seg), FixedMetric(normal)],
        baseline=dict(seg={'mIoU': 32.0, 'aAcc': 70.0},
                      normal={'mean': 15.0, 'within_11.25': 40.0}))
    assert ev.gain_keys == {
        'delta_m': ['mIoU', 'aAcc', 'mean', 'within_11.25'],
        'delta_m/seg': ['mIoU', 'aAcc'],
        'delta_m/normal': ['mean', 'within_11.25']
    }
    ev.process([{}])
    res = ev.evaluate(1)
    # seg: mIoU +25 %, aAcc 0 %; normal: mean 15 -> 12 is +20 %, +25 %
    assert res == {
        **seg,
        **normal, 'delta_m': pytest.approx((25 + 0 + 20 + 25) / 4),
        'delta_m/seg': pytest.approx((25 + 0) / 2),
        'delta_m/normal': pytest.approx((20 + 25) / 2)
    }
    assert res['delta_m'] == delta_m({**seg, **normal}, ev.baseline)


def test_multi_task_evaluator_end_to_end(tmp_path):
    baseline = tmp_path / 'st.json'
    baseline.write_text(json.dumps({'mIoU': 50.0, 'mean': 20.0}))
    ev = EVALUATOR.build(
        dict(type='MultiTaskEvaluator',
             metrics=[dict(type='IoUMetric'),
                      dict(type='SurfaceNormalMetric')],
             baseline=str(baseline)))
    assert isinstance(ev, MultiTaskEvaluator)
    ev.dataset_meta = dict(classes=('a', 'b'))
    s = SegDataSample()
    seg = torch.tensor([[[0, 1]]])
    p, g = normals_at_angles([10, 30])
    s.set_data(dict(pred_sem_seg=PixelData(data=seg),
                    gt_sem_seg=PixelData(data=torch.tensor([[[0, 0]]])),
                    pred_normal_map=PixelData(data=p),
                    gt_normal_map=PixelData(data=g)))
    ev.process([s])
    res = ev.evaluate(1)
    # IoU: class a 1/2, class b 0/1 -> mIoU 25; mean angle 20
    assert res['mIoU'] == pytest.approx(25.0)
    assert res['mean'] == pytest.approx(20.0, abs=1e-4)
    assert res['delta_m'] == pytest.approx((-50.0 + 0.0) / 2, abs=1e-3)


def test_multi_task_evaluator_errors():
    # a key reported twice is mmengine's Evaluator error
    m = MultiTaskEvaluator([dict(type='SurfaceNormalMetric'),
                            dict(type='SurfaceNormalMetric')])
    p, g = normals_at_angles([10])
    m.process([sample_dict(pred_normal_map=p, gt_normal_map=g)])
    with pytest.raises(ValueError, match='same metric name mean'):
        m.evaluate(1)
    m = MultiTaskEvaluator([dict(type='SurfaceNormalMetric')],
                           baseline={'mIoU': 30.0})
    m.process([sample_dict(pred_normal_map=p, gt_normal_map=g)])
    with pytest.raises(KeyError, match="baseline key 'mIoU'"):
        m.evaluate(1)
    with pytest.raises(ValueError, match="'mean' is 0"):
        MultiTaskEvaluator([dict(type='SurfaceNormalMetric')],
                           baseline={'mean': 0})
    with pytest.raises(ValueError, match='a mix'):
        MultiTaskEvaluator([], baseline=dict(seg=dict(mIoU=1.0), mean=2.0))
    with pytest.raises(ValueError, match="'mean' is in the baseline of both"):
        MultiTaskEvaluator([], baseline=dict(a=dict(mean=1.0),
                                             b=dict(mean=2.0)))
    # a metric reporting the gain's key
    m = MultiTaskEvaluator([FixedMetric({'delta_m': 1.0, 'mean': 2.0})],
                           baseline=dict(mean=1.0))
    m.process([{}])
    with pytest.raises(ValueError, match=r"reports \['delta_m'\]"):
        m.evaluate(1)


def test_multi_task_metric_name_is_gone():
    # one class under one name, in the EVALUATOR registry only
    for registry in (METRICS, EVALUATOR):
        assert registry.get('MultiTaskMetric') is None
    assert METRICS.get('MultiTaskEvaluator') is None
    assert EVALUATOR.get('MultiTaskEvaluator') is MultiTaskEvaluator


def test_runner_builds_multi_task_evaluator_from_config():
    cfg = dict(type='MultiTaskEvaluator',
               metrics=[dict(type='SurfaceNormalMetric')],
               baseline=dict(mean=20.0))
    # a dict with a `metrics` key goes to the EVALUATOR registry
    ev = Runner.build_evaluator(None, cfg)
    assert isinstance(ev, MultiTaskEvaluator)
    assert isinstance(ev.metrics[0], SurfaceNormalMetric)
    p, g = normals_at_angles([10, 20])
    s = SegDataSample()
    s.set_data(dict(pred_normal_map=PixelData(data=p),
                    gt_normal_map=PixelData(data=g)))
    ev.process([s])
    res = ev.evaluate(1)
    assert res['mean'] == pytest.approx(15.0, abs=1e-4)
    assert res['delta_m'] == pytest.approx(25.0, abs=1e-3)
    # a list is a plain Evaluator's list of metrics; an evaluator is none
    with pytest.raises(KeyError, match='MultiTaskEvaluator'):
        Runner.build_evaluator(None, [cfg])


CONFIGS = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '*', '*.py'))
    if '_base_' not in p)


@pytest.mark.parametrize('config', CONFIGS)
def test_shipped_configs_build_multi_task_evaluator(config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    for key in ('val_evaluator', 'test_evaluator'):
        ev = Runner.build_evaluator(None, cfg[key])
        assert isinstance(ev, MultiTaskEvaluator), key
        names = [type(m).__name__ for m in ev.metrics]
        if cfg.model.type == 'EncoderDecoder':  # mmseg's, segmentation only
            assert names == ['AllClassIoUMetric'], names
            continue
        # segmentation first, a normal metric (the paper's or LibMTL's)
        assert names[0] == 'AllClassIoUMetric', names
        assert {'SurfaceNormalMetric', 'LibMTLNormalMetric'} & set(names), \
            names
        network = cfg.model.get('network', cfg.model)  # search: algorithm
        assert len(network.tasks) == len(names), names


def test_all_class_miou_counts_absent_classes_as_zero():
    """3 classes, class 2 absent from labels and predictions: mmseg's mIoU
    averages the two that occur, the paper's counting all three."""
    from mtlnas_mm.evaluation.metrics import AllClassIoUMetric
    metric = AllClassIoUMetric(iou_metrics=['mIoU'])
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    gt = torch.tensor([[0, 0, 1, 1]])
    pred = torch.tensor([[0, 1, 1, 1]])
    s = SegDataSample()
    s.gt_sem_seg = PixelData(data=gt)
    s.pred_sem_seg = PixelData(data=pred)
    metric.process([], [s.to_dict()])
    out = metric.evaluate(1)
    # IoU(a) = 1/2, IoU(b) = 2/3, c absent
    assert out['mIoU'] == pytest.approx(100 * (1 / 2 + 2 / 3) / 2, abs=0.01)
    assert out['mIoU_all'] == pytest.approx(100 * (1 / 2 + 2 / 3) / 3,
                                            abs=0.01)
