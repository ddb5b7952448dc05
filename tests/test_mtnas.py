"""The MTNAS algorithm: stage selection, the bilevel step without gradient
leaks, a short search moves the alphas, the branch stage leaves the
backbone untouched."""
import copy
import functools

import pytest
import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

import mtlnas_mm  # noqa: F401
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mtlnas_mm.engine.optimizers import BilevelOptimWrapperConstructor
from mtlnas_mm.structures import CellArchitecture
from test_cell_network import PRETRAINED, network_cfg



def _network(**backbone):
    cfg = network_cfg(**backbone)
    for task in cfg.tasks.values():  # deterministic forwards
        head = task.head.get('decoder', task.head)
        head['dropout_ratio'] = 0.0
    return cfg


@functools.lru_cache(maxsize=1)
def _genotype():
    """A genotype for every space of the tiny network (derived from a
    fresh supernet)."""
    torch.manual_seed(1)
    net = MODELS.build(_network())
    return CellArchitecture.merge([s.derive() for s in net.backbone.spaces()])


def _build(search='branches', genotype='auto', **backbone):
    torch.manual_seed(0)
    if genotype == 'auto':
        genotype = _genotype()
    return MODELS.build(dict(type='MTNAS', network=_network(**backbone),
                             search=search, genotype=genotype))


def _batch(seed, n=2, size=32):
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 255, (3, size, size), generator=g,
                                    dtype=torch.uint8))
        s = SegDataSample(metainfo=dict(
            img_shape=(size, size), ori_shape=(size, size)))
        s.gt_sem_seg = PixelData(
            data=torch.randint(0, 40, (1, size, size), generator=g))
        s.gt_normal_map = PixelData(data=F.normalize(
            torch.randn(3, size, size, generator=g), dim=0))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def _constructor(arch_lr=0.01):
    return BilevelOptimWrapperConstructor(dict(
        weight=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)),
        arch=dict(optimizer=dict(type='Adam', lr=arch_lr,
                                 betas=(0.5, 0.999)))))


def _alphas(model, prefix):
    return {n: p for n, p in model.named_parameters()
            if 'alphas' in n and prefix in n}


@pytest.mark.slow
def test_stages_select_the_searched_spaces():
    model = _build('branches')
    arch_ids = {id(p) for p in model.arch_parameters()}
    assert arch_ids == {id(p) for p in _alphas(model, 'branches').values()}
    assert not model.network.backbone.trunk.space.searchable
    model = _build('backbone')
    assert {id(p) for p in model.arch_parameters()} == \
        {id(p) for p in _alphas(model, 'trunk').values()}
    exported = model.export()
    assert sorted(exported.genotypes) == ['backbone', 'branches.normal',
                                          'branches.seg']
    # the fixed spaces export the genotype they were given
    given = _genotype()
    assert exported.genotypes['branches.seg'] == \
        given.genotypes['branches.seg']
    with pytest.raises(ValueError, match=r"\['backbone'\] are not searched"):
        _build('branches', genotype=None)
    with pytest.raises(ValueError, match='unknown spaces'):
        _build(['branches.depth'])
    with pytest.raises(ValueError, match='genotype would be ignored'):
        _build('all')


@pytest.mark.slow
def test_bilevel_step_has_no_gradient_leak():
    """Each optimizer steps with the gradient of its own loss only (the
    pattern of test_engine_bilevel, on the real cell network)."""
    model = _build('branches')
    ow = _constructor()(model)
    arch_batch, weight_batch = _batch(1), _batch(2)
    alpha = model.network.backbone.branches['seg'].space.alphas['normal']
    weight = model.network.backbone.branches['seg'].laterals[0][0].weight

    def grads(m, batch, param_name):
        m = copy.deepcopy(m)
        m.zero_grad()
        data = m.data_preprocessor(batch, True)
        loss, _ = m.parse_losses(m(**data, mode='loss'))
        loss.backward()
        return dict(m.named_parameters())[param_name].grad.clone()

    alpha_name = 'network.backbone.branches.seg.space.alphas.normal'
    weight_name = 'network.backbone.branches.seg.laterals.0.0.weight'
    expected_alpha = grads(model, arch_batch, alpha_name)
    seen = {}
    arch_step, weight_step = ow['arch'].step, ow['weight'].step

    def spy_arch(*a, **k):
        seen['alpha'] = alpha.grad.clone()
        return arch_step(*a, **k)

    def spy_weight(*a, **k):
        seen['weight'] = weight.grad.clone()
        seen['expected_weight'] = grads(model, weight_batch, weight_name)
        return weight_step(*a, **k)

    ow['arch'].step, ow['weight'].step = spy_arch, spy_weight
    log = model.train_step(dict(arch=arch_batch, weight=weight_batch), ow)
    torch.testing.assert_close(seen['alpha'], expected_alpha)
    torch.testing.assert_close(seen['weight'], seen['expected_weight'])
    assert 'arch.loss' in log and 'loss' in log
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0
               for p in model.parameters())


def test_branch_search_moves_alphas_and_leaves_the_backbone_untouched():
    model = _build('branches', trunk=dict(
        channels=4, num_cells=4, reductions=(1, 2, 3), frozen=True,
        init_cfg=PRETRAINED, norm_cfg=dict(type='BN', affine=False)))
    ow = _constructor(arch_lr=0.05)(model)
    trunk = model.network.backbone.trunk
    before = {k: v.clone() for k, v in trunk.state_dict().items()}
    alphas = {k: v.detach().clone()
              for k, v in _alphas(model, 'branches').items()}
    for it in range(3):
        model.train_step(dict(arch=_batch(10 + it), weight=_batch(20 + it)),
                         ow)
    for k, v in trunk.state_dict().items():  # weights and BN statistics
        torch.testing.assert_close(v, before[k], msg=k)
    for k, v in _alphas(model, 'branches').items():
        assert (v.detach() - alphas[k]).abs().max() > 1e-3, k


@pytest.mark.parametrize('search', ['branches', 'backbone'])
def test_every_trainable_parameter_gets_a_gradient(search):
    """DDP (``find_unused_parameters=False``, the search schedules) waits
    for a gradient of every trainable parameter: a fixed space's unchosen
    ops are not trainable, and keep their names (checkpoints load)."""
    model = _build(search)
    names = set(model.state_dict())
    data = model.data_preprocessor(_batch(3), True)
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    loss.backward()
    missing = [n for n, p in model.named_parameters()
               if p.requires_grad and p.grad is None]
    assert not missing, missing[:5]
    fixed = [s for s in model.network.backbone.spaces() if not s.searchable]
    assert fixed
    frozen = [n for n, p in model.named_parameters()
              if not p.requires_grad and '.alphas.' not in n]
    assert frozen  # the unchosen ops, still in the state dict
    assert set(model.state_dict()) == names
