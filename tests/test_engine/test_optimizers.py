"""Which parameter gets which learning rate and weight decay in the VGG-16
NYUv2 recipes (a renamed module would silently lose its multiplier), and a
custom key that matches nothing is an error."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

import mtlnas_mm  # noqa: F401
from mmseg.registry import MODELS
from runner_utils import ROOT, TINY_SEARCH

pytestmark = pytest.mark.usefixtures('mmseg_scope')

LR, WD = 1e-3, 2.5e-4


def _build(config):
    cfg = Config.fromfile(osp.join(ROOT, config))
    model = MODELS.build(cfg.model)
    return model, build_optim_wrapper(model, cfg.optim_wrapper)


def _settings(wrapper, model):
    """``{parameter name: (lr, weight decay)}`` of one optim wrapper."""
    names = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            out[names[id(p)]] = (group['lr'], group['weight_decay'])
    return out


def _expected_weight_lr(name):
    if '.edges.fusions.' in name:
        return LR * 100  # fusion ops
    if name.endswith('conv_seg.weight'):
        return LR * 10  # fc8
    if name.endswith('conv_seg.bias'):
        return LR * 20
    return LR


def test_vgg16_search_recipe_lrs():
    model, wrappers = _build('configs/mtlnas/mtlnas_vgg16_nyuv2.py')
    weight = _settings(wrappers['weight'], model)
    arch = _settings(wrappers['arch'], model)
    alphas = {n for n, _ in model.named_parameters() if '.alphas.' in n}
    assert set(arch) == alphas == {
        'network.backbone.edges.alphas.seg',
        'network.backbone.edges.alphas.normal'}
    assert all(v == (1e-3, 1e-3) for v in arch.values())
    assert wrappers['arch'].optimizer.defaults['betas'] == (0.5, 0.999)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(weight) == trainable - alphas
    counts = {}
    for name, (lr, wd) in weight.items():
        assert lr == pytest.approx(_expected_weight_lr(name)), name
        assert wd == pytest.approx(WD), name
        counts[_expected_weight_lr(name)] = counts.get(
            _expected_weight_lr(name), 0) + 1
    # 26 NDDR ops (conv + BN weight + BN bias each), two fc8 per task
    assert counts[LR * 100] == 26 * 3
    assert counts[LR * 10] == counts[LR * 20] == 2


@pytest.mark.parametrize('name', ['nddr', 'cross-stitch', 'supernet',
                                  'single-task', 'multiple'])
def test_vgg16_baseline_recipe_lrs(name):
    model, wrapper = _build(f'configs/baselines/{name}_vgg16_nyuv2.py')
    settings = _settings(wrapper, model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(settings) == trainable
    for pname, (lr, wd) in settings.items():
        assert lr == pytest.approx(_expected_weight_lr(pname)), pname
        assert wd == pytest.approx(WD), pname
    fused = [n for n in settings if '.edges.fusions.' in n]
    assert bool(fused) == (name in ('nddr', 'cross-stitch', 'supernet'))


def test_unmatched_custom_key_is_an_error():
    cfg = Config.fromfile(
        osp.join(ROOT, 'configs/baselines/single-task_vgg-tiny_synthetic.py'))
    model = MODELS.build(cfg.model)
    cfg.optim_wrapper.paramwise_cfg.custom_keys['neck'] = dict(lr_mult=100.)
    with pytest.raises(KeyError, match=r"\['neck'\] match no parameter"):
        build_optim_wrapper(model, cfg.optim_wrapper)


def test_resume_with_another_group_layout_is_a_clear_error():
    """A search checkpoint written before the constructor merged equal
    groups (one group per parameter) cannot be resumed: the error says
    why and what to do (torch's own is "different number of parameter
    groups"); the checkpoint of the current layout loads."""
    model, wrapper = _build(TINY_SEARCH)
    state = wrapper.state_dict()
    wrapper.load_state_dict(state)
    weight = wrapper['weight'].optimizer
    assert len(weight.param_groups) < sum(
        len(g['params']) for g in weight.param_groups)
    per_param = torch.optim.SGD([
        dict({k: v for k, v in g.items() if k != 'params'}, params=[p])
        for g in weight.param_groups for p in g['params']])
    old = dict(state, weight=per_param.state_dict())
    with pytest.raises(ValueError, match=r'optim_wrapper\.weight: .*'
                       r'optimizer layout changed.*load_from=CHECKPOINT'):
        wrapper.load_state_dict(old)
