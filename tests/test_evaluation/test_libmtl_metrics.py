"""The LibMTL / mtan NYUv2 metrics and LibMTL's delta_p on hand-computed
cases."""
import numpy as np
import pytest
import torch
from mmengine.evaluator import BaseMetric

from mmseg.registry import EVALUATOR, METRICS

import mtlnas_mm.evaluation  # noqa: F401  (registers metrics, evaluators)
from mtlnas_mm.evaluation import (LibMTLDepthMetric, LibMTLEvaluator,
                                  LibMTLNormalMetric, PooledDepthMetric,
                                  SurfaceNormalMetric, delta_m, delta_p)

pytestmark = pytest.mark.usefixtures('mmseg_scope')


def sample_dict(**fields):
    """A data sample as mmengine's Evaluator hands it to metrics."""
    return {k: dict(data=v) for k, v in fields.items()}


def normals_at_angles(angles_deg, invalid=0, scale=1.0):
    """A 3x1xN map pair: gt (0, 0, 1) and pred at the given angles in the
    x-z plane (length ``scale``), then ``invalid`` pixels whose gt is the
    zero vector (their pred is garbage)."""
    a = np.deg2rad(np.asarray(angles_deg, dtype=np.float64))
    pred = scale * np.stack([np.sin(a), np.zeros_like(a), np.cos(a)])
    gt = np.tile([[0.], [0.], [1.]], (1, a.size))
    pred = np.concatenate([pred, np.ones((3, invalid))], axis=1)
    gt = np.concatenate([gt, np.zeros((3, invalid))], axis=1)
    return (torch.tensor(pred, dtype=torch.float32)[:, None],
            torch.tensor(gt, dtype=torch.float32)[:, None])


def depth_batches():
    """Two evaluation batches of depth maps (gt 0 = invalid).

    batch 1, one image: gt (2, 0, 4, 1), pred (1, 5, 4, -1): valid errors
        1, 0, 2 (the negative prediction is used as it is), relative 0.5,
        0, 2;
    batch 2, two images: gt 1 / 1, pred 2 / 0.5: errors 1, 0.5, relative
        1, 0.5.
    """
    b1 = [sample_dict(gt_depth_map=torch.tensor([[[2., 0.], [4., 1.]]]),
                      pred_depth_map=torch.tensor([[[1., 5.], [4., -1.]]]))]
    b2 = [sample_dict(gt_depth_map=torch.tensor([[[1.]]]),
                      pred_depth_map=torch.tensor([[[2.]]])),
          sample_dict(gt_depth_map=torch.tensor([[[1.]]]),
                      pred_depth_map=torch.tensor([[[0.5]]]))]
    return [b1, b2]


def run(metric, batches):
    for batch in batches:
        metric.process({}, batch)
    return metric.evaluate(sum(len(b) for b in batches))


# ------------------------------------------------------------------- depth
def test_depth_pixel_reduction_pools_every_valid_pixel():
    res = run(METRICS.build(dict(type='LibMTLDepthMetric')), depth_batches())
    # LibMTL: per-batch means weighted by the batch's valid pixels
    # = (1 + 0 + 2 + 1 + 0.5) / 5 and (0.5 + 0 + 2 + 1 + 0.5) / 5
    assert res == pytest.approx({'depth/abs_err': 0.9, 'depth/abs_rel': 0.8})


def test_depth_batch_reduction_averages_batch_means():
    res = run(LibMTLDepthMetric(reduction='batch'), depth_batches())
    # mtan: batch 1 means 3/3 and 2.5/3, batch 2 1.5/2 and 1.5/2
    assert res['depth/abs_err'] == pytest.approx((1 + 0.75) / 2)
    assert res['depth/abs_rel'] == pytest.approx((2.5 / 3 + 0.75) / 2)


def test_depth_differs_from_pooled_metric_only_by_the_clamp():
    pooled = run(PooledDepthMetric(), depth_batches())
    # PooledDepthMetric clamps the -1 prediction to 1e-3 m: error 0.999
    assert pooled['depth/abs_err'] == pytest.approx((4.5 - 2 + 0.999) / 5)
    batches = depth_batches()
    batches[0][0]['pred_depth_map']['data'][0, 1, 1] = 3.0  # no clamp hit
    libmtl = run(LibMTLDepthMetric(), batches)
    pooled = run(PooledDepthMetric(), batches)
    for key in ('depth/abs_err', 'depth/abs_rel'):
        assert libmtl[key] == pytest.approx(pooled[key])
    with pytest.raises(ValueError, match='reduction must be one of'):
        LibMTLDepthMetric(reduction='image')


