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


# ------------------------------------------------------- network details
def test_vgg_pool_padding_bottom_right_shape_and_values():
    import torch.nn.functional as F

    from mtlnas_mm.models import VGGLargeFOV
    official = VGGLargeFOV(depth=16, base_channels=2, conv_bias=False,
                           pool_padding='bottom_right').eval()
    x = torch.arange(25, dtype=torch.float32).view(1, 1, 5, 5)
    pool = official.layer_modules(2)[0]
    # by hand: zero row/column at the bottom/right, 3x3 windows, stride 2
    xp = np.zeros((6, 6), np.float32)
    xp[:5, :5] = x[0, 0].numpy()
    expected = [[xp[r:r + 3, c:c + 3].max() for c in (0, 2)] for r in (0, 2)]
    np.testing.assert_array_equal(pool(x)[0, 0].numpy(), expected)
    assert expected == [[12., 14.], [22., 24.]]
    default = VGGLargeFOV(depth=16, base_channels=2).eval()
    assert F.max_pool2d(x, 3, 2, 1).shape[-1] == 3  # the default's pool
    assert default.layer_modules(2)[0](x).shape[-1] == 3
    # a 321 crop: 160 / 80 / 40 as the official network, not 161 / 81 / 41
    img = torch.rand(1, 3, 321, 321)
    with torch.no_grad():
        assert [o.shape[-1] for o in official(img)] == [321, 160, 80, 40, 40]
        assert [o.shape[-1] for o in default(img)] == [321, 161, 81, 41, 41]
    # no conv bias (BN follows), the default keeps mmpretrain's biases
    assert not any(n.endswith('conv.bias')
                   for n, _ in official.named_parameters())
    assert sum(n.endswith('conv.bias')
               for n, _ in default.named_parameters()) == 13
    with pytest.raises(ValueError, match='pool_padding'):
        VGGLargeFOV(pool_padding='same')


def test_nddr_fusion_after_the_pools_equals_hand_composed_network():
    import torch.nn.functional as F
    from mmcv.cnn import ConvModule

    from mtlnas_mm.models import TaskColumns
    torch.manual_seed(0)
    tasks = ['seg', 'normal']
    cols = TaskColumns(
        tasks=tasks,
        backbone=dict(type='VGGLargeFOV', depth=11, base_channels=2,
                      conv_bias=False, pool_padding='bottom_right',
                      pool_position='block_end'),
        edges=dict(type='FusionEdges',
                   connectivity=dict(same_layer_only=True),
                   fusion=dict(type='nddr', init=(0.9, 0.1)),
                   fusion_layers='block_ends', gate_mode='ones')).eval()
    seen = []
    cols.edges.fusions['seg']['0'].register_forward_hook(
        lambda m, args, out: seen.append(tuple(args[0].shape[-2:])))
    x = torch.randn(2, 3, 33, 33)
    with torch.no_grad():
        out = cols(x)
    # block 1 (one conv at 33x33) is fused after pool1: 34 -> 16
    assert seen == [(16, 16)]

    def pool(i: int, y: torch.Tensor) -> torch.Tensor:
        if i < 3:  # pool1..pool3: zero pad bottom/right, 3x3 / stride 2
            return F.max_pool2d(F.pad(y, (0, 1, 0, 1)), 3, 2)
        y = F.max_pool2d(y, 3, 1, 1)  # pool4; pool5 = max + avg
        return y if i == 3 else F.avg_pool2d(y, 3, 1, 1,
                                             count_include_pad=False)

    feats = {t: x for t in tasks}
    ends = cols.columns['seg'].block_ends
    with torch.no_grad():
        for b in range(5):
            for t in tasks:
                col = cols.columns[t]
                convs = [m for m in col.features
                         if isinstance(m, ConvModule)]
                for i, blk in enumerate(col.layer_blocks):
                    if blk == b:
                        feats[t] = convs[i](feats[t])
                feats[t] = pool(b, feats[t])
            s, n = feats['seg'], feats['normal']
            ops = cols.edges.fusions
            feats = dict(seg=ops['seg'][str(ends[b])](s, [n]),
                         normal=ops['normal'][str(ends[b])](n, [s]))
            for t in tasks:
                torch.testing.assert_close(out[t][b], feats[t], rtol=0,
                                           atol=1e-6)
    assert out['seg'][-1].shape[-1] == 4  # 33 -> 16 -> 8 -> 4


