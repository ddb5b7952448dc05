"""The official MTL-NAS computation as named options, on hand-made inputs.

Every option keeps the project's behaviour by default; each test checks
the official value against an independent (numpy / hand-composed)
computation and that the default differs where it should.
"""
import cv2
import numpy as np
import pytest
import torch

from mtlnas_mm.datasets.transforms import LoadNormalMap, encode_normal_png
from mtlnas_mm.evaluation import SurfaceNormalMetric
from mtlnas_mm.models.losses import CosineNormalLoss
from mtlnas_mm.structures.normal_space import (NORMAL_PNG_MAX, raw_to_unit,
                                               unit_to_raw)


def as_map(pixels) -> torch.Tensor:
    """(P, 3) vectors -> a (1, 3, 1, P) map."""
    return torch.tensor(np.asarray(pixels, np.float64).T[None, :, None],
                        dtype=torch.float32)


def np_angle(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    cos = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    return float(np.degrees(np.arccos(np.clip(cos, -1, 1))))


# ------------------------------------------------------------ normal space
#: a pair whose unit-space and raw-space angles differ (90 vs ~33.6 deg),
#: plus an invalid (zero) ground truth whose raw encoding is NOT zero
GT = [[0., 0., 1.], [0., 0., 0.]]
PRED = [[1., 0., 0.], [0., 1., 0.]]


def test_raw_encoding_is_the_exact_inverse_of_the_decode(tmp_path):
    v = np.array([[[0, 128, 255], [17, 200, 3]]], np.uint8)
    assert NORMAL_PNG_MAX == 255
    np.testing.assert_allclose(unit_to_raw(raw_to_unit(v.astype(
        np.float32))), v, atol=1e-4)
    np.testing.assert_allclose(unit_to_raw(np.array([-1., 0., 1.])),
                               [0., 127.5, 255.])
    # through the loader: renormalize=False keeps the PNG's vectors
    cv2.imwrite(str(tmp_path / 'n.png'), v[..., ::-1])
    res = LoadNormalMap(min_norm=0.0, renormalize=False)(
        dict(normal_path=str(tmp_path / 'n.png'), seg_fields=[]))
    np.testing.assert_allclose(unit_to_raw(res['gt_normal_map']), v,
                               atol=1e-4)
    res = LoadNormalMap(min_norm=0.0)(
        dict(normal_path=str(tmp_path / 'n.png'), seg_fields=[]))
    assert np.abs(unit_to_raw(res['gt_normal_map']) - v).max() > 1.0
    # the PNG writer rounds the same encoding
    n = np.array([[[0.6, 0.0, 0.8]]], np.float32)
    np.testing.assert_array_equal(encode_normal_png(n),
                                  np.rint(unit_to_raw(n)))


def test_cosine_normal_loss_raw_space_vs_numpy():
    raw_gt = (np.asarray(GT[0]) + 1) * 127.5  # (127.5, 127.5, 255)
    raw_pred = (np.asarray(PRED[0]) + 1) * 127.5  # (255, 127.5, 127.5)
    expected_raw = 1 - np.cos(np.radians(np_angle(raw_pred, raw_gt)))
    assert expected_raw == pytest.approx(1 / 6)
    gt = as_map(GT)
    # official: the network output is a raw-space direction, the target
    # the PNG vector; the invalid pixel stays out (its encoding is 127.5)
    raw = CosineNormalLoss(space='raw', loss_weight=20.0)(
        as_map([raw_pred, [1., 2., 3.]]), gt)
    assert raw.item() == pytest.approx(20 * expected_raw, rel=1e-6)
    # project default: 1 - cos of the normals, 1 - cos(90 deg) = 1
    unit = CosineNormalLoss(loss_weight=20.0)(as_map(PRED), gt)
    assert unit.item() == pytest.approx(20.0, rel=1e-6)
    with pytest.raises(ValueError, match='normal space must be one of'):
        CosineNormalLoss(space='png')


def evaluate(metric: SurfaceNormalMetric, pred, gt) -> dict:
    metric.process({}, [dict(pred_normal_map=dict(data=pred[0, :, 0:1]),
                             gt_normal_map=dict(data=gt[0, :, 0:1])),
                        dict(pred_normal_map=dict(data=pred[0]),
                             gt_normal_map=dict(data=gt[0]))])
    return metric.evaluate(2)


def test_normal_metric_reports_both_spaces_vs_numpy():
    raw_angle = np_angle((np.asarray(PRED[0]) + 1) * 127.5,
                         (np.asarray(GT[0]) + 1) * 127.5)
    assert raw_angle == pytest.approx(33.557, abs=1e-3)
    gt = as_map(GT)
    res = evaluate(SurfaceNormalMetric(spaces=('unit', 'raw')),
                   as_map(PRED), gt)
    assert res['mean'] == pytest.approx(90.0, abs=1e-4)
    assert res['raw/mean'] == pytest.approx(raw_angle, abs=1e-4)
    assert res['raw/within_45'] == 100.0 and res['within_45'] == 0.0
    # the default is unchanged: unit space only
    assert set(evaluate(SurfaceNormalMetric(), as_map(PRED), gt)) == {
        'mean', 'median', 'rmse', 'within_11.25', 'within_22.5',
        'within_30', 'within_45'}
    # a network trained in the raw space: its output is compared as it is
    raw_pred = as_map([(np.asarray(PRED[0]) + 1) * 3.0, [9., 9., 9.]])
    res = evaluate(SurfaceNormalMetric(spaces=('raw', ), pred_space='raw'),
                   raw_pred, gt)
    assert res['mean'] == pytest.approx(raw_angle, abs=1e-4)
    with pytest.raises(ValueError, match='no unit-space angle'):
        SurfaceNormalMetric(spaces=('raw', 'unit'), pred_space='raw')


# ------------------------------------------------------------ augmentation
def test_torchvision_color_jitter_is_torchvision_on_rgb():
    from PIL import Image
    from torchvision.transforms import ColorJitter

    from mtlnas_mm.datasets.transforms import TorchvisionColorJitter
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (4, 5, 3)).astype(np.uint8)
    ours = TorchvisionColorJitter(hue=0.05, saturation=0.05)
    changed = 0
    for seed in range(6):  # both signs of the hue factor occur
        torch.manual_seed(seed)
        out = ours(dict(img=bgr.copy()))['img']
        torch.manual_seed(seed)
        ref = np.asarray(ColorJitter(hue=0.05, saturation=0.05)(
            Image.fromarray(bgr[..., ::-1].copy())))
        np.testing.assert_array_equal(out[..., ::-1], ref)
        changed += int((out != bgr).any())
    assert changed == 6
    # hue and saturation only: a grey image is untouched (brightness /
    # contrast jitter, as in PhotoMetricDistortion, would change it)
    grey = np.repeat(np.arange(0, 240, 12, dtype=np.uint8).reshape(4, 5, 1),
                     3, axis=2)
    for seed in range(3):
        torch.manual_seed(seed)
        np.testing.assert_array_equal(ours(dict(img=grey.copy()))['img'],
                                      grey)


