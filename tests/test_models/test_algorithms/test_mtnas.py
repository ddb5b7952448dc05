"""The MTNAS algorithm: stage selection, the bilevel step without gradient
leaks, a short search moves the alphas, the branch stage leaves the
backbone untouched."""
import copy

import pytest
import torch

import mtlnas_mm  # noqa: F401
from mtlnas_mm.engine.optimizers import BilevelOptimWrapperConstructor
from builders import PRETRAINED, build_mtnas, image_batch, mtnas_genotype


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
    model = build_mtnas('branches')
    arch_ids = {id(p) for p in model.arch_parameters()}
    assert arch_ids == {id(p) for p in _alphas(model, 'branches').values()}
    assert not model.network.backbone.trunk.space.searchable
    model = build_mtnas('backbone')
    assert {id(p) for p in model.arch_parameters()} == \
        {id(p) for p in _alphas(model, 'trunk').values()}
    exported = model.export()
    assert sorted(exported.genotypes) == ['backbone', 'branches.normal',
                                          'branches.seg']
    # the fixed spaces export the genotype they were given
    given = mtnas_genotype()
    assert exported.genotypes['branches.seg'] == \
        given.genotypes['branches.seg']
    with pytest.raises(ValueError, match=r"\['backbone'\] are not searched"):
        build_mtnas('branches', genotype=None)
    with pytest.raises(ValueError, match='unknown spaces'):
        build_mtnas(['branches.depth'])
    with pytest.raises(ValueError, match='genotype would be ignored'):
        build_mtnas('all')


@pytest.mark.slow
def test_bilevel_step_has_no_gradient_leak():
    """Each optimizer steps with the gradient of its own loss only (the
    pattern of test_bilevel_loop, on the real cell network)."""
    model = build_mtnas('branches')
    ow = _constructor()(model)
    arch_batch, weight_batch = image_batch(1), image_batch(2)
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
    model = build_mtnas('branches', trunk=dict(
        channels=4, num_cells=4, reductions=(1, 2, 3), frozen=True,
        init_cfg=PRETRAINED, norm_cfg=dict(type='BN', affine=False)))
    ow = _constructor(arch_lr=0.05)(model)
    trunk = model.network.backbone.trunk
    before = {k: v.clone() for k, v in trunk.state_dict().items()}
    alphas = {k: v.detach().clone()
              for k, v in _alphas(model, 'branches').items()}
    for it in range(3):
        model.train_step(dict(arch=image_batch(10 + it), weight=image_batch(20 + it)),
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
    model = build_mtnas(search)
    names = set(model.state_dict())
    data = model.data_preprocessor(image_batch(3), True)
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