def test_head_conv_init_cfg_kaiming_a1_reaches_every_conv():
    from mtlnas_mm.models.heads import LargeFOVHead
    kaiming = dict(type='Kaiming', a=1, mode='fan_in',
                   nonlinearity='leaky_relu', distribution='normal', bias=0,
                   layer='Conv2d')

    def stds(**kw):
        torch.manual_seed(0)
        head = LargeFOVHead(in_channels=64, channels=256, num_classes=40,
                            **kw)
        head.init_weights()
        convs = (head.fc6.conv, head.fc7.conv, head.conv_seg)
        return [(c.weight.std().item(), c.weight[0].numel()) for c in convs
                ], head

    official, head = stds(conv_init_cfg=kaiming)
    for std, fan_in in official:  # kaiming_normal_(a=1): std 1/sqrt(fan_in)
        assert std == pytest.approx(fan_in**-0.5, rel=0.05)
    assert not head.conv_seg.bias.any()
    default, _ = stds()
    # ConvModule's own fan_out init for fc6, mmseg's Normal(0.01) for fc8
    assert default[0][0] == pytest.approx((2 / (256 * 9))**0.5, rel=0.05)
    assert default[2][0] == pytest.approx(0.01, rel=0.1)
    # the plain init_cfg route does not reach fc6: why conv_init_cfg exists
    plain, _ = stds(init_cfg=kaiming)
    assert plain[0][0] == pytest.approx(default[0][0], rel=0.05)
    assert plain[0][0] < 0.8 * official[0][0]
    # without pool5 (the backbone ends with it in the NDDR placement)
    head = LargeFOVHead(in_channels=4, channels=8, num_classes=3,
                        with_pool5=False)
    assert isinstance(head.pool5, torch.nn.Identity)


def test_temperature_without_floor_and_relaxed_gates_at_zero():
    from mtlnas_mm.engine.hooks import MinEntropyHook
    from mtlnas_mm.models.search_spaces import FusionEdges
    # official: (1 - t/T)^2 with T = 20001 and no floor
    hook = MinEntropyHook(min_temperature=0.0)
    assert hook.schedule(20000, 20001)[1] == pytest.approx((1 / 20001)**2)
    assert MinEntropyHook().schedule(20000, 20001)[1] == 1e-3  # project
    with pytest.raises(ValueError, match='min_temperature'):
        MinEntropyHook(min_temperature=-1.0)
    torch.manual_seed(0)
    space = FusionEdges(tasks=['a', 'b'], layer_channels=[2, 2, 2],
                        layer_blocks=[0, 0, 0],
                        fusion=dict(type='nddr', init=(0.9, 0.1)))
    space.train()
    space.set_step('weight')  # relaxed-Bernoulli gates
    with torch.no_grad():
        for a in space.alphas.values():
            a.copy_(torch.linspace(-3, 3, a.numel()))
    for tau in (2.5e-9, 1e-30, 0.0):
        space.set_temperature(tau)
        feats = {t: torch.randn(1, 2, 3, 3, requires_grad=True)
                 for t in 'ab'}
        fuse = space.fuser()
        gates = torch.stack([g for gs in fuse.gates.values() for g in gs])
        assert torch.isfinite(gates).all()
        assert ((gates < 1e-6) | (gates > 1 - 1e-6)).all()  # binary
        x = feats
        for i in range(3):
            x = fuse(i, x)
        loss = sum(v.sum() for v in x.values())
        loss.backward()
        assert torch.isfinite(loss)
        grads = [p.grad for p in space.parameters() if p.grad is not None]
        grads += [f.grad for f in feats.values()]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        space.zero_grad()
    with pytest.raises(ValueError, match='>= 0'):
        space.set_temperature(-1e-3)


def test_official_input_scaling_and_unpadded_321_crops():
    from mmseg.structures import SegDataSample

    from mtlnas_mm.models import MultiTaskDataPreProcessor
    mean = [122.67891434, 116.66876762, 104.00698793]
    pre = MultiTaskDataPreProcessor(mean=mean, std=[1., 1., 1.],
                                    bgr_to_rgb=True, size_divisor=None)
    bgr = torch.randint(0, 256, (3, 321, 321), dtype=torch.uint8)
    out = pre(dict(inputs=[bgr], data_samples=[SegDataSample()]),
              training=True)
    assert out['inputs'].shape == (1, 3, 321, 321)  # not padded to 328
    expected = bgr.flip(0).float() - torch.tensor(mean).view(3, 1, 1)
    torch.testing.assert_close(out['inputs'][0], expected, rtol=0, atol=0)
    padded = MultiTaskDataPreProcessor(mean=mean, std=[1., 1., 1.],
                                       bgr_to_rgb=True, size_divisor=8)
    assert padded(dict(inputs=[bgr], data_samples=[SegDataSample()]),
                  training=True)['inputs'].shape[-1] == 328


