"""MultiTaskNetwork and MTLNAS: 3-task model, baselines, searched -> fixed,
the one prediction writer."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

import mtlnas_mm  # noqa: F401
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
SEARCH_EDGES = dict(type='FusionEdges',
                    fusion=dict(type='nddr', init=(0.9, 0.1)))


def columns(edges=None, backbone=BACKBONE, **kw):
    return dict(type='TaskColumns', backbone=backbone, edges=edges, **kw)


def build(tasks=TASKS3, seed=0, **kw):
    """A MultiTaskNetwork (default: independent columns)."""
    torch.manual_seed(seed)
    kw.setdefault('backbone', columns())
    return MODELS.build(dict(type='MultiTaskNetwork', tasks=tasks, **kw))


def build_search(tasks=TASKS3, seed=0, edges=SEARCH_EDGES, **kw):
    """MTLNAS over a network whose columns carry ``edges``."""
    torch.manual_seed(seed)
    network = dict(type='MultiTaskNetwork', tasks=tasks,
                   backbone=columns(edges))
    return MODELS.build(dict(type='MTLNAS', network=network, **kw))


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


def test_three_task_search_loss_predict():
    model = build_search()
    assert len(model.search_space.edges) == 144
    assert len(model.arch_parameters()) == 3
    inputs, samples = batch()
    losses = model(inputs, samples, mode='loss')
    assert set(losses) == {'seg.loss_ce', 'seg.acc_seg', 'normal.loss_normal',
                           'depth.loss_depth'}
    model.set_regularizer_weight(10.0)
    losses.update(model.arch_losses())
    assert set(model.arch_losses()) == {'entropy', 'loss_entropy'}
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    for a in model.arch_parameters():
        assert a.grad is not None and a.grad.abs().sum() > 0
    fusion = model.search_space.fusions['depth']['4']
    assert fusion.conv.weight.grad.abs().sum() > 0
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


def test_algorithm_interface():
    model = build_search()
    assert model.regularizer().item() == pytest.approx(0.6931, abs=1e-4)
    assert model.arch_losses().keys() == {'entropy'}  # weight 0: log only
    assert model.search_space.gate_probs().shape == (144, )
    model.set_step('weight')
    model.set_temperature(0.3)
    assert model.search_space.gate_mode == 'relaxed'
    assert model.search_space.temperature == 0.3
    model.set_step('arch')
    assert model.search_space.gate_mode == 'sigmoid'
    assert len(model.export().kept) == 0  # alpha = 0 is not > 0
    with pytest.raises(ValueError, match='>= 0'):
        model.set_regularizer_weight(-1.0)
    # the plain network has no search API at all
    single = build()
    for name in ('arch_parameters', 'set_step', 'export', 'regularizer'):
        assert not hasattr(single, name)
    # an algorithm needs something to search
    with pytest.raises(ValueError, match='no search space'):
        MODELS.build(dict(type='MTLNAS', network=dict(
            type='MultiTaskNetwork', tasks=TASKS3, backbone=columns())))


def test_searched_checkpoint_loads_into_fixed_model(tmp_path):
    tasks = dict(seg=dict(head=seg_head()),
                 normal=dict(head=reg_head('normal')))
    search = build_search(tasks)
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for a in search.arch_parameters():
            a.copy_(torch.randn(a.shape, generator=g))
    inputs, samples = batch()
    search.train()
    for _ in range(2):  # move BN statistics away from the defaults
        search(inputs, samples, mode='loss')
    path = str(tmp_path / 'arch.json')
    search.export().dump(path)
    # the algorithm with fix_subnet, and the plain network with a fixed
    # space: both load the search checkpoint unchanged (strict)
    fixed = build_search(tasks, seed=1, fix_subnet=path)
    assert fixed.arch_parameters() == []
    fixed.load_state_dict(search.state_dict())
    plain = build(tasks, seed=2, backbone=columns(
        dict(SEARCH_EDGES, architecture=path)))
    plain.load_state_dict(search.network.state_dict())
    search.eval()
    fixed.eval()
    plain.eval()
    with torch.no_grad():
        a = search(inputs, mode='tensor')
        b = fixed(inputs, mode='tensor')
        c = plain(inputs, mode='tensor')
    for t in tasks:
        assert torch.equal(a[t], b[t]) and torch.equal(a[t], c[t])


BASELINES = {
    'single': dict(),
    'multiple': dict(backbone=BACKBONE),
    'cross_stitch': dict(backbone=columns(dict(
        type='FusionEdges', gate_mode='ones', fusion_layers='block_ends',
        connectivity=dict(same_layer_only=True),
        fusion=dict(type='cross_stitch', init=(0.9, 0.1))))),
    'nddr': dict(backbone=columns(dict(
        type='FusionEdges', gate_mode='ones', fusion_layers='block_ends',
        connectivity=dict(same_layer_only=True),
        fusion=dict(type='nddr', init=(0.9, 0.1))))),
    'supernet': dict(backbone=columns(dict(
        type='FusionEdges', gate_mode='ones',
        fusion=dict(type='nddr', init=(0.9, 0.1))))),
}


@pytest.mark.parametrize('name', list(BASELINES))
def test_baselines_loss_step(name):
    tasks = dict(seg=dict(head=seg_head()),
                 normal=dict(head=reg_head('normal')))
    model = build(tasks, **BASELINES[name])
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
    resnet = dict(type='StagedResNet', depth=18, stem_channels=8,
                  base_channels=4)
    torch.manual_seed(0)
    model = MODELS.build(dict(type='MTLNAS', network=dict(
        type='MultiTaskNetwork', tasks=tasks,
        backbone=columns(dict(type='FusionEdges'), backbone=resnet))))
    assert len(model.search_space.edges) == 2 * (1 + 2) * 4
    inputs, samples = batch(h=32, w=32)
    losses = model(inputs, samples, mode='loss')
    assert set(losses) >= {'seg.loss_ce', 'normal.loss_normal'}


def test_config_errors():
    with pytest.raises(KeyError, match='tasks.seg.*bakcbone'):
        build(dict(seg=dict(head=seg_head(), bakcbone={})))
    with pytest.raises(ValueError, match='backbone.tasks'):
        build(backbone=columns(tasks=['seg']))
    with pytest.raises(ValueError, match='decoder.num_classes'):
        bad = reg_head('normal')
        bad['decoder']['num_classes'] = 4
        build(dict(normal=dict(head=bad)))
    with pytest.raises(ValueError, match='same layers'):
        build(dict(seg=dict(head=seg_head()),
                   normal=dict(head=reg_head('normal'))),
              backbone=columns(SEARCH_EDGES,
                               overrides=dict(normal=dict(depth=13))))
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


def test_one_prediction_writer_for_every_kind():
    """Flip + padding undone for every dense kind (normals: x negated),
    image-level scores written by the same method."""
    tasks = dict(seg=dict(head=seg_head()), normal=dict(head=reg_head(
        'normal')), depth=dict(head=reg_head('depth')),
        scene=dict(head=dict(type='ImageClassificationHead', in_channels=32,
                             num_classes=3)))
    model = build(tasks).eval()
    assert model.task_kinds == dict(seg='seg', normal='normal',
                                    depth='depth', scene='label')
    h, w = 8, 12
    preds = dict(
        seg=torch.randn(1, 5, h + 2, w),
        normal=F.normalize(torch.randn(1, 3, h + 2, w), dim=1),
        depth=torch.rand(1, 1, h + 2, w) + 0.1,
        scene=torch.tensor([[0.2, 0.5, 0.3]]))
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h + 2, w),
                padding_size=[0, 0, 0, 2], flip=True,
                flip_direction='horizontal')
    (s, ) = model.postprocess_result(preds, [SegDataSample(metainfo=meta)])
    seg = preds['seg'][0, :, :h].flip(-1)
    assert torch.equal(s.seg_logits.data, seg)
    assert torch.equal(s.pred_sem_seg.data, seg.argmax(0, keepdim=True))
    normal = preds['normal'][0, :, :h].flip(-1)
    assert torch.allclose(s.pred_normal_map.data[0], -normal[0])
    assert torch.allclose(s.pred_normal_map.data[1:], normal[1:])
    assert torch.equal(s.pred_depth_map.data,
                       preds['depth'][0, :, :h].flip(-1))
    assert torch.equal(s.pred_score, preds['scene'][0])
    assert s.pred_label.tolist() == [1]


def test_pre_redesign_checkpoints_are_refused():
    """mtlnas_mm 0.1 checkpoints (one MultiTaskSupernet: backbones.<task>,
    neck.*) map onto nothing: refused, saying why, for both models."""
    tasks = dict(seg=dict(head=seg_head()),
                 normal=dict(head=reg_head('normal')))
    network, search = build(tasks), build_search(tasks)
    legacy = {'backbones.seg.features.0.conv.weight': torch.zeros(1),
              'neck.gates.alphas.seg': torch.zeros(1)}
    for model in (network, search):
        with pytest.raises(RuntimeError, match='predates the network'):
            model.load_state_dict(legacy, strict=False)
    # new checkpoints load as before
    network.load_state_dict(build(tasks, seed=3).state_dict())


def test_both_models_fill_in_and_check_a_per_task_backbones_tasks():
    """MultiTaskNetwork and MultiTaskRegressor share one rule
    (``fill_backbone_tasks``): a ``takes_tasks`` backbone gets the task
    names, a disagreeing ``tasks`` is refused."""
    routes = dict(type='ShareRoutes', num_subnets=2,
                  backbone=dict(type='StagedMLP', in_channels=4,
                                channels=(8, 8)))
    reg = MODELS.build(dict(type='MultiTaskRegressor', tasks=['a', 'b'],
                            in_channels=8, backbone=routes))
    assert list(reg.backbone.tasks) == ['a', 'b']
    with pytest.raises(ValueError, match=r'MultiTaskRegressor\.backbone'
                       r'\.tasks .* disagrees'):
        MODELS.build(dict(type='MultiTaskRegressor', tasks=['a', 'b'],
                          in_channels=8, backbone=dict(routes,
                                                       tasks=['b', 'a'])))
    with pytest.raises(ValueError, match=r'MultiTaskNetwork\.backbone'
                       r'\.tasks .* disagrees'):
        build(backbone=columns(tasks=['normal', 'seg', 'depth']))