# ------------------------------------------------------------------ normal
def normal_batches(scale=1.0):
    """Batch 1: angles 0, 10, 40 and two invalid pixels; batch 2: 20, 90."""
    p1, g1 = normals_at_angles([0, 10, 40], invalid=2, scale=scale)
    p2, g2 = normals_at_angles([20, 90], scale=scale)
    return [[sample_dict(pred_normal_map=p1, gt_normal_map=g1)],
            [sample_dict(pred_normal_map=p2, gt_normal_map=g2)]]


def test_normal_pixel_reduction_pools_every_valid_pixel():
    res = run(METRICS.build(dict(type='LibMTLNormalMetric')),
              normal_batches(scale=3.0))  # predictions are normalised
    # pooled angles 0, 10, 20, 40, 90
    assert set(res) == {'mean', 'median', 'within_11.25', 'within_22.5',
                        'within_30'}
    assert res['mean'] == pytest.approx(32.0, abs=1e-4)
    assert res['median'] == pytest.approx(20.0, abs=0.01)  # histogram
    assert res['within_11.25'] == pytest.approx(40.0)
    assert res['within_22.5'] == pytest.approx(60.0)
    assert res['within_30'] == pytest.approx(60.0)


def test_normal_batch_reduction_averages_batch_metrics():
    res = run(LibMTLNormalMetric(reduction='batch'), normal_batches())
    # batch 1: mean 50/3, median 10, below 11.25/22.5/30: 2/3 each;
    # batch 2: mean 55, median 55, below: 0, 1/2, 1/2
    assert res['mean'] == pytest.approx((50 / 3 + 55) / 2, abs=1e-4)
    assert res['median'] == pytest.approx((10 + 55) / 2, abs=1e-4)
    assert res['within_11.25'] == pytest.approx(100 * (2 / 3) / 2)
    assert res['within_22.5'] == pytest.approx(100 * (2 / 3 + 1 / 2) / 2)
    assert res['within_30'] == pytest.approx(100 * (2 / 3 + 1 / 2) / 2)


def test_normal_thresholds_are_strict():
    angles = np.array([11.25, 22.5, 30.0, 5.0])
    assert LibMTLNormalMetric().summarise(angles)['within'] == [1, 2, 3]
    assert SurfaceNormalMetric(thresholds=(11.25, 22.5, 30)).summarise(
        angles)['within'] == [2, 3, 4]
    with pytest.raises(ValueError, match=r"\['spaces'\] cannot be set"):
        LibMTLNormalMetric(spaces=('raw', ))


# --------------------------------------------------------------------- seg
def test_segmentation_accumulates_one_confusion_matrix():
    """LibMTL's SegMetric sums one confusion matrix over all batches;
    mmseg's IoUMetric (AllClassIoUMetric) computes the same."""
    gt = [torch.tensor([[[0, 0, 1]]]), torch.tensor([[[1, 2, 255]]])]
    pred = [torch.tensor([[[0, 1, 1]]]), torch.tensor([[[1, 2, 0]]])]
    metric = METRICS.build(dict(type='AllClassIoUMetric',
                                iou_metrics=['mIoU']))
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    res = run(metric, [[sample_dict(gt_sem_seg=g, pred_sem_seg=p)]
                       for g, p in zip(gt, pred)])
    # (gt, pred): (0,0) (0,1) (1,1) (1,1) (2,2), one ignored pixel.
    # IoU: a 1/(2+1-1), b 2/(2+3-2), c 1/1; pixel acc 4/5
    assert res['mIoU'] == pytest.approx(round((0.5 + 2 / 3 + 1) / 3 * 100,
                                              2))
    assert res['aAcc'] == pytest.approx(80.0)