# ------------------------------------------------------ official configs
def poly_lrs(schedulers, steps):
    """The lr of each of ``steps`` iterations under mmengine's
    schedulers built from ``schedulers`` (base lr 1e-3)."""
    from mmengine.optim.scheduler import PolyLR
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    cfg = dict(schedulers[0])
    assert cfg.pop('type') == 'PolyLR'
    sched = PolyLR(opt, **cfg)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]['lr'])
        sched.step()
    return lrs


def test_official_configs_switch_every_option_on(mmseg_scope):
    import os.path as osp

    from mmengine.config import Config

    from mmseg.registry import HOOKS, MODELS, TRANSFORMS
    from runner_utils import ROOT
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/mtlnas/mtlnas_vgg16_nyuv2_official.py'))
    model = MODELS.build(cfg.model)
    net = model.network
    col = net.backbone.columns['seg']
    assert not any(n.endswith('conv.bias') for n, _ in col.named_parameters())
    assert col.pool_padding == 'bottom_right'
    assert col.pool_position == 'block_start'  # the search space: official
    assert net.data_preprocessor.size_divisor is None
    assert net.data_preprocessor.std.flatten().tolist() == [1.0, 1.0, 1.0]
    heads = net.heads
    assert heads['normal'].loss_module.space == 'raw'
    assert heads['normal'].loss_module.loss_weight == 20.0
    for head in (heads['seg'], heads['normal'].decoder):
        assert head.conv_init_cfg['type'] == 'Kaiming'
        assert head.conv_init_cfg['a'] == 1
    pipeline = [TRANSFORMS.build(t) for t in
                cfg.train_dataloader.dataset.pipeline]
    names = [type(t).__name__ for t in pipeline]
    assert 'TorchvisionColorJitter' in names
    assert 'PhotoMetricDistortion' not in names
    jitter = pipeline[names.index('TorchvisionColorJitter')].jitter
    assert jitter.brightness is None and jitter.contrast is None
    assert jitter.hue == (-0.05, 0.05) and jitter.saturation == (0.95, 1.05)
    resize = pipeline[names.index('RandomResize')].resize
    assert resize.normal_interpolation == 'nearest'
    flip = pipeline[names.index('NormalAwareRandomFlip')]
    assert flip.negate_components is False
    assert not pipeline[names.index('LoadNormalMap')].renormalize
    normal_metric = cfg.val_evaluator.metrics[1]
    assert normal_metric.spaces == ('raw', ) and \
        normal_metric.pred_space == 'raw'
    hook = HOOKS.build(cfg.custom_hooks[0])
    assert hook.min_temperature == 0.0
    assert cfg.train_cfg.max_iters == 20001
    assert cfg.train_cfg.split_rounding == 'floor'  # 397 / 398 images
    # the official poly decay lr * (1 - t/20001)^0.9, t = 0..20000
    lrs = poly_lrs(cfg.param_scheduler['weight'], 20001)
    for t in (0, 1, 13800, 20000):
        assert lrs[t] == pytest.approx(1e-3 * (1 - t / 20001)**0.9,
                                       rel=1e-9), t
    # the official head init reaches the heads inside the network:
    # kaiming_normal_(a=1) of fc8 (1024 inputs), std 1/32, not mmseg's 0.01
    model.init_weights()
    for head in (heads['seg'], heads['normal'].decoder):
        std = head.conv_seg.weight.std().item()
        assert std == pytest.approx(1 / 32, rel=0.1), std
    assert cfg.train_dataloader.batch_size == 10

    nddr = Config.fromfile(
        osp.join(ROOT, 'configs/baselines/nddr_vgg16_nyuv2_official.py'))
    net = MODELS.build(nddr.model)
    col = net.backbone.columns['normal']
    assert col.pool_position == 'block_end' and not any(
        n.endswith('conv.bias') for n, _ in col.named_parameters())
    assert isinstance(net.heads['seg'].pool5, torch.nn.Identity)
    assert isinstance(net.heads['normal'].decoder.pool5, torch.nn.Identity)
    assert net.backbone.edges.fusion_layers == [1, 3, 6, 9, 12]
    single = Config.fromfile(osp.join(
        ROOT, 'configs/baselines/single-task_vgg16_nyuv2_official.py'))
    assert single.model.backbone.get('edges') is None
    assert single.model.tasks.normal.head.loss.space == 'raw'
    assert single.train_cfg.max_iters == 20001
