"""MultiTaskSupernet: 3-task model, baselines, searched -> fixed."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

BACKBONE = dict(type='VGGLargeFOV', base_channels=4)


def seg_head(num_classes=5):
    return dict(type='LargeFOVHead', in_channels=32, channels=8,
                num_classes=num_classes, fc6_dilation=2)


def reg_head(task):
    return dict(type='DenseRegressionHead', task=task,
                decoder=dict(type='LargeFOVHead', in_channels=32, channels=8,
                             fc6_dilation=2, dropout_ratio=0.0),
                loss=dict(type='CosineNormalLoss', loss_weight=20.0)
                if task == 'normal' else None)


TASKS3 = dict(seg=dict(head=seg_head()), normal=dict(head=reg_head('normal')),
              depth=dict(head=reg_head('depth')))
SEARCH_NECK = dict(type='FusionEdgeNeck',
                   fusion=dict(type='nddr', init=(0.9, 0.1)))


def build(tasks=TASKS3, seed=0, **kw):
    torch.manual_seed(seed)
    kw.setdefault('backbone', BACKBONE)
    return MODELS.build(dict(type='MultiTaskSupernet', tasks=tasks, **kw))


def batch(n=2, h=32, w=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n, 3, h, w, generator=g)
    samples = []
    for _ in range(n):
        s = SegDataSample(metainfo=dict(
            img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
            padding_size=[0, 0, 0, 0]))
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, 5, (1, h, w), generator=g))
        s.gt_normal_map = PixelData(
            data=F.normalize(torch.randn(3, h, w, generator=g), dim=0))
        s.gt_depth_map = PixelData(data=torch.rand(1, h, w, generator=g) * 5)
        samples.append(s)
    return inputs, samples


def test_three_task_supernet_loss_predict():
    model = build(neck=SEARCH_NECK)
    assert len(model.neck.edges) == 144
    assert len(model.arch_parameters()) == 3
    inputs, samples = batch()
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'seg.loss_ce', 'seg.acc_seg', 'normal.loss_normal',
                           'depth.loss_depth'}
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total = total + model.entropy_weight * model.entropy()
    total.backward()
    for a in model.arch_parameters():
        assert a.grad is not None and a.grad.abs().sum() > 0
    assert model.neck.fusions['depth']['4'].conv.weight.grad.abs().sum() > 0
    model.eval()
    with torch.no_grad():
        out = model(inputs, copy.deepcopy(samples), mode='predict')
        raw = model(inputs, mode='tensor')
    s = out[0]
    assert s.pred_sem_seg.data.shape == (1, 32, 32)
    assert s.seg_logits.data.shape == (5, 32, 32)
    assert torch.allclose(s.pred_normal_map.data.norm(dim=0),
                          torch.ones(32, 32), atol=1e-5)
    assert bool((s.pred_depth_map.data > 0).all())
    assert raw['normal'].shape == (2, 3, 4, 4)
    # without data samples: mmseg-like default metainfo
    with torch.no_grad():
        plain = model.predict(inputs)
    assert plain[1].pred_depth_map.data.shape == (1, 32, 32)


def test_arch_interface():
    model = build(neck=SEARCH_NECK)
    assert model.entropy().item() == pytest.approx(0.6931, abs=1e-4)
    assert model.gate_probs().shape == (144, )
    model.set_gate_mode('relaxed')
    model.set_temperature(0.3)
    assert model.neck.gate_mode == 'relaxed'
    assert model.neck.temperature == 0.3
    assert len(model.architecture().kept) == 0  # alpha = 0 is not > 0
    single = build()
    assert single.arch_parameters() == [] and single.architecture() is None
    single.set_gate_mode('sigmoid')  # no-op
    assert single.entropy().item() == 0.0
    assert single.gate_probs().numel() == 0


def test_searched_checkpoint_loads_into_fixed_model(tmp_path):
    tasks = dict(seg=dict(head=seg_head()),
                 normal=dict(head=reg_head('normal')))
    search = build(tasks, neck=SEARCH_NECK)
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for a in search.arch_parameters():
            a.copy_(torch.randn(a.shape, generator=g))
    inputs, samples = batch()
    search.train()
    for _ in range(2):  # move BN statistics away from the defaults
        search(inputs, samples, mode='loss')
    path = str(tmp_path / 'arch.json')
    search.architecture().dump(path)
    fixed_neck = dict(SEARCH_NECK, architecture=path)
    fixed = build(tasks, seed=1, neck=fixed_neck)
    assert fixed.arch_parameters() == []
    fixed.load_state_dict(search.state_dict())  # strict, unchanged
    search.eval()
    fixed.eval()
    with torch.no_grad():
        a = search(inputs, mode='tensor')
        b = fixed(inputs, mode='tensor')
    for t in tasks:
        assert torch.equal(a[t], b[t])


BASELINES = {
    'single': dict(),
    'multiple': dict(share_backbone=True),
    'cross_stitch': dict(neck=dict(
        type='FusionEdgeNeck', gate_mode='ones', fusion_layers='block_ends',
        connectivity=dict(same_layer_only=True),
        fusion=dict(type='cross_stitch', init=(0.9, 0.1)))),
    'nddr': dict(neck=dict(
        type='FusionEdgeNeck', gate_mode='ones', fusion_layers='block_ends',
        connectivity=dict(same_layer_only=True),
        fusion=dict(type='nddr', init=(0.9, 0.1)))),
    'supernet': dict(neck=dict(
        type='FusionEdgeNeck', gate_mode='ones',
        fusion=dict(type='nddr', init=(0.9, 0.1)))),
}


@pytest.mark.parametrize('name', list(BASELINES))
def test_baselines_loss_step(name):
    tasks = dict(seg=dict(head=seg_head()),
                 normal=dict(head=reg_head('normal')))
    model = build(tasks, **BASELINES[name])
    assert model.arch_parameters() == []
    inputs, samples = batch(h=24, w=24)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    losses = model(inputs, samples, mode='loss')
    loss, _ = model.parse_losses(losses)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)


def test_staged_resnet_supernet():
    tasks = dict(seg=dict(head=dict(type='FCNHead', in_channels=32,
                                    channels=8, num_convs=1, num_classes=5)),
                 normal=dict(head=dict(
                     type='DenseRegressionHead', task='normal',
                     decoder=dict(type='FCNHead', in_channels=32, channels=8,
                                  num_convs=1))))
    model = build(tasks, backbone=dict(type='StagedResNet', depth=18,
                                       stem_channels=8, base_channels=4),
                  neck=dict(type='FusionEdgeNeck'))
    assert len(model.neck.edges) == 2 * (1 + 2) * 4
    inputs, samples = batch(h=32, w=32)
    losses = model(inputs, samples, mode='loss')
    assert set(losses) >= {'seg.loss_ce', 'normal.loss_normal'}


def test_config_errors():
    with pytest.raises(KeyError, match='tasks.seg.*bakcbone'):
        build(dict(seg=dict(head=seg_head(), bakcbone={})))
    with pytest.raises(ValueError, match='decoder.num_classes'):
        bad = reg_head('normal')
        bad['decoder']['num_classes'] = 4
        build(dict(normal=dict(head=bad)))
    with pytest.raises(ValueError, match='same layers'):
        build(dict(seg=dict(head=seg_head()),
                   normal=dict(head=reg_head('normal'),
                               backbone=dict(depth=13))),
              neck=SEARCH_NECK)
    with pytest.raises(ValueError, match='share_backbone'):
        build(share_backbone=True, neck=SEARCH_NECK)
    with pytest.raises(ValueError, match='test_cfg.mode'):
        build(test_cfg=dict(mode='slide'))


def test_two_seg_tasks_field_names():
    tasks = dict(a=dict(head=seg_head()), b=dict(head=seg_head(3)))
    model = build(tasks).eval()
    assert model.pred_fields == dict(a=('seg_logits', 'pred_sem_seg'),
                                     b=('seg_logits_b', 'pred_sem_seg_b'))
    inputs, samples = batch()
    with torch.no_grad():
        out = model.predict(inputs, samples)
    assert out[0].get('seg_logits_b').data.shape == (3, 32, 32)