def test_normal_aware_resize_nearest_copies_vectors():
    from mtlnas_mm.datasets.transforms import NormalAwareResize
    # 2x2 non-unit vectors (as loaded with renormalize=False), one invalid
    normal = np.array([[[0.5, 0., 0.9], [0., 0., 0.]],
                       [[0., 0.7, 0.7], [-0.6, 0., 0.8]]], np.float32)
    seg = np.array([[1, 2], [3, 4]], np.uint8)

    def run(**kw):
        res = dict(img=np.zeros((2, 2, 3), np.uint8), gt_normal_map=normal,
                   gt_seg_map=seg, seg_fields=['gt_normal_map',
                                               'gt_seg_map'],
                   scale=(4, 4))
        return NormalAwareResize(scale=(4, 4), keep_ratio=False, **kw)(res)

    rows = np.array([0, 0, 1, 1])  # nearest source of each output row/col
    for backend in ('cv2', 'pillow'):
        out = run(normal_interpolation='nearest', backend=backend)
        np.testing.assert_array_equal(out['gt_normal_map'],
                                      normal[rows][:, rows])
        np.testing.assert_array_equal(out['gt_seg_map'], seg[rows][:, rows])
    # the default blends and renormalises: no longer a copy of a source
    blended = run()['gt_normal_map']
    assert not np.isin(blended[1, 1], normal).all()
    np.testing.assert_allclose(np.linalg.norm(blended[0, 0]), 1, atol=1e-6)
    with pytest.raises(ValueError, match='normal_interpolation'):
        NormalAwareResize(scale=(4, 4), normal_interpolation='cubic')