# ----------------------------------------------------------------- delta_p
def test_delta_p_on_libmtl_docstring_example():
    """LibMTL's count_improvement example: base A = (96, 98), B = 0.2; new
    A = (93, 99), B = 0.5; A's first metric and B higher-is-better, A's
    second lower-is-better. LibMTL returns 0.7396... (a fraction)."""
    base = dict(A={'acc': 96.0, 'err': 98.0}, B={'score': 0.2})
    new = {'acc': 93.0, 'err': 99.0, 'score': 0.5}
    terms_a = [(93 - 96) / 96, -(99 - 98) / 98]
    term_b = (0.5 - 0.2) / 0.2
    expected_p = 100 * ((terms_a[0] + terms_a[1]) / 2 + term_b) / 2
    assert expected_p == pytest.approx(73.96364796)
    assert delta_p(new, base, lower_is_better={'err'}) == pytest.approx(
        expected_p)
    flat = {k: v for task in base.values() for k, v in task.items()}
    expected_m = 100 * (terms_a[0] + terms_a[1] + term_b) / 3
    assert expected_m == pytest.approx(48.61819728)
    assert delta_m(new, flat, lower_is_better={'err'}) == pytest.approx(
        expected_m)


def nyuv2_case():
    """NYUv2 shape (2 + 2 + 5 metrics): segmentation 10 % better on both,
    depth unchanged, normals 2 % worse on all five."""
    baseline = dict(
        seg=dict(mIoU=50.0, aAcc=80.0),
        depth={'depth/abs_err': 0.4, 'depth/abs_rel': 0.2},
        normal={'mean': 20.0, 'median': 15.0, 'within_11.25': 40.0,
                'within_22.5': 60.0, 'within_30': 70.0})
    metrics = {'mIoU': 55.0, 'aAcc': 88.0, 'depth/abs_err': 0.4,
               'depth/abs_rel': 0.2, 'mean': 20.4, 'median': 15.3,
               'within_11.25': 39.2, 'within_22.5': 58.8, 'within_30': 68.6,
               'mIoU_all': 1.0}
    return baseline, metrics


def test_delta_p_weighs_tasks_delta_m_weighs_metrics():
    baseline, metrics = nyuv2_case()
    assert delta_p(metrics, baseline) == pytest.approx((10 + 0 - 2) / 3)
    flat = {k: v for task in baseline.values() for k, v in task.items()}
    assert delta_m(metrics, flat) == pytest.approx((2 * 10 - 5 * 2) / 9)


def test_delta_p_errors():
    baseline, metrics = nyuv2_case()
    with pytest.raises(ValueError, match='non-empty baseline'):
        delta_p(metrics, {})
    with pytest.raises(ValueError, match="task 'seg' must be a non-empty"):
        delta_p(metrics, dict(seg={}))
    with pytest.raises(KeyError, match="'rmse' of task 'normal'"):
        delta_p(metrics, dict(normal=dict(rmse=1.0)))
    with pytest.raises(ValueError, match="'mean' \\(task 'normal'\\) is 0"):
        delta_p(metrics, dict(normal=dict(mean=0.0)))


class FixedMetric(BaseMetric):
    """Reports fixed values: the evaluator's part is what is tested."""

    def __init__(self, values):
        super().__init__()
        self.values = dict(values)

    def process(self, data_batch, data_samples):
        self.results.append(0)

    def compute_metrics(self, results):
        return dict(self.values)


def test_libmtl_evaluator_reports_delta_p():
    baseline, metrics = nyuv2_case()
    ev = EVALUATOR.build(
        dict(type='LibMTLEvaluator', metrics=[FixedMetric(metrics)],
             baseline=baseline))
    assert isinstance(ev, LibMTLEvaluator)
    assert ev.gain_keys['delta_p'] == [k for t in baseline.values()
                                       for k in t]
    ev.process([{}])
    res = ev.evaluate(1)
    assert res['delta_p'] == pytest.approx(8 / 3)
    assert res['delta_m'] == pytest.approx(10 / 9)
    assert res['delta_m/seg'] == pytest.approx(10.0)
    assert res['delta_p'] == pytest.approx(
        np.mean([res[f'delta_m/{t}'] for t in baseline]))
    with pytest.raises(ValueError, match='grouped by task'):
        LibMTLEvaluator([], baseline={'mIoU': 50.0})
    assert LibMTLEvaluator([]).gains(metrics) == {}
